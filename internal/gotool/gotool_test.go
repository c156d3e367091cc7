package gotool_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slimage/slimage/internal/gotool"
	"github.com/slimage/slimage/internal/testkit"
)

// What the go command prints is reduced to its cause: the progress lines
// before an error are skipped, and a module that could not be fetched is
// named with the proxy that failed.
func TestCause(t *testing.T) {
	tests := []struct{ name, stderr, want string }{
		{"file proxy lacks the module",
			"go: downloading golang.org/x/mod v0.42.0\ngo: downloading github.com/docker/cli v29.7.2+incompatible\n" +
				"go: golang.org/x/mod@v0.42.0: reading file:///src/slimage/testdata/goproxy/golang.org/x/mod/@v/v0.42.0.zip: no such file or directory\n",
			"download golang.org/x/mod@v0.42.0 from proxy file:///src/slimage/testdata/goproxy: no such file or directory"},
		{"an import's position first, two modules",
			"go: downloading github.com/google/uuid v1.6.0\n" +
				"main.go:6:2: github.com/google/uuid@v1.6.0: reading http://127.0.0.1:8999/github.com/google/uuid/@v/v1.6.0.zip: 404 Not Found\n" +
				"main.go:7:2: golang.org/x/text@v0.21.0: reading http://127.0.0.1:8999/golang.org/x/text/@v/v0.21.0.zip: 404 Not Found\n",
			"download github.com/google/uuid@v1.6.0 from proxy http://127.0.0.1:8999: 404 Not Found (+1 more line)"},
		{"an unreachable proxy",
			"main.go:6:2: github.com/google/uuid@v1.6.0: Get \"http://127.0.0.1:1/github.com/google/uuid/@v/v1.6.0.zip\": dial tcp 127.0.0.1:1: connect: connection refused\n",
			"download github.com/google/uuid@v1.6.0 from proxy http://127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused"},
		{"an upper-case module path is escaped in the URL",
			"go: github.com/BurntSushi/toml@v1.6.0: reading https://proxy.example/github.com/!burnt!sushi/toml/@v/v1.6.0.mod: 410 Gone\n",
			"download github.com/BurntSushi/toml@v1.6.0 from proxy https://proxy.example: 410 Gone"},
		{"a compile error after downloads",
			"go: downloading github.com/google/uuid v1.6.0\n# example.com/m\n./main.go:10:39: undefined: undefinedThing\n",
			"./main.go:10:39: undefined: undefinedThing"},
		{"a toolchain that cannot be fetched",
			"go: downloading go1.99.0 (linux/amd64)\ngo: download go1.99.0 for linux/amd64: toolchain not available\n",
			"download go1.99.0 for linux/amd64: toolchain not available"},
		{"a deprecation notice is not the cause",
			"go: module github.com/old/thing is deprecated: use github.com/new/thing\ngo: example.com/m: no matching versions for query \"latest\"\n",
			"example.com/m: no matching versions for query \"latest\""},
		{"an error about a module is",
			"go: module example.com/x@latest found (v1.0.0), but does not contain package example.com/x/y\n",
			"module example.com/x@latest found (v1.0.0), but does not contain package example.com/x/y"},
		{"nothing", "go: downloading example.com/x v1.0.0\n", "no output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gotool.Cause(tt.stderr); got != tt.want {
				t.Errorf("Cause = %q\nwant    %q", got, tt.want)
			}
		})
	}
}

// The same, from the real go command: each failure comes after progress
// lines, and the error names its cause.
func TestRealFailuresNameTheirCause(t *testing.T) {
	testkit.HermeticGo(t)
	testkit.PrivateModCache(t)
	empty := t.TempDir() // a file:// proxy that serves nothing
	tests := []struct {
		name  string
		gomod string
		main  string
		env   []string
		want  []string
	}{
		{"a download the proxy cannot serve",
			"module example.com/m\n\ngo 1.24\n\nrequire github.com/google/uuid v1.6.0\n",
			"package main\n\nimport _ \"github.com/google/uuid\"\n\nfunc main() {}\n",
			[]string{"GOPROXY=file://" + filepath.ToSlash(empty)},
			[]string{"download github.com/google/uuid@v1.6.0 from proxy file://" + filepath.ToSlash(empty) + ": ", "no such file or directory"}},
		{"a compile error after a download",
			"module example.com/m\n\ngo 1.24\n\nrequire github.com/google/uuid v1.6.0\n",
			"package main\n\nimport \"github.com/google/uuid\"\n\nfunc main() { _ = uuid.New(); undefinedThing() }\n",
			nil,
			[]string{"main.go:5:", "undefined: undefinedThing"}},
		{"a toolchain that cannot be fetched",
			"module example.com/m\n\ngo 1.99.0\n",
			"package main\n\nfunc main() {}\n",
			[]string{"GOTOOLCHAIN=auto", "GOPROXY=file://" + filepath.ToSlash(empty)},
			[]string{"download go1.99.0 for ", "toolchain not available"}},
	}
	sum, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "testdata", "hello", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			testkit.WriteFiles(t, dir, map[string]string{"go.mod": tt.gomod, "go.sum": string(sum), "main.go": tt.main})
			res, err := gotool.Run(context.Background(), gotool.Cmd{Dir: dir, Env: tt.env, Args: []string{"build", "-o", os.DevNull, "."}})
			var exit *gotool.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("go build: %v, want it to fail", err)
			}
			if !strings.Contains(res.Stderr, "go: downloading ") {
				t.Fatalf("no progress line came before the error, so this does not test skipping them:\n%s", res.Stderr)
			}
			testkit.ErrorMentions(t, err, tt.want...)
			if strings.Contains(err.Error(), "go: downloading") {
				t.Errorf("the error shows a progress line: %v", err)
			}
		})
	}
}
