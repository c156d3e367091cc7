package images_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/internal/testkit"
	"github.com/slimage/slimage/manifests"
)

// resolve on a folder of three manifests (two containers in one, a Job,
// one naming no slimage image) replaces exactly the slimage references
// with the digest the image step pushed to a loopback registry, and leaves
// every other byte; an image run that does not push drops the record, so
// resolve cannot name an image it no longer built.
func TestResolveAfterPush(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	host := loopbackRegistry(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.Push = host + "/shop/hello:1.0"
	})
	buildAll(t, cli, c)

	pushed, err := manifests.ReadPushed(c.Dist)
	if err != nil {
		t.Fatal(err)
	}
	local, err := build.LayoutIndex(filepath.Join(c.Dist, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := local.Digest(); pushed.Digest != want.String() || pushed.Ref != c.Push {
		t.Fatalf("push record %+v, want %s@%s", pushed, c.Push, want)
	}
	digestRef := host + "/shop/hello@" + pushed.Digest
	ref, err := name.ParseReference(digestRef)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Index(ref); err != nil {
		t.Fatalf("pull %s: %v", digestRef, err)
	}

	files, err := manifests.Find([]string{filepath.Join("testdata", "manifests")})
	if err != nil {
		t.Fatal(err)
	}
	lookup := manifests.Pushes{"hello": c.Dist}.Lookup
	if err := manifests.Write(files, lookup, c.Dist, nil, io.Discard); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range files {
		in, _ := os.ReadFile(f.Path)
		out, err := os.ReadFile(filepath.Join(c.Dist, "manifests", f.Rel))
		if err != nil {
			t.Fatal(err)
		}
		if back := bytes.ReplaceAll(out, []byte(digestRef), []byte("slimage://hello")); !bytes.Equal(back, in) {
			t.Errorf("%s: more than the references changed:\n%s", f.Rel, out)
		}
		wantRefs := strings.Count(string(in), "image: slimage://hello") + strings.Count(string(in), `image: "slimage://hello"`)
		total += wantRefs
		if got := bytes.Count(out, []byte(digestRef)); got != wantRefs {
			t.Errorf("%s: %d references resolved, want %d", f.Rel, got, wantRefs)
		}
	}
	// On standard output: one YAML stream, a separator between files (the
	// fixtures hold none of their own).
	var stream bytes.Buffer
	if err := manifests.Write(files, lookup, c.Dist, &stream, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stream.String(), "\n---\n"); n != len(files)-1 || strings.Count(stream.String(), digestRef) != total || total != 2 {
		t.Errorf("stream with %d separators:\n%s", n, stream.String())
	}

	c.Push = ""
	buildAll(t, cli, c)
	if _, err := lookup("hello"); err == nil || !strings.Contains(err.Error(), "service hello has no pushed image") {
		t.Errorf("after an image run without a push: %v", err)
	}
}
