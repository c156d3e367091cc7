package targets_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/slimage/slimage/internal/testkit"
)

// A module with three services (testdata/multi: an API with two ports and
// its health path on the second listed, a worker with no ports, a CLI
// that exits 0, and a ui/ folder) gets, from one mage verify, three
// binaries from one go command per platform, three images, and three
// verifies; SLIMAGE_SERVICES=api does the API alone; a one-line change in
// the worker rebuilds only the worker's binary and image layer.
func TestSeveralServices(t *testing.T) {
	testkit.ModCacheProxy(t)
	testkit.NeedDocker(t)
	dir := testkit.CopySample(t, "multi")
	testkit.ImportTargets(t, dir)
	const version = "v1.0.0"
	images := []string{"api:" + version, "cli:" + version, "worker:" + version}
	t.Cleanup(func() {
		for _, ref := range images {
			exec.Command("docker", "rmi", ref).Run()
		}
	})
	mage := func(env []string, args ...string) string {
		cmd := exec.Command("go", append([]string{"run", "github.com/magefile/mage"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append([]string{"SLIMAGE_VERSION=" + version, "SLIMAGE_VERIFY_TLS=off", "MAGEFILE_CACHE=" + filepath.Join(dir, ".magecache")}, env...)...)
		return testkit.Run(t, cmd)
	}
	out := mage(nil, "-v", "verify")
	builds := regexp.MustCompile(`(?m)^exec: .* go build -v -o \S+ .*\(in `+regexp.QuoteMeta(dir)+`\)$`).FindAllString(out, -1)
	if len(builds) != 1 || !strings.Contains(builds[0], "./cmd/api ./cmd/cli ./cmd/worker") {
		t.Errorf("want one go build of the three services, got %d:\n%s", len(builds), strings.Join(builds, "\n"))
	}
	for _, s := range []string{"api", "cli", "worker"} {
		for _, want := range []string{s + ": image " + s + ":" + version, s + ": verify " + s + ":" + version} {
			if !strings.Contains(out, want) {
				t.Errorf("mage verify did not say %q", want)
			}
		}
	}
	if t.Failed() {
		t.Fatalf("output:\n%s", out)
	}
	// The API's health path on the second port it lists, and its ui/.
	if !regexp.MustCompile(`api:   start +answers on 8080/tcp, GET /healthz 2xx`).MatchString(out) || !strings.Contains(out, "api:   reachable 9090/tcp") {
		t.Errorf("the API was not started on its health port, or its API port not reached:\n%s", out)
	}
	for _, f := range []string{"api/image/files/app/ui/index.html", "api/verify/linux_amd64.json", "worker/oci/index.json", "cli/sbom"} {
		if _, err := os.Stat(filepath.Join(dir, "dist", filepath.FromSlash(f))); err != nil {
			t.Errorf("dist/%s: %v", f, err)
		}
	}

	// One service.
	only := mage([]string{"SLIMAGE_SERVICES=api"}, "verify")
	if !strings.Contains(only, "api: verify api:") || strings.Contains(only, "worker:") || strings.Contains(only, "cli:") {
		t.Errorf("SLIMAGE_SERVICES=api did more than the API:\n%s", only)
	}

	// A one-line change in the worker.
	ids := func() map[string][]string {
		got := map[string][]string{}
		for _, ref := range images {
			o := testkit.Run(t, exec.Command("docker", "image", "inspect", "-f", "{{.Id}} {{range .RootFS.Layers}}{{.}} {{end}}", ref))
			got[ref] = strings.Fields(o)
		}
		return got
	}
	before := ids()
	main := filepath.Join(dir, "cmd", "worker", "main.go")
	data, _ := os.ReadFile(main)
	os.WriteFile(main, []byte(strings.Replace(string(data), "worker %s started", "worker %s started, changed", 1)), 0o644)
	mage(nil, "image")
	after := ids()
	for _, ref := range images {
		b, a := before[ref], after[ref]
		switch ref {
		case "worker:" + version:
			if a[0] == b[0] || len(a) != len(b) || strings.Join(a[1:len(a)-1], " ") != strings.Join(b[1:len(b)-1], " ") {
				t.Errorf("the worker's image after the change: %v, before %v: want only its last layer new", a, b)
			}
		default:
			if a[0] != b[0] {
				t.Errorf("%s changed with the worker's code", ref)
			}
		}
	}

	// One service's failure fails the run, names it, and hides no other's
	// result: a 1ms stop limit fails the API and the worker, not the CLI
	// (which had exited).
	cmd := exec.Command("go", "run", "github.com/magefile/mage", "verify")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLIMAGE_VERSION="+version, "SLIMAGE_VERIFY_TLS=off", "SLIMAGE_VERIFY_STOP=1ms", "MAGEFILE_CACHE="+filepath.Join(dir, ".magecache"))
	failed, err := cmd.CombinedOutput()
	if err == nil || !regexp.MustCompile(`Error: verify: 2 of 3 services failed: api: .*; worker: `).Match(failed) || !strings.Contains(string(failed), "cli: report: dist/cli/verify/linux_amd64.json") {
		t.Errorf("a 1ms stop limit: %v\n%s", err, failed)
	}

	// Down to one service: the others' outputs go, its own are at the root.
	mage([]string{"SLIMAGE_MAIN=./cmd/api"}, "image")
	for _, gone := range []string{"worker", "cli", "api"} {
		if _, err := os.Stat(filepath.Join(dir, "dist", gone)); err == nil {
			t.Errorf("dist/%s is left after the switch to one service", gone)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", "image", "Dockerfile")); err != nil {
		t.Errorf("one service's context is not at dist/image: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", "linux_amd64", "worker")); err == nil {
		t.Error("the worker's binary is left")
	}
}
