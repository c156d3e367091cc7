package gobuild_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/internal/testkit"
)

// A cold build (an empty Go build cache, as on a fresh CI runner) says how
// far it is while it compiles, in plain lines when the output is not a
// terminal; the build after it, with nothing to do, prints its one line.
func TestColdBuildShowsProgress(t *testing.T) {
	dir := sample(t)
	t.Setenv("GOCACHE", t.TempDir())
	c := resolve(t, dir, nil)
	var out bytes.Buffer
	if _, err := gobuild.Build(context.Background(), c, &out); err != nil {
		t.Fatal(err)
	}
	p := c.Platforms[0].String()
	if strings.ContainsAny(out.String(), "\r\033") {
		t.Errorf("control characters in output that is not a terminal: %q", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	progress := regexp.MustCompile(`^build ` + regexp.QuoteMeta(p) + `: compiling packages: (\d+)(?: of (\d+))? \(\d+s\)$`)
	shown := 0
	for _, l := range lines[:len(lines)-1] {
		m := progress.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("not a progress line: %q", l)
			continue
		}
		shown++
		if m[2] != "" {
			if done, _ := strconv.Atoi(m[1]); done > atoi(m[2]) {
				t.Errorf("more done than there is: %q", l)
			}
		}
	}
	if shown == 0 {
		t.Errorf("a cold build showed no progress:\n%s", out.String())
	}
	if !strings.HasPrefix(lines[len(lines)-1], "build "+p+" ") {
		t.Errorf("the last line is not the build's result: %q", lines[len(lines)-1])
	}

	out.Reset()
	if _, err := gobuild.Build(context.Background(), resolve(t, dir, nil), &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Errorf("a build with nothing to do printed %d lines:\n%s", n, out.String())
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// A download that takes a while (a slow module proxy, here one on loopback
// that waits before each zip) says how many modules it has of how many.
func TestSlowDownloadShowsProgress(t *testing.T) {
	dir := sample(t)
	testkit.PrivateModCache(t)
	files := http.FileServer(http.Dir(filepath.Join(testkit.RepoRoot(t), "testdata", "goproxy")))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".zip") {
			time.Sleep(2 * time.Second)
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	t.Setenv("GOPROXY", srv.URL)
	var out bytes.Buffer
	if err := gobuild.Deps(context.Background(), resolve(t, dir, nil), &out); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^deps example\.com/hello: downloading modules: 0 of 1 \(\ds\)$`)
	if !want.MatchString(out.String()) || !strings.HasSuffix(out.String(), "deps example.com/hello: 1 module downloaded and verified\n") {
		t.Errorf("a slow download showed no progress, or no result:\n%s", out.String())
	}
}

// ModuleGoEnv reaches the module's own go commands, and only them: here
// the process's GOPROXY is off, and the sample's dependency still comes
// from the proxy that ModuleGoEnv names.
func TestModuleGoEnv(t *testing.T) {
	dir := sample(t)
	testkit.PrivateModCache(t)
	t.Setenv("GOPROXY", "off")
	c := resolve(t, dir, func(c *config.Config) { c.ModuleGoEnv = []string{"GOPROXY=" + testkit.GoProxy(t)} })
	var out bytes.Buffer
	if err := gobuild.Deps(context.Background(), c, &out); err != nil {
		t.Fatalf("deps with the module's own GOPROXY: %v", err)
	}
	if _, err := gobuild.Build(context.Background(), c, &out); err != nil {
		t.Fatalf("build with the module's own GOPROXY: %v", err)
	}
}
