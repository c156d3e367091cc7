package gobuild_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/internal/testkit"
)

// A build interrupted at any moment (here, of a cold build: the go command
// compiling the standard library) ends at once with a one-line error that
// says so, and leaves none of the go command's work folders (go-build*) nor
// any of slimage's in the temp folder, nor half a binary.
func TestInterruptedBuildLeavesNoWorkFolder(t *testing.T) {
	dir := sample(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("GOTMPDIR", "")
	t.Setenv("GOCACHE", t.TempDir()) // cold: there is work to interrupt
	c := resolve(t, dir, nil)
	for _, after := range []time.Duration{200 * time.Millisecond, 700 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second} {
		t.Run(after.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), after)
			defer cancel()
			_, err := gobuild.Build(ctx, c, io.Discard)
			if err == nil {
				t.Skipf("the build finished within %s", after)
			}
			want := "build " + c.Platforms[0].String() + ": interrupted while compiling"
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			entries, _ := os.ReadDir(tmp)
			var left []string
			for _, e := range entries {
				left = append(left, e.Name())
			}
			if len(left) > 0 {
				t.Errorf("left in the temp folder: %s", strings.Join(left, ", "))
			}
			if bins, _ := filepath.Glob(filepath.Join(c.Dist, "*", "*")); len(bins) > 0 {
				for _, b := range bins {
					if !strings.HasSuffix(b, ".slimage-output") {
						t.Errorf("left in the output folder: %s", b)
					}
				}
			}
		})
	}
}

// Deps interrupted while the go command downloads (here from a proxy that
// takes its time) ends at once, saying so; go.mod and go.sum are as they
// were, and no work folder is left.
func TestInterruptedDepsLeavesTheModuleAlone(t *testing.T) {
	dir := sample(t)
	testkit.PrivateModCache(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("GOTMPDIR", "")
	files := http.FileServer(http.Dir(filepath.Join(testkit.RepoRoot(t), "testdata", "goproxy")))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".zip") {
			select {
			case <-time.After(30 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	t.Setenv("GOPROXY", srv.URL)
	before := map[string][]byte{}
	for _, f := range []string{"go.mod", "go.sum"} {
		before[f], _ = os.ReadFile(filepath.Join(dir, f))
	}
	c := resolve(t, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := gobuild.Deps(ctx, c, io.Discard)
	if want := "deps example.com/hello: interrupted"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	for f, data := range before {
		if now, _ := os.ReadFile(filepath.Join(dir, f)); !bytes.Equal(now, data) {
			t.Errorf("%s changed", f)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("left in the temp folder: %v", entries)
	}
}
