package targets_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/slimage/slimage/internal/testkit"
)

// The packages a magefile that imports the targets compiles: none of the
// engine's heavy dependencies may be among them.
func TestTargetsImportNothingHeavy(t *testing.T) {
	out := testkit.Go(t, testkit.RepoRoot(t), "list", "-deps", "github.com/slimage/slimage/targets")
	heavy := []string{"github.com/docker/", "github.com/moby/", "github.com/testcontainers/",
		"github.com/google/go-containerregistry", "go.opentelemetry.io/", "github.com/distribution/",
		"github.com/slimage/slimage/images"}
	for _, pkg := range strings.Fields(out) {
		for _, h := range heavy {
			if strings.HasPrefix(pkg, h) {
				t.Errorf("targets imports %s", pkg)
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []string
	for _, r := range f.Require {
		reqs = append(reqs, r.Mod.Path)
	}
	if want := []string{"github.com/magefile/mage", "golang.org/x/mod"}; !slices.Equal(reqs, want) {
		t.Errorf("the front module requires %v, want only %v", reqs, want)
	}
}

// A service that imports the targets into its own module, as the README
// says, gains three requirements and nothing else moves: not its go line,
// not a version it pins, not one byte of its binary. Then mage verify passes
// on it, run from its root.
func TestImportingTargetsLeavesTheServiceAlone(t *testing.T) {
	testkit.ModCacheProxy(t)
	dir := testkit.CopySample(t, "footprint")
	magefiles := filepath.Join(t.TempDir(), "magefiles")
	if err := os.Rename(filepath.Join(dir, "magefiles"), magefiles); err != nil {
		t.Fatal(err)
	}

	const version = "v1.0.0"
	bare := filepath.Join(t.TempDir(), "footprint")
	bareBuild := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -X main.version="+version, "-o", bare, ".")
	bareBuild.Dir, bareBuild.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	testkit.Run(t, bareBuild)
	before := readModFile(t, dir)

	// What `go get github.com/slimage/slimage` and a replace do, then tidy.
	if err := os.Rename(magefiles, filepath.Join(dir, "magefiles")); err != nil {
		t.Fatal(err)
	}
	testkit.ImportTargets(t, dir)
	after := readModFile(t, dir)

	if after.Go == nil || after.Go.Version != before.Go.Version {
		t.Errorf("go line moved: %v -> %v", before.Go, after.Go)
	}
	if after.Toolchain != nil {
		t.Errorf("a toolchain line was added: %s", after.Toolchain.Name)
	}
	old := map[string]string{}
	for _, r := range before.Require {
		old[r.Mod.Path] = r.Mod.Version
	}
	var added []string
	for _, r := range after.Require {
		v, pinned := old[r.Mod.Path]
		switch {
		case !pinned:
			added = append(added, r.Mod.Path)
		case v != r.Mod.Version:
			t.Errorf("%s moved from %s to %s", r.Mod.Path, v, r.Mod.Version)
		}
		delete(old, r.Mod.Path)
	}
	for p := range old {
		t.Errorf("requirement %s was dropped", p)
	}
	slices.Sort(added)
	if want := []string{"github.com/magefile/mage", "github.com/slimage/slimage", "golang.org/x/mod"}; !slices.Equal(added, want) {
		t.Errorf("go.mod gained %v, want exactly %v", added, want)
	}

	mage := func(args ...string) *exec.Cmd {
		cmd := exec.Command("go", append([]string{"run", "github.com/magefile/mage"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SLIMAGE_VERSION="+version, "MAGEFILE_CACHE="+t.TempDir())
		return cmd
	}
	testkit.Run(t, mage("build"))
	got, err := os.ReadFile(filepath.Join(dir, "dist", "linux_"+runtime.GOARCH, "footprint"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(bare)
	if !bytes.Equal(got, want) {
		t.Errorf("mage build made a binary of %d bytes that differs from the bare go build's %d bytes", len(got), len(want))
	}

	testkit.NeedDocker(t)
	out := testkit.Run(t, mage("verify"))
	t.Cleanup(func() { exec.Command("docker", "rmi", "footprint:"+version).Run() })
	for _, w := range []string{"image footprint:" + version, "verify footprint:" + version, "well-known roots"} {
		if !strings.Contains(out, w) {
			t.Errorf("mage verify output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("mage verify failed a check:\n%s", out)
	}
}

func readModFile(t *testing.T, dir string) *modfile.File {
	t.Helper()
	p := filepath.Join(dir, "go.mod")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse(p, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMain(m *testing.M) {
	testkit.ContainerEnv()
	os.Exit(m.Run())
}

// A service on go 1.22 that pins the oldest mage whose magefiles cancel
// their targets on Ctrl-C (v1.15.0, which slimage's clean-up relies on) and
// the oldest golang.org/x/mod the front can use (v0.11.0) keeps its go line
// and both pins when it imports the targets: the front requires no newer.
func TestImportingTargetsKeepsOlderPins(t *testing.T) {
	testkit.ModCacheProxy(t)
	// The sample: nothing else in its graph needs a newer x/mod (the
	// footprint service's old x/text brings x/tools, and with it x/mod
	// v0.17.0).
	dir := testkit.CopySample(t, "hello")
	testkit.WriteFiles(t, dir, map[string]string{"magefiles/magefile.go": "//go:build mage\n\npackage main\n\nimport (\n\t//mage:import\n\t_ \"github.com/slimage/slimage/targets\"\n)\n"})
	pins := map[string]string{"github.com/magefile/mage": "v1.15.0", "golang.org/x/mod": "v0.11.0"}
	for p, v := range pins {
		testkit.Go(t, dir, "mod", "edit", "-require="+p+"@"+v)
	}
	goLine := readModFile(t, dir).Go.Version
	testkit.ImportTargets(t, dir)
	after := readModFile(t, dir)
	if after.Go.Version != goLine {
		t.Errorf("the go line moved from %s to %s", goLine, after.Go.Version)
	}
	for _, r := range after.Require {
		if want, ok := pins[r.Mod.Path]; ok && r.Mod.Version != want {
			t.Errorf("%s moved from %s to %s", r.Mod.Path, want, r.Mod.Version)
		}
	}
	// The pinned mage runs the targets.
	cmd := exec.Command("go", "run", "github.com/magefile/mage", "-l")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "MAGEFILE_CACHE="+t.TempDir())
	if out := testkit.Run(t, cmd); !strings.Contains(out, "verify") {
		t.Errorf("mage v1.15.0 lists no verify target:\n%s", out)
	}
}
