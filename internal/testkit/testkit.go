// Package testkit holds what slimage's tests share: the repository's
// location, copies of the sample modules, and a go environment that keeps
// every download on this machine.
package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// RepoRoot is the checkout this package was compiled from.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testkit: cannot find the repository root")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// GoProxy is the file:// GOPROXY that serves the samples' dependencies
// from testdata/goproxy.
func GoProxy(t testing.TB) string {
	return "file://" + filepath.ToSlash(filepath.Join(RepoRoot(t), "testdata", "goproxy"))
}

// HermeticGo points the go command at testdata/goproxy and turns off the
// checksum database, so no test downloads anything from the network; go.sum
// still pins every module. It uses t.Setenv, so such tests are not parallel.
func HermeticGo(t testing.TB) {
	t.Setenv("GOPROXY", GoProxy(t))
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOTOOLCHAIN", "local")
}

// PrivateModCache gives the test an empty module cache of its own, writable
// so that the test's temp dir can be removed.
func PrivateModCache(t testing.TB) string {
	dir := filepath.Join(t.TempDir(), "modcache")
	t.Setenv("GOMODCACHE", dir)
	t.Setenv("GOFLAGS", strings.TrimSpace(os.Getenv("GOFLAGS")+" -modcacherw"))
	return dir
}

// CopySample copies testdata/<name> into a fresh temp dir and returns it.
func CopySample(t testing.TB, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	CopyDir(t, filepath.Join(RepoRoot(t), "testdata", name), dst)
	return dst
}

// CopyDir copies a tree of regular files and folders.
func CopyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// WriteFiles writes name → content pairs under dir.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Go runs the go command in dir and fails the test if it fails.
func Go(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return GoEnv(t, dir, nil, args...)
}

// GoEnv is Go with extra environment variables.
func GoEnv(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// RunLabel is a label unique to this test process: every container verify
// starts for its tests carries it (SLIMAGE_VERIFY_LABELS, set by
// ContainerEnv), and every image the tests build may (sampleConfig), so
// that a test counts and removes only its own, and two suites can share
// one daemon.
const RunLabel = "com.example.slimage-test.run"

// RunID is RunLabel's value for this test process.
var RunID = func() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

// ContainerEnv sets, unless the user did, what testcontainers-go needs on
// this kind of machine, and the run's label; call it from TestMain, before
// testcontainers reads its configuration (it caches it).
//   - TESTCONTAINERS_RYUK_DISABLED: the reaper's image cannot be pulled
//     here; slimage and the tests remove their own containers.
//   - TESTCONTAINERS_HOST_OVERRIDE: inside a container (/.dockerenv)
//     testcontainers would reach published ports through the bridge
//     gateway, a private address; tests keep all traffic on loopback.
//   - SLIMAGE_VERIFY_LABELS: RunLabel=RunID on every container verify
//     starts, in the engines the tests run as well.
func ContainerEnv() {
	labels := RunLabel + "=" + RunID
	if v := os.Getenv("SLIMAGE_VERIFY_LABELS"); v != "" {
		labels = v + "," + labels
	}
	os.Setenv("SLIMAGE_VERIFY_LABELS", labels)
	for k, v := range map[string]string{
		"TESTCONTAINERS_RYUK_DISABLED": "true",
		"TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
	} {
		if _, ok := os.LookupEnv(k); !ok {
			os.Setenv(k, v)
		}
	}
}

// ErrorMentions fails the test unless err is a one-line error that contains
// every one of want: what users rely on is that the message names the culprit.
func ErrorMentions(t testing.TB, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}

// Mage builds the mage binary this module requires and returns its path.
func Mage(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mage")
	Go(t, RepoRoot(t), "build", "-o", bin, "github.com/magefile/mage")
	return bin
}

// Run runs cmd and returns its combined output, failing the test if it fails.
func Run(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// Unavailable skips the test for want of what it needs (a daemon, an
// emulator, a tool), unless CI is set: there a missing dependency is a
// failure, not a reason to pass. fix says how to get it.
func Unavailable(t testing.TB, what, fix string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and %s: %s", what, fix)
	}
	t.Skipf("skipping: %s (%s)", what, fix)
}

// NeedEmulation makes sure linux/arm64 binaries can run here; without
// QEMU's binfmt handler the test is skipped outside CI, and fails under CI.
func NeedEmulation(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err != nil {
		Unavailable(t, "no QEMU binfmt handler for arm64 is registered", "apt-get install qemu-user-static binfmt-support; .ci/run does")
	}
}

// NeedDocker is Unavailable when no Docker daemon answers the docker
// command: for the front's tests, which do not link Docker's client.
func NeedDocker(t testing.TB) {
	t.Helper()
	out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		Unavailable(t, fmt.Sprintf("Docker is unreachable (%v %s)", err, strings.TrimSpace(string(out))), "start the daemon; .ci/run does")
	}
}

var engineModules struct {
	sync.Once
	err error
}

// ModCacheProxy is HermeticGo with this machine's module cache read as a
// further file:// proxy: modules that built the test itself (mage, x/mod,
// the engine's) come from there, the samples' pins from testdata/goproxy,
// and nothing from the network. The engine's modules did not build the
// front's tests, so on a new machine they are fetched first, once, the way
// `go test` fetches its own.
func ModCacheProxy(t testing.TB) {
	t.Helper()
	engineModules.Do(func() {
		cmd := exec.Command("go", "mod", "download")
		cmd.Dir = filepath.Join(RepoRoot(t), "images")
		if out, err := cmd.CombinedOutput(); err != nil {
			engineModules.err = fmt.Errorf("go mod download in %s: %v\n%s", cmd.Dir, err, out)
		}
	})
	if engineModules.err != nil {
		t.Fatal(engineModules.err)
	}
	HermeticGo(t)
	modcache := strings.TrimSpace(Go(t, RepoRoot(t), "env", "GOMODCACHE"))
	t.Setenv("GOPROXY", GoProxy(t)+",file://"+filepath.ToSlash(filepath.Join(modcache, "cache", "download")))
}

// ImportTargets does in the module at dir what the README tells a service
// to do: require slimage (here this checkout, through a replace), then
// go mod tidy.
func ImportTargets(t testing.TB, dir string) {
	t.Helper()
	Go(t, dir, "mod", "edit", "-require=github.com/slimage/slimage@v0.0.0", "-replace=github.com/slimage/slimage="+RepoRoot(t))
	Go(t, dir, "mod", "tidy")
}
