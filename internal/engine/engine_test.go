package engine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/slimage/slimage/internal/contract"
	"github.com/slimage/slimage/internal/gotool"
)

// An engine that needs a newer Go than the local one, with GOTOOLCHAIN
// forbidding a download, fails naming the version to install.
func TestEngineNeedsNewerGo(t *testing.T) {
	src := Source{Path: FrontPath, Version: "v0.99.0"}
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"said by the go command", buildError(src, gotool.Env{}, &gotool.ExitError{Args: []string{"get"},
			Stderr: "go: github.com/slimage/slimage/images@v0.99.0 requires go >= 1.26.0 (running go 1.24.3; GOTOOLCHAIN=local)\n"}),
			[]string{"github.com/slimage/slimage/images v0.99.0", "needs go1.26.0", "go1.24.3", "GOTOOLCHAIN=local", "GOTOOLCHAIN=auto"}},
		{"seen before building", needGo("go1.26.0", "/src/slimage/images", gotool.Env{GOVERSION: "go1.25.1", GOTOOLCHAIN: "local"}),
			[]string{"/src/slimage/images", "needs go1.26.0", "go1.25.1", "install go1.26.0"}},
		{"no network", buildError(src, gotool.Env{}, &gotool.ExitError{Args: []string{"get"}, Stderr: "go: module lookup disabled by GOPROXY=off\n"}),
			[]string{"build the slimage engine github.com/slimage/slimage/images v0.99.0", "GOPROXY=off", "mage deps"}},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(tt.err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tt.name, tt.err, w)
			}
		}
	}
	for _, tc := range []string{"auto", "go1.26.0+auto", "path"} {
		if err := needGo("go1.26.0", "x", gotool.Env{GOVERSION: "go1.24.3", GOTOOLCHAIN: tc}); err != nil {
			t.Errorf("GOTOOLCHAIN=%s may fetch Go, but: %v", tc, err)
		}
	}
	if err := needGo("go1.26.0", "x", gotool.Env{GOVERSION: "go1.26.8", GOTOOLCHAIN: "local"}); err != nil {
		t.Errorf("a newer local Go: %v", err)
	}
}

// The engine's stderr reaches the user, except the line with its cause.
func TestErrorLineKeepsTheCause(t *testing.T) {
	var out bytes.Buffer
	w := &errorLine{dst: &out}
	for _, chunk := range []string{"building\nstep 1", " done\n" + contract.EngineErrorPrefix + "verify x: 1 of 7 checks", " failed\ntrailing"} {
		w.Write([]byte(chunk))
	}
	w.flush()
	if got, want := out.String(), "building\nstep 1 done\ntrailing\n"; got != want {
		t.Errorf("passed on %q, want %q", got, want)
	}
	if w.cause != "verify x: 1 of 7 checks failed" {
		t.Errorf("cause %q", w.cause)
	}
}

// A failed engine build says why in the go command's words, past its
// progress lines, with the fix for that cause.
func TestBuildErrorNamesTheCause(t *testing.T) {
	local := Source{Dir: "/src/slimage", Path: FrontPath, Version: "(local)"}
	release := Source{Path: FrontPath, Version: "v0.99.0"}
	progress := "go: downloading golang.org/x/mod v0.42.0\ngo: downloading github.com/docker/cli v29.7.2+incompatible\n"
	tests := []struct {
		name   string
		src    Source
		stderr string
		want   []string
	}{
		{"a GOPROXY that lacks the engine's modules", local,
			progress + "go: golang.org/x/mod@v0.42.0: reading file:///src/slimage/testdata/goproxy/golang.org/x/mod/@v/v0.42.0.zip: no such file or directory\n",
			[]string{"build the slimage engine from /src/slimage/images: download golang.org/x/mod@v0.42.0 from proxy file:///src/slimage/testdata/goproxy: no such file or directory", "check GOPROXY"}},
		{"no network", release,
			progress + "go: golang.org/x/mod@v0.42.0: Get \"https://proxy.golang.org/golang.org/x/mod/@v/v0.42.0.zip\": dial tcp: lookup proxy.golang.org: no such host\n",
			[]string{"build the slimage engine github.com/slimage/slimage/images v0.99.0: download golang.org/x/mod@v0.42.0 from proxy https://proxy.golang.org:", "no such host", "check the network and GOPROXY", "mage deps"}},
		{"a toolchain it cannot fetch", release,
			"go: downloading go1.27.0 (linux/amd64)\ngo: download go1.27.0 for linux/amd64: toolchain not available\n",
			[]string{"v0.99.0: download go1.27.0 for linux/amd64: toolchain not available", "newer Go", "install it"}},
		{"a compile error in a local folder", local,
			progress + "# github.com/slimage/slimage/images/build\nbuild/oci.go:12:2: undefined: foo\n",
			[]string{"build the slimage engine from /src/slimage/images: build/oci.go:12:2: undefined: foo"}},
		{"a compile error in a release", release,
			progress + "# github.com/slimage/slimage/images/build\nbuild/oci.go:12:2: undefined: foo\n",
			[]string{"v0.99.0: build/oci.go:12:2: undefined: foo", "slimage bug"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := buildError(tt.src, gotool.Env{}, &gotool.ExitError{Args: []string{"build"}, Stderr: tt.stderr})
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "go: downloading") {
				t.Errorf("%q shows a progress line", err)
			}
		})
	}
}
