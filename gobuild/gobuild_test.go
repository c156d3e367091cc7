package gobuild_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/internal/outdir"
	"github.com/slimage/slimage/internal/testkit"
)

func noEnv(string) (string, bool) { return "", false }

// resolve loads the configuration for the module in dir, as the targets do,
// with settings given in Go instead of SLIMAGE_* variables.
func resolve(t *testing.T, dir string, set func(*config.Config)) *config.Config {
	t.Helper()
	defaults := []func(*config.Config){func(c *config.Config) {
		c.Dir = dir
		c.Dist = filepath.Join(dir, "dist")
		c.Version = "v0.0.0-test"
	}}
	var overrides []func(*config.Config)
	if set != nil {
		overrides = append(overrides, set)
	}
	c, err := config.Load(context.Background(), defaults, overrides, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sample(t *testing.T) string {
	testkit.HermeticGo(t)
	return testkit.CopySample(t, "hello")
}

func TestDeps(t *testing.T) {
	dir := sample(t)
	testkit.PrivateModCache(t)
	before, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
	var out bytes.Buffer
	if err := gobuild.Deps(context.Background(), resolve(t, dir, nil), &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "deps example.com/hello: 1 module downloaded and verified\n" {
		t.Errorf("deps said %q", got)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
	if !bytes.Equal(before, after) {
		t.Error("deps rewrote go.sum")
	}
}

func TestDepsFailures(t *testing.T) {
	const uuidSum = "github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=\n"
	editSum := func(t *testing.T, dir, old, new string) {
		p := filepath.Join(dir, "go.sum")
		data, _ := os.ReadFile(p)
		if !bytes.Contains(data, []byte(old)) {
			t.Fatalf("go.sum lacks %q", old)
		}
		os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644)
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"no go.sum", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "go.sum")) },
			[]string{"deps example.com/hello:", "go.sum is missing", "go mod tidy"}},
		{"missing go.sum entry", func(t *testing.T, dir string) { editSum(t, dir, uuidSum, "") },
			[]string{"deps example.com/hello:", "go.sum lacks github.com/google/uuid@v1.6.0", "go mod tidy"}},
		{"checksum mismatch", func(t *testing.T, dir string) {
			editSum(t, dir, "h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=", "h1:AAAAJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=")
		}, []string{"deps example.com/hello:", "checksum mismatch for github.com/google/uuid@v1.6.0"}},
		{"no network, empty cache", func(t *testing.T, dir string) { t.Setenv("GOPROXY", "http://127.0.0.1:1") },
			[]string{"deps example.com/hello:", "download github.com/google/uuid@v1.6.0", "connection refused", "GOPROXY"}},
		{"module cache edited after download", func(t *testing.T, dir string) {
			if err := gobuild.Deps(context.Background(), resolve(t, dir, nil), &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(os.Getenv("GOMODCACHE"), "github.com", "google", "uuid@v1.6.0", "uuid.go")
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(f, append(data, "\n// tampered\n"...), 0o644)
		}, []string{"deps example.com/hello:", "github.com/google/uuid@v1.6.0 in the module cache", "modified after download", "go clean -modcache"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := sample(t)
			testkit.PrivateModCache(t)
			tt.setup(t, dir)
			sumBefore, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
			modBefore, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
			err := gobuild.Deps(context.Background(), resolve(t, dir, nil), &bytes.Buffer{})
			testkit.ErrorMentions(t, err, tt.want...)
			sumAfter, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
			modAfter, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
			if !bytes.Equal(sumBefore, sumAfter) || !bytes.Equal(modBefore, modAfter) {
				t.Error("deps changed go.mod or go.sum")
			}
		})
	}
}

func TestVendoredModule(t *testing.T) {
	dir := sample(t)
	testkit.Go(t, dir, "mod", "vendor")
	t.Setenv("GOPROXY", "off") // a vendored build must not download anything
	testkit.PrivateModCache(t)
	c := resolve(t, dir, nil)
	var out bytes.Buffer
	if err := gobuild.Deps(context.Background(), c, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "vendor/ found, building with -mod=vendor") {
		t.Errorf("deps did not say it uses vendor/: %q", out.String())
	}
	if _, err := gobuild.Build(context.Background(), c, &out); err != nil {
		t.Fatal(err)
	}
}

