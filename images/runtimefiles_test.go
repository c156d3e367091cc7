package images_test

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/internal/testkit"
)

// A folder in SLIMAGE_FILES is copied whole, and slimage-data/ may hold
// folders and links to files and folders in the module (followed): every
// file lands where it belongs, owned by root, readable by everyone, and a
// second build of the same files (touched since) gives the same image.
func TestRuntimeFolders(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	dir := testkit.CopySample(t, "hello")
	testkit.WriteFiles(t, dir, map[string]string{
		"ui/index.html":          "<p>hello</p>\n",
		"ui/css/site.css":        "p{}\n",
		"web/assets/logo.svg":    "<svg/>\n",
		"config/prod.yaml":       "a: 1\n",
		"slimage-data/notes.txt": "notes\n",
	})
	for link, to := range map[string]string{"slimage-data/assets": "../web/assets", "slimage-data/conf.yaml": "../config/prod.yaml"} {
		if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	c := sampleConfig(t, cli, dir, func(c *config.Config) { c.Files = []string{"ui:/app/ui"} })
	if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
		t.Fatal(err)
	}
	first, err := build.Build(context.Background(), c, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"app/ui/index.html": "<p>hello</p>\n", "app/ui/css/site.css": "p{}\n",
		"app/assets/logo.svg": "<svg/>\n", "app/conf.yaml": "a: 1\n", "app/notes.txt": "notes\n",
	}
	idx, err := build.LayoutIndex(c.Output(config.OCIFolder))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	seen := map[string]bool{}
	for _, l := range layers {
		rc, _ := l.Uncompressed()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			content, ok := want[h.Name]
			if !ok {
				continue
			}
			seen[h.Name] = true
			data, _ := io.ReadAll(tr)
			if string(data) != content || h.Typeflag != tar.TypeReg || h.Uid != 0 || h.Gid != 0 || h.Mode&0o444 != 0o444 {
				t.Errorf("%s: %q, type %c, owner %d:%d, mode %o", h.Name, data, h.Typeflag, h.Uid, h.Gid, h.Mode)
			}
		}
		rc.Close()
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s is not in the image", name)
		}
	}
	// The same files, touched: the same image.
	later := time.Now().Add(time.Hour)
	for _, f := range []string{"ui/index.html", "web/assets/logo.svg", "config/prod.yaml"} {
		os.Chtimes(filepath.Join(dir, f), later, later)
	}
	second, err := build.Build(context.Background(), c, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if first[0].ID != second[0].ID {
		t.Errorf("the same run-time files gave image %s, then %s", first[0].ID, second[0].ID)
	}
}
