package targets_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/internal/testkit"
)

// consumerModule writes a module that imports slimage's targets the way
// another repository would: a go.mod that requires slimage (replaced by this
// checkout) and a magefile with //mage:import.
func consumerModule(t *testing.T, magefile string) string {
	t.Helper()
	root := testkit.RepoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	ours, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	mod := &modfile.File{}
	mod.AddModuleStmt("example.com/consumer")
	mod.AddGoStmt(ours.Go.Version)
	mod.AddNewRequire("github.com/slimage/slimage", "v0.0.0", false)
	for _, r := range ours.Require {
		mod.AddNewRequire(r.Mod.Path, r.Mod.Version, r.Indirect)
	}
	if err := mod.AddReplace("github.com/slimage/slimage", "", root, ""); err != nil {
		t.Fatal(err)
	}
	gomod, err := mod.Format()
	if err != nil {
		t.Fatal(err)
	}
	gosum, _ := os.ReadFile(filepath.Join(root, "go.sum"))
	dir := filepath.Join(t.TempDir(), "consumer")
	testkit.WriteFiles(t, dir, map[string]string{
		"go.mod": string(gomod),
		"go.sum": string(gosum),
		// The service is a module of its own, so that deps works on its
		// (empty) module graph and not on slimage's, whose modules are not
		// all in this machine's cache and may not be downloaded by a test.
		"svc/go.mod":        "module example.com/consumer/svc\n\ngo 1.22\n",
		"svc/main.go":       "package main\n\nvar version = \"dev\"\n\nfunc main() { println(\"consumer\", version) }\n",
		"magefiles/mage.go": magefile,
	})
	return dir
}

func TestConsumerMagefileImportsTargets(t *testing.T) {
	testkit.HermeticGo(t)
	mage := testkit.Mage(t)
	dir := consumerModule(t, `//go:build mage

package main

import (
	"github.com/slimage/slimage/config"
	//mage:import
	"github.com/slimage/slimage/targets"
)

func init() {
	targets.Defaults(func(c *config.Config) { c.Dir = "svc" })
	// Go code wins over SLIMAGE_BINARY.
	targets.Configure(func(c *config.Config) { c.Binary = "api" })
}
`)
	env := []string{"MAGEFILE_CACHE=" + t.TempDir(), "SLIMAGE_BINARY=ignored", "SLIMAGE_VERSION=v9.9.9"}

	list := exec.Command(mage, "-l")
	list.Dir, list.Env = dir, append(os.Environ(), env...)
	out := testkit.Run(t, list)
	var targets []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  ") {
			targets = append(targets, strings.Fields(l)[0])
		}
	}
	if strings.Join(targets, ",") != "build,deps,image,merge,resolve,verify,verifyImage,vulncheck" {
		t.Errorf("mage -l lists %v, want exactly the eight targets:\n%s", targets, out)
	}

	build := exec.Command(mage, "-v", "build")
	build.Dir = dir
	build.Env = append(os.Environ(), append(env, "SLIMAGE_PLATFORMS=linux/amd64,linux/arm64")...)
	out = testkit.Run(t, build)
	// mage -v also prints the go commands slimage runs, as mage's sh does.
	for _, want := range []string{"slimage configuration:", "SLIMAGE_PLATFORMS        linux/amd64,linux/arm64",
		"deps example.com/consumer/svc: no dependencies", "build linux/amd64", "build linux/arm64",
		"exec: CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -v -o "} {
		if !strings.Contains(out, want) {
			t.Errorf("mage -v build output lacks %q:\n%s", want, out)
		}
	}
	for _, p := range []config.Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}} {
		bin := filepath.Join(dir, "dist", p.DistDir(), "api")
		if err := gobuild.CheckBinary(bin, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
