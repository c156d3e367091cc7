package docs_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/slimage/slimage/internal/testkit"
)

func TestMain(m *testing.M) {
	testkit.ContainerEnv()
	os.Exit(m.Run())
}

// The README's "Use it in your service", followed as a service owner
// would, twice: its minimal magefile on a service with a root main package,
// then its real service (testdata/shop: cmd/api, two ports, a health path,
// a run-time folder, a version in an internal package) with its magefile.
// Both magefiles and every command are read from the README; the one
// difference is `go get`, since this checkout is not published: the
// module is required from this folder instead.
func TestREADMEWalkthrough(t *testing.T) {
	testkit.NeedDocker(t)
	testkit.ModCacheProxy(t) // mage and x/mod from the module cache, the samples' pins from testdata/goproxy
	blocks := blocksOf(t, "README.md")
	section := func(heading string) []block {
		readme := read(t, filepath.Join(testkit.RepoRoot(t), "README.md"))
		start := strings.Index(readme, "\n"+heading+"\n")
		if start < 0 {
			t.Fatalf("README.md has no %q", heading)
		}
		from := strings.Count(readme[:start], "\n") + 1
		var out []block
		for _, b := range blocks {
			if b.line > from {
				out = append(out, b)
			}
		}
		return out
	}
	use := section("## Use it in your service")
	minimal, commands := use[0], use[1]
	if minimal.lang != "go" || commands.lang != "sh" {
		t.Fatalf("README.md's %q starts with a %s and a %s block, want the magefile (go) and its commands (sh)", "Use it in your service", minimal.lang, commands.lang)
	}
	real := section("### A real service")
	layout, shopMagefile := real[0], real[1]
	if shopMagefile.lang != "go" {
		t.Fatalf("README.md's real service has no magefile block after its layout")
	}

	follow := func(t *testing.T, dir, magefile string, env []string) string {
		testkit.WriteFiles(t, dir, map[string]string{"magefiles/magefile.go": magefile})
		var out strings.Builder
		for _, line := range shellCommands(commands.text) {
			if line == "go get github.com/slimage/slimage@latest" {
				line = "go mod edit -require=github.com/slimage/slimage@v0.0.0 -replace=github.com/slimage/slimage=" + testkit.RepoRoot(t)
			}
			out.WriteString(run(t, dir, env, line))
		}
		if strings.Contains(out.String(), "FAIL") {
			t.Errorf("verify reported a failure:\n%s", out.String())
		}
		return out.String()
	}
	// What this test's runs may not do: call public hosts (the default
	// live TLS call), or tag images outside the test's names.
	common := []string{"SLIMAGE_VERIFY_TLS=off", "MAGEFILE_CACHE=" + t.TempDir()}

	t.Run("the minimal magefile", func(t *testing.T) {
		dir := testkit.CopySample(t, "hello")
		ref := "slimage-test/readme-minimal:dev"
		t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
		out := follow(t, dir, minimal.text, append(common, "SLIMAGE_IMAGE="+ref))
		for _, want := range []string{"build linux/" + runtime.GOARCH + " ", "image " + ref, "verify " + ref, "stops"} {
			if !strings.Contains(out, want) {
				t.Errorf("the minimal magefile's run lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("a real service", func(t *testing.T) {
		dir := testkit.CopySample(t, "shop")
		// The README's picture of the service is this service.
		for _, line := range strings.Split(layout.text, "\n") {
			fields := strings.Fields(strings.TrimLeft(line, "│├└─ "))
			if len(fields) == 0 || strings.HasSuffix(fields[0], "/") || fields[0] == "magefiles/magefile.go" {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, fields[0])); err != nil {
				t.Errorf("the README's layout shows %s, which testdata/shop does not have", fields[0])
			}
		}
		ref := "slimage-test/readme-shop:v1.4.2"
		t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
		out := follow(t, dir, shopMagefile.text, append(common, "SLIMAGE_IMAGE="+ref, "SLIMAGE_VERSION=v1.4.2"))
		for _, want := range []string{"GET /healthz 2xx", "reachable 8080/tcp", "reachable 9090/tcp", "verify " + ref} {
			if !strings.Contains(out, want) {
				t.Errorf("the real service's verify lacks %q:\n%s", want, out)
			}
		}
		bin, err := os.ReadFile(filepath.Join(dir, "dist", "linux_"+runtime.GOARCH, "api"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(bin, []byte("v1.4.2")) {
			t.Error("the version is not stamped into the binary (buildinfo.Version)")
		}
		dockerfile := read(t, filepath.Join(dir, "dist", "image", "Dockerfile"))
		for _, want := range []string{"EXPOSE 8080/tcp\n", "EXPOSE 9090/tcp\n", "slimage-data/ -> /app/"} {
			if !strings.Contains(dockerfile, want) {
				t.Errorf("dist/image/Dockerfile lacks %q:\n%s", want, dockerfile)
			}
		}
	})
}

// docs/targets.md: a magefile in a module of its own leaves the service's
// go.mod without any build tool, and runs from its folder with -w.
func TestMagefileInAModuleOfItsOwn(t *testing.T) {
	testkit.ModCacheProxy(t)
	var command string
	for _, b := range blocksOf(t, "docs/targets.md") {
		for _, c := range shellCommands(b.text) {
			if strings.HasPrefix(c, "cd magefiles && ") {
				command = c
			}
		}
	}
	if command == "" {
		t.Fatal("docs/targets.md shows no command for a magefile in a module of its own")
	}
	dir := testkit.CopySample(t, "footprint")
	before := read(t, filepath.Join(dir, "go.mod"))
	mf := filepath.Join(dir, "magefiles")
	testkit.Go(t, mf, "mod", "init", "example.com/footprint/magefiles")
	testkit.ImportTargets(t, mf)
	out := run(t, dir, []string{"MAGEFILE_CACHE=" + t.TempDir()}, command)
	if !strings.Contains(out, "build linux/"+runtime.GOARCH+" ") {
		t.Errorf("%s did not build the service:\n%s", command, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", "linux_"+runtime.GOARCH, "footprint")); err != nil {
		t.Errorf("no binary in the service's dist/: %v", err)
	}
	if after := read(t, filepath.Join(dir, "go.mod")); after != before {
		t.Errorf("the service's go.mod changed:\n%s", after)
	}
}
