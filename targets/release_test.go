package targets_test

import (
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/slimage/slimage/internal/testkit"
)

// zipFile is a file of the working tree, for golang.org/x/mod/zip.
type zipFile struct{ path, abs string }

func (f zipFile) Path() string                 { return f.path }
func (f zipFile) Lstat() (fs.FileInfo, error)  { return os.Lstat(f.abs) }
func (f zipFile) Open() (io.ReadCloser, error) { return os.Open(f.abs) }

// publish writes module m, made of the working tree's folder dir (without
// testdata, dist and nested modules), into a file:// GOPROXY folder, as a
// release would put it on a module proxy.
func publish(t *testing.T, proxy, dir string, m module.Version) {
	t.Helper()
	var files []modzip.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			name := d.Name()
			if p != dir && (name == "testdata" || name == "dist" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil && p != dir {
				return filepath.SkipDir // a module of its own
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, zipFile{path: filepath.ToSlash(rel), abs: p})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	esc, _ := module.EscapePath(m.Path)
	at := filepath.Join(proxy, esc, "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	z, err := os.Create(filepath.Join(at, m.Version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := modzip.Create(z, m, files); err != nil {
		t.Fatal(err)
	}
	z.Close()
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	testkit.WriteFiles(t, at, map[string]string{
		m.Version + ".mod":  string(gomod),
		m.Version + ".info": `{"Version":"` + m.Version + `","Time":"2026-11-28T00:00:00Z"}`,
		"list":              m.Version + "\n",
	})
}

// A service that requires a released slimage (here a made-up v0.99.0,
// published from this working tree to a file:// GOPROXY) gets the engine of
// that same release: deps builds it into the user cache, with the front
// pinned to the same version, so the later steps need no network, and a
// second service importing that release finds it built.
func TestEngineOfTheSameRelease(t *testing.T) {
	root := testkit.RepoRoot(t)
	const version = "v0.99.0"
	proxy := filepath.Join(t.TempDir(), "proxy")
	publish(t, proxy, root, module.Version{Path: "github.com/slimage/slimage", Version: version})
	publish(t, proxy, filepath.Join(root, "images"), module.Version{Path: "github.com/slimage/slimage/images", Version: version})
	// Everything else (the service's pins, mage, x/mod, the engine's Docker
	// and testcontainers modules) comes from testdata/goproxy and this
	// machine's module cache, read as a proxy: nothing from the network.
	testkit.ModCacheProxy(t)
	t.Setenv("GOPROXY", "file://"+filepath.ToSlash(proxy)+","+os.Getenv("GOPROXY"))
	// A module cache and a user cache of the test's own: a made-up version
	// must not stay in the real ones.
	testkit.PrivateModCache(t)
	userCache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", userCache)

	service := func() string {
		dir := testkit.CopySample(t, "footprint")
		testkit.Go(t, dir, "mod", "edit", "-require=github.com/slimage/slimage@"+version)
		testkit.Go(t, dir, "mod", "tidy")
		return dir
	}
	dir := service()
	mageIn := func(dir string, env []string, args ...string) *exec.Cmd {
		cmd := exec.Command("go", append([]string{"run", "github.com/magefile/mage"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append([]string{"MAGEFILE_CACHE=" + t.TempDir(), "SLIMAGE_VERSION=v1.0.0"}, env...)...)
		return cmd
	}
	mage := func(env []string, args ...string) *exec.Cmd { return mageIn(dir, env, args...) }
	// The first build says what it does while it does it (a log here: one
	// line per phase and every 10 s, no control characters).
	out := testkit.Run(t, mage(nil, "deps"))
	for _, want := range []string{
		"engine github.com/slimage/slimage/images " + version + ": compiling packages: ",
		"engine github.com/slimage/slimage/images " + version + ": built slimage-engine in "} {
		if !strings.Contains(out, want) {
			t.Errorf("deps output lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\r\033") {
		t.Errorf("control characters in output that is not a terminal:\n%q", out)
	}
	engine := filepath.Join(userCache, "slimage", "engine", "github.com", "slimage", "slimage@"+version, runtime.GOOS+"_"+runtime.GOARCH, "slimage-engine")
	got := testkit.Run(t, exec.Command(engine, "version"))
	for _, want := range []string{"github.com/slimage/slimage/images " + version, "=> github.com/slimage/slimage " + version} {
		if !strings.Contains(got, want) {
			t.Errorf("the engine reports\n%s\nwithout %q", got, want)
		}
	}
	// A second service on the machine that imports the same release runs
	// the engine already built.
	out = testkit.Run(t, mageIn(service(), nil, "deps"))
	if want := "deps engine github.com/slimage/slimage/images " + version + ": ready (cached)"; !strings.Contains(out, want) || strings.Contains(out, "built slimage-engine") {
		t.Errorf("a second service's deps output lacks %q, or built the engine again:\n%s", want, out)
	}

	// After deps, the image steps run without any module download.
	testkit.NeedDocker(t)
	t.Cleanup(func() { exec.Command("docker", "rmi", "footprint:v1.0.0").Run() })
	out = testkit.Run(t, mage([]string{"GOPROXY=off", "GOFLAGS=-mod=mod -modcacherw"}, "verify"))
	if !strings.Contains(out, "verify footprint:v1.0.0") || strings.Contains(out, "FAIL") {
		t.Errorf("mage verify with the released engine:\n%s", out)
	}
}
