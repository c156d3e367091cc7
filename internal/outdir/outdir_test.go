package outdir_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/slimage/slimage/internal/outdir"
	"github.com/slimage/slimage/internal/testkit"
)

// tree lists dir's files with their contents (markers aside), for
// comparing a folder before and after.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == outdir.Marker {
			return nil
		}
		data, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(data)
		return nil
	})
	return out
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// replaceWith is a Replace that writes files.
func replaceWith(dist, dir string, files map[string]string) error {
	return outdir.Replace(dist, dir, func(tmp string) error {
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(tmp, name), []byte(content), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

// A folder slimage did not make is never written into, replaced or
// deleted, whatever the way in: the user's file survives, and the error
// names the folder and the way out.
func TestFoldersWithoutTheMarkerAreLeftAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(dist, dir string) error
	}{
		{"Replace", func(dist, dir string) error {
			return replaceWith(dist, dir, map[string]string{"Dockerfile": "FROM scratch\n"})
		}},
		{"Ensure", func(dist, dir string) error { return outdir.Ensure(dist, dir) }},
		{"MkdirAll", func(dist, dir string) error { return outdir.MkdirAll(dist, filepath.Join(dir, "sub")) }},
		{"Remove", func(dist, dir string) error { return outdir.Remove(dir) }},
		{"Update.Dir", func(dist, dir string) error {
			u := outdir.NewUpdate(dist)
			defer u.Discard()
			_, err := u.Dir(filepath.Base(dir))
			return err
		}},
		{"Update.Remove", func(dist, dir string) error {
			u := outdir.NewUpdate(dist)
			defer u.Discard()
			return u.Remove(filepath.Base(dir))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dist := t.TempDir() // SLIMAGE_DIST=. in a module with an image/ folder of its own
			dir := filepath.Join(dist, "image")
			testkit.WriteFiles(t, dir, map[string]string{"notes.txt": "mine\n"})
			err := tc.do(dist, dir)
			var notOurs *outdir.NotOursError
			if !errors.As(err, &notOurs) || notOurs.Dir != dir {
				t.Fatalf("got %v, want a refusal naming %s", err, dir)
			}
			testkit.ErrorMentions(t, err, dir, outdir.Marker, "SLIMAGE_DIST")
			if got := tree(t, dir); got["notes.txt"] != "mine\n" || len(got) != 1 {
				t.Errorf("the user's folder changed: %v", got)
			}
			if got := names(t, dist); !slices.Equal(got, []string{"image"}) {
				t.Errorf("the output folder holds %v, want only the user's image/", got)
			}
		})
	}
}

// A file of the user's where slimage would put a folder is refused too,
// and an empty folder (nothing to lose) is taken.
func TestFilesAndEmptyFolders(t *testing.T) {
	dist := t.TempDir()
	testkit.WriteFiles(t, dist, map[string]string{"oci": "a file\n"})
	if err := replaceWith(dist, filepath.Join(dist, "oci"), map[string]string{"index.json": "{}"}); err == nil {
		t.Error("a file named oci was replaced by a folder")
	}
	if data, _ := os.ReadFile(filepath.Join(dist, "oci")); string(data) != "a file\n" {
		t.Errorf("the user's file changed: %q", data)
	}
	if err := os.Mkdir(filepath.Join(dist, "sbom"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := outdir.Ensure(dist, filepath.Join(dist, "sbom")); err != nil {
		t.Fatalf("an empty folder was refused: %v", err)
	}
	if !outdir.Owned(filepath.Join(dist, "sbom")) {
		t.Error("the empty folder taken was not marked")
	}
}

// Replace puts the new folder in place whole and leaves nothing aside; a
// failing fill leaves the old one as it was.
func TestReplace(t *testing.T) {
	dist := t.TempDir()
	dir := filepath.Join(dist, "image")
	if err := replaceWith(dist, dir, map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := replaceWith(dist, dir, map[string]string{"a": "3"}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, dir); len(got) != 1 || got["a"] != "3" {
		t.Errorf("after the second replace the folder holds %v, want only a=3", got)
	}
	if !outdir.Owned(dir) {
		t.Error("the replaced folder has no marker")
	}
	failed := errors.New("fill failed")
	err := outdir.Replace(dist, dir, func(tmp string) error {
		os.WriteFile(filepath.Join(tmp, "a"), []byte("half"), 0o644)
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Replace returned %v, want the fill's error", err)
	}
	if got := tree(t, dir); len(got) != 1 || got["a"] != "3" {
		t.Errorf("a failed fill changed the folder: %v", got)
	}
	if got := names(t, dist); !slices.Equal(got, []string{"image"}) {
		t.Errorf("the output folder holds %v, want only image/", got)
	}
}

// A folder that cannot be moved (read-only, as a mount or by its mode)
// or a full file system stops the replace before anything changes: the
// previous complete folder stays.
func TestReplaceFailuresKeepThePreviousFolder(t *testing.T) {
	t.Run("read-only folder", func(t *testing.T) {
		dist := t.TempDir()
		dir := filepath.Join(dist, "image")
		if err := replaceWith(dist, dir, map[string]string{"rootfs": "old", "bin": "old"}); err != nil {
			t.Fatal(err)
		}
		testkit.ReadOnly(t, dir)
		err := replaceWith(dist, dir, map[string]string{"rootfs": "new", "bin": "new"})
		if err == nil {
			t.Fatal("a read-only folder was replaced")
		}
		t.Logf("refused: %v", err)
		if got := tree(t, dir); got["rootfs"] != "old" || got["bin"] != "old" {
			t.Errorf("the failed replace changed the folder: %v", got)
		}
		if got := names(t, dist); !slices.Equal(got, []string{"image"}) {
			t.Errorf("the output folder holds %v, want only image/", got)
		}
	})
	t.Run("read-only output folder", func(t *testing.T) {
		dist := t.TempDir()
		dir := filepath.Join(dist, "image")
		if err := replaceWith(dist, dir, map[string]string{"rootfs": "old"}); err != nil {
			t.Fatal(err)
		}
		testkit.ReadOnly(t, dist)
		if err := replaceWith(dist, dir, map[string]string{"rootfs": "new"}); err == nil {
			t.Fatal("a folder in a read-only output folder was replaced")
		}
		if got := tree(t, dir); got["rootfs"] != "old" {
			t.Errorf("the failed replace changed the folder: %v", got)
		}
	})
	t.Run("full disk", func(t *testing.T) {
		dist := testkit.SmallDisk(t, 1<<20)
		dir := filepath.Join(dist, "image")
		if err := replaceWith(dist, dir, map[string]string{"rootfs": strings.Repeat("o", 200<<10)}); err != nil {
			t.Fatal(err)
		}
		testkit.FillDisk(t, dist)
		err := replaceWith(dist, dir, map[string]string{"rootfs": strings.Repeat("n", 300<<10)})
		if err == nil || !strings.Contains(err.Error(), "no space left") {
			t.Fatalf("a replace on a full disk returned %v, want no space left", err)
		}
		if got := tree(t, dir); got["rootfs"] != strings.Repeat("o", 200<<10) {
			t.Error("the failed replace changed the folder")
		}
		if got := names(t, dist); !slices.Equal(got, []string{"filler", "image"}) {
			t.Errorf("the output folder holds %v, want only image/ (and the filler)", got)
		}
	})
}

// An update's outputs appear together on Commit, and not before; the
// outputs it removes go at the same moment.
func TestUpdateCommitsTogether(t *testing.T) {
	dist := t.TempDir()
	for _, name := range []string{"image", "oci", "image-linux_arm64"} {
		if err := replaceWith(dist, filepath.Join(dist, name), map[string]string{"gen": "1"}); err != nil {
			t.Fatal(err)
		}
	}
	u := outdir.NewUpdate(dist)
	for _, name := range []string{"image", "oci", "sbom"} {
		dir, err := u.Dir(name)
		if err != nil {
			t.Fatal(err)
		}
		testkit.WriteFiles(t, dir, map[string]string{"gen": "2"})
	}
	rec, err := u.File(".image.staged.json")
	if err != nil {
		t.Fatal(err)
	}
	testkit.WriteFiles(t, dist, map[string]string{filepath.Base(rec): "{}"}) // an old record
	os.WriteFile(rec, []byte(`{"gen":2}`), 0o644)
	if err := u.Remove("image-linux_arm64"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"image", "oci"} {
		if got := tree(t, filepath.Join(dist, name))["gen"]; got != "1" {
			t.Errorf("before the commit %s holds generation %q, want 1", name, got)
		}
	}
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"image", "oci", "sbom"} {
		if got := tree(t, filepath.Join(dist, name))["gen"]; got != "2" {
			t.Errorf("after the commit %s holds generation %q, want 2", name, got)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(dist, ".image.staged.json")); string(data) != `{"gen":2}` {
		t.Errorf("the record is %q after the commit", data)
	}
	if got := names(t, dist); !slices.Equal(got, []string{".image.staged.json", "image", "oci", "sbom"}) {
		t.Errorf("the output folder holds %v after the commit", got)
	}
}

// A commit that fails part way puts back what it moved: the output
// folder holds the previous outputs, all of them.
func TestUpdateThatCannotCommitPutsEverythingBack(t *testing.T) {
	dist := t.TempDir()
	for _, name := range []string{"image", "oci"} {
		if err := replaceWith(dist, filepath.Join(dist, name), map[string]string{"gen": "1"}); err != nil {
			t.Fatal(err)
		}
	}
	u := outdir.NewUpdate(dist)
	for _, name := range []string{"image", "oci"} {
		dir, err := u.Dir(name)
		if err != nil {
			t.Fatal(err)
		}
		testkit.WriteFiles(t, dir, map[string]string{"gen": "2"})
	}
	// oci, the second, cannot be moved: a mount point.
	testkit.ReadOnly(t, filepath.Join(dist, "oci"))
	if err := u.Commit(); err == nil {
		t.Fatal("the commit passed")
	}
	for _, name := range []string{"image", "oci"} {
		if got := tree(t, filepath.Join(dist, name))["gen"]; got != "1" {
			t.Errorf("after the failed commit %s holds generation %q, want 1", name, got)
		}
	}
	if got := names(t, dist); !slices.Equal(got, []string{"image", "oci"}) {
		t.Errorf("the output folder holds %v after the failed commit", got)
	}
}

// A run killed before its commit leaves an update that Recover deletes;
// one killed during its commit (after the commit point) is finished.
func TestRecover(t *testing.T) {
	t.Run("not committed", func(t *testing.T) {
		dist := t.TempDir()
		if err := replaceWith(dist, filepath.Join(dist, "image"), map[string]string{"gen": "1"}); err != nil {
			t.Fatal(err)
		}
		u := outdir.NewUpdate(dist)
		dir, err := u.Dir("image")
		if err != nil {
			t.Fatal(err)
		}
		testkit.WriteFiles(t, dir, map[string]string{"gen": "2"})
		// killed here: no Commit, no Discard
		if err := outdir.Recover(dist); err != nil {
			t.Fatal(err)
		}
		if got := tree(t, filepath.Join(dist, "image"))["gen"]; got != "1" {
			t.Errorf("image holds generation %q, want 1", got)
		}
		if got := names(t, dist); !slices.Equal(got, []string{"image"}) {
			t.Errorf("the output folder holds %v after Recover", got)
		}
	})
	t.Run("killed during the commit", func(t *testing.T) {
		dist := t.TempDir()
		for _, name := range []string{"image", "oci"} {
			if err := replaceWith(dist, filepath.Join(dist, name), map[string]string{"gen": "1"}); err != nil {
				t.Fatal(err)
			}
		}
		// What a commit killed after its first move leaves: the journal,
		// image moved out and in, oci not yet.
		upd := filepath.Join(dist, ".slimage-update-killed")
		testkit.WriteFiles(t, upd, map[string]string{
			"new/oci/gen": "2", "new/oci/" + outdir.Marker: "",
			"old/.keep": "",
		})
		data, _ := json.Marshal(map[string][]string{"names": {"image", "oci"}})
		testkit.WriteFiles(t, upd, map[string]string{"committed": string(data)})
		if err := os.Rename(filepath.Join(dist, "image"), filepath.Join(upd, "old", "image")); err != nil {
			t.Fatal(err)
		}
		testkit.WriteFiles(t, dist, map[string]string{"image/gen": "2", "image/" + outdir.Marker: ""})
		if err := outdir.Recover(dist); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"image", "oci"} {
			if got := tree(t, filepath.Join(dist, name))["gen"]; got != "2" {
				t.Errorf("after Recover %s holds generation %q, want 2", name, got)
			}
		}
		if got := names(t, dist); !slices.Equal(got, []string{"image", "oci"}) {
			t.Errorf("the output folder holds %v after Recover", got)
		}
	})
}