func TestBuildCrossCompiles(t *testing.T) {
	dir := sample(t)
	c := resolve(t, dir, func(c *config.Config) {
		c.Platforms = []config.Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}}
	})
	var out bytes.Buffer
	arts, err := gobuild.Build(context.Background(), c, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 2 {
		t.Fatalf("got %d artifacts", len(arts))
	}
	for _, a := range arts {
		want := filepath.Join(dir, "dist", a.Platform.DistDir(), "hello")
		if a.Path != want {
			t.Errorf("%s: path %s, want %s", a.Platform, a.Path, want)
		}
		if err := gobuild.CheckBinary(a.Path, a.Platform); err != nil {
			t.Errorf("%s: %v", a.Platform, err)
		}
		data, _ := os.ReadFile(a.Path)
		if !bytes.Contains(data, []byte("v0.0.0-test")) {
			t.Errorf("%s: version stamp missing", a.Platform)
		}
		if !strings.Contains(out.String(), "build "+a.Platform.String()) {
			t.Errorf("no line for %s in %q", a.Platform, out.String())
		}
	}
}

// Two checkouts of the same source at different paths give the same bytes:
// -trimpath removes the paths, and nothing else in the build depends on them.
func TestBuildIsReproducible(t *testing.T) {
	var bins [][]byte
	for range 2 {
		dir := sample(t)
		arts, err := gobuild.Build(context.Background(), resolve(t, dir, nil), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(arts[0].Path)
		bins = append(bins, data)
	}
	if !bytes.Equal(bins[0], bins[1]) {
		t.Error("binaries from two checkout paths differ")
	}
}

func TestBuildNamesThePackageThatNeedsCgo(t *testing.T) {
	dir := t.TempDir()
	testkit.WriteFiles(t, dir, map[string]string{
		"go.mod":           "module example.com/cgoapp\n\ngo 1.22\n",
		"main.go":          "package main\n\nimport \"example.com/cgoapp/native\"\n\nfunc main() { native.Hello() }\n",
		"native/native.go": "package native\n\n// #include <stdio.h>\nimport \"C\"\n\nfunc Hello() { C.puts(C.CString(\"hi\")) }\n",
	})
	c := resolve(t, dir, nil)
	_, err := gobuild.Build(context.Background(), c, &bytes.Buffer{})
	if err == nil {
		t.Fatal("no error")
	}
	want := "build " + c.Platforms[0].String() + ": package example.com/cgoapp/native needs cgo (imports C)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}
	assertNoLeftovers(t, c)
	if _, err := os.Stat(gobuild.OutputPath(c, c.Platforms[0])); err == nil {
		t.Error("a failed build left a binary")
	}
}

// A failed rebuild leaves the previous good binary untouched.
func TestFailedBuildKeepsPreviousBinary(t *testing.T) {
	dir := sample(t)
	c := resolve(t, dir, nil)
	arts, err := gobuild.Build(context.Background(), c, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(arts[0].Path)
	testkit.WriteFiles(t, dir, map[string]string{"broken.go": "package main\n\nfunc broken() { undefinedName() }\n"})
	_, err = gobuild.Build(context.Background(), c, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "broken.go") || !strings.Contains(err.Error(), "undefined: undefinedName") {
		t.Fatalf("error %v, want it to name broken.go and the undefined name", err)
	}
	now, _ := os.ReadFile(arts[0].Path)
	if !bytes.Equal(good, now) {
		t.Error("the failed build changed the previous binary")
	}
	assertNoLeftovers(t, c)
}

func assertNoLeftovers(t *testing.T, c *config.Config) {
	t.Helper()
	var leftovers []string
	all, _ := filepath.Glob(filepath.Join(c.Dist, "*", ".*"))
	for _, p := range all {
		if filepath.Base(p) != outdir.Marker {
			leftovers = append(leftovers, p)
		}
	}
	if len(leftovers) > 0 {
		t.Errorf("temp files left behind: %v", leftovers)
	}
}

func TestCheckBinary(t *testing.T) {
	t.Setenv("GOTOOLCHAIN", "local")
	dir := t.TempDir()
	testkit.WriteFiles(t, dir, map[string]string{
		"go.mod":        "module example.com/bin\n\ngo 1.22\n",
		"plain/main.go": "package main\n\nfunc main() { println(\"hi\") }\n",
		"cgo/main.go":   "package main\n\n// #include <stdio.h>\nimport \"C\"\n\nfunc main() { C.puts(C.CString(\"hi\")) }\n",
	})
	build := func(name, pkg string, env []string, flags ...string) string {
		out := filepath.Join(dir, "out", name)
		args := append(append([]string{"build", "-trimpath"}, flags...), "-o", out, pkg)
		testkit.GoEnv(t, dir, env, args...)
		return out
	}
	linuxAmd64 := config.Platform{OS: "linux", Arch: "amd64"}
	tests := []struct {
		name     string
		path     string
		platform config.Platform
		want     string // "" means the check passes
	}{
		{"static and stripped", build("ok", "./plain", []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}, "-ldflags=-s -w"), linuxAmd64, ""},
		{"wrong architecture", build("arm64", "./plain", []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}, "-ldflags=-s -w"), linuxAmd64, "is built for EM_AARCH64, not linux/amd64"},
		{"not stripped", build("symbols", "./plain", []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}), linuxAmd64, "not stripped"},
		{"dynamically linked", build("dynamic", "./cgo", []string{"CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64"}, "-ldflags=-s -w"), linuxAmd64, "dynamically linked"},
		{"windows PE", build("app.exe", "./plain", []string{"CGO_ENABLED=0", "GOOS=windows", "GOARCH=amd64"}, "-ldflags=-s -w"), config.Platform{OS: "windows", Arch: "amd64"}, ""},
		{"windows PE for the wrong arch", filepath.Join(dir, "out", "app.exe"), config.Platform{OS: "windows", Arch: "arm64"}, "not windows/arm64"},
		{"macOS Mach-O", build("mac", "./plain", []string{"CGO_ENABLED=0", "GOOS=darwin", "GOARCH=arm64"}, "-ldflags=-s -w"), config.Platform{OS: "darwin", Arch: "arm64"}, ""},
		{"not an executable", filepath.Join(dir, "go.mod"), linuxAmd64, "not an ELF executable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := gobuild.CheckBinary(tt.path, tt.platform)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// Deps in fast mode hashes a module folder only when its files changed since
// the last check; every way of changing one is still caught, in both modes.
func TestDepsVerifyModes(t *testing.T) {
	t.Run("fast/go.mod edited", func(t *testing.T) {
		// A changed go.mod may ask for other modules: the go command runs
		// again, and the unchanged module folder is still not re-hashed.
		dir := sample(t)
		testkit.PrivateModCache(t)
		t.Setenv("XDG_CACHE_HOME", t.TempDir())
		c := resolve(t, dir, func(c *config.Config) { c.DepsVerify = "fast" })
		if err := gobuild.Deps(context.Background(), c, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(dir, "go.mod"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("// edited\n")
		f.Close()
		var out bytes.Buffer
		if err := gobuild.Deps(context.Background(), c, &out); err != nil {
			t.Fatal(err)
		}
		if want := "deps example.com/hello: 1 module downloaded and verified (1 unchanged since last verified, not re-hashed)\n"; out.String() != want {
			t.Errorf("deps after a go.mod edit said %q, want %q", out.String(), want)
		}
	})
	uuidFile := func() string {
		return filepath.Join(os.Getenv("GOMODCACHE"), "github.com", "google", "uuid@v1.6.0", "uuid.go")
	}
	tampers := []struct {
		name string
		do   func(t *testing.T)
	}{
		{"edited, mtime put back", func(t *testing.T) {
			f := uuidFile()
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(f)
			// Same size, so only the content and the change time differ.
			copy(data[len(data)-8:], "tampered")
			if err := os.WriteFile(f, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(f, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}},
		{"file removed", func(t *testing.T) {
			if err := os.Remove(uuidFile()); err != nil {
				t.Fatal(err)
			}
		}},
		{"file added", func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(filepath.Dir(uuidFile()), "extra.go"), []byte("package uuid\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, mode := range []string{"fast", "full"} {
		for _, tamper := range tampers {
			t.Run(mode+"/"+tamper.name, func(t *testing.T) {
				dir := sample(t)
				testkit.PrivateModCache(t)
				t.Setenv("XDG_CACHE_HOME", t.TempDir()) // records of this test only
				c := resolve(t, dir, func(c *config.Config) { c.DepsVerify = mode })
				var out bytes.Buffer
				for range 2 {
					out.Reset()
					if err := gobuild.Deps(context.Background(), c, &out); err != nil {
						t.Fatal(err)
					}
				}
				want := "deps example.com/hello: 1 module downloaded and verified\n"
				if mode == "fast" {
					want = "deps example.com/hello: 1 module downloaded and verified (go.mod, go.sum and the module cache unchanged since the last deps)\n"
				}
				if out.String() != want {
					t.Errorf("second deps said %q, want %q", out.String(), want)
				}
				tamper.do(t)
				err := gobuild.Deps(context.Background(), c, &bytes.Buffer{})
				testkit.ErrorMentions(t, err, "github.com/google/uuid@v1.6.0 in the module cache", "modified after download", "go clean -modcache")
			})
		}
	}
}
