package images_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/internal/outdir"
	"github.com/slimage/slimage/internal/testkit"
)

// SLIMAGE_DIST pointed at a folder that holds a folder of the user's where
// slimage would put its own (the module root, with an image/ of its own):
// the image step refuses before any work, naming the folder, and the
// user's file survives.
func TestImageLeavesTheUsersFoldersAlone(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	dir := testkit.CopySample(t, "hello")
	testkit.WriteFiles(t, dir, map[string]string{"image/notes.txt": "mine\n", "sbom/team.cdx.json": "{}\n"})
	c := sampleConfig(t, cli, dir, func(c *config.Config) { c.Dist = dir })
	if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
		t.Fatal(err)
	}
	_, err := build.Build(context.Background(), c, io.Discard, io.Discard)
	testkit.ErrorMentions(t, err, filepath.Join(dir, "image"), "is not slimage's", outdir.Marker, "SLIMAGE_DIST")
	for name, want := range map[string]string{"image/notes.txt": "mine\n", "sbom/team.cdx.json": "{}\n"} {
		if data, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(data) != want {
			t.Errorf("the user's %s is %q (%v)", name, data, err)
		}
	}
	if _, err := cli.ImageInspect(context.Background(), c.Image); err == nil {
		t.Errorf("image %s was tagged despite the refusal", c.Image)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".slimage-update-*")); len(leftovers) > 0 {
		t.Errorf("half-written outputs left behind: %v", leftovers)
	}
}

// The image step on a full disk fails saying so, and leaves the previous
// result as it was: contexts, layout, SBOMs and tag; once there is room
// again, the next run puts the new result in place.
func TestImageOnAFullDiskKeepsThePreviousResult(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	dir := testkit.CopySample(t, "hello")
	dist := testkit.SmallDisk(t, 48<<20)
	c := sampleConfig(t, cli, dir, func(c *config.Config) { c.Dist = dist })
	buildSample(t, c)
	old := readImageState(t, cli, c)
	testkit.WriteFiles(t, dir, map[string]string{"zz_new.go": "package main\n\nvar _ = \"new sources\"\n"})
	if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
		t.Fatal(err)
	}
	filler := testkit.FillDisk(t, dist)
	_, err := build.Build(context.Background(), c, io.Discard, io.Discard)
	testkit.ErrorMentions(t, err, "no space left on device")
	t.Logf("on a full disk: %v", err)
	got := readImageState(t, cli, c)
	delete(got.outputs, filepath.Base(filler))
	if !got.equal(old) {
		t.Errorf("a failed run on a full disk changed the result:\nbefore\n%safter\n%s", old, got)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dist, ".slimage-update-*")); len(leftovers) > 0 {
		t.Errorf("half-written outputs left behind: %v", leftovers)
	}
	os.Remove(filler)
	var out strings.Builder
	if _, err := build.Build(context.Background(), c, io.Discard, &out); err != nil {
		t.Fatalf("with room again: %v", err)
	}
	if got := readImageState(t, cli, c); got.equal(old) {
		t.Errorf("with room again the result did not change:\n%s", out.String())
	}
}

// A push that fails (here the registry refuses uploads) fails the run
// before anything local moves: the tags, the layout, the contexts and the
// SBOMs stay the previous run's.
func TestFailedPushLeavesTheLocalResult(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Error(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`, http.StatusForbidden)
	}))
	t.Cleanup(refusing.Close)
	dir := testkit.CopySample(t, "hello")
	c := sampleConfig(t, cli, dir, nil)
	buildSample(t, c)
	old := readImageState(t, cli, c)
	testkit.WriteFiles(t, dir, map[string]string{"zz_new.go": "package main\n\nvar _ = \"new sources\"\n"})
	if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
		t.Fatal(err)
	}
	c.Push = strings.TrimPrefix(refusing.URL, "http://") + "/slimage/hello:test"
	_, err := build.Build(context.Background(), c, io.Discard, io.Discard)
	testkit.ErrorMentions(t, err, "push "+c.Push, "403 Forbidden", "docker login")
	if got := readImageState(t, cli, c); !got.equal(old) {
		t.Errorf("a failed push changed the local result:\nbefore\n%safter\n%s", old, got)
	}
}
