package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/slimage/slimage/internal/userfile"
)

// DataDir is the conventional folder, at the module root, whose contents
// are copied beside the binary (AppDir) with no configuration.
const DataDir = "slimage-data"

// AppDir is where the binary and its run-time files live in the image.
const AppDir = "/app"

// RuntimeFile is one file copied into the image: its source as the user
// named it (a folder's files by their path below it), the file it is
// (links followed), its destination in the image, and the entry it comes
// from as the Dockerfile lists it ("ui/ -> /app/ui/", "slimage-data/ -> /app/").
type RuntimeFile struct{ Src, Abs, Dst, Entry string }

// RuntimeFiles lists SLIMAGE_FILES (a file, or a folder copied whole) and
// everything under slimage-data/, in a stable order. Links are followed,
// to files and to folders, and everything they lead to must be inside the
// module: an image is often pushed from CI, where a link in a pull
// request's slimage-data/ to the runner's files must not copy them in.
// Only regular files go into the image: a named pipe, a device or a socket
// is refused by name.
func (c *Config) RuntimeFiles() ([]RuntimeFile, error) {
	root, err := filepath.EvalSymlinks(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("check SLIMAGE_DIR: %w", err)
	}
	w := &runtimeWalk{c: c, root: root, dst: map[string]string{}}
	for _, f := range c.Files {
		src, dst, _ := strings.Cut(f, ":")
		abs := src
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(c.Dir, src)
		}
		w.entry = src + " -> " + path.Clean(dst)
		if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
			w.entry = strings.TrimSuffix(src, "/") + "/ -> " + path.Clean(dst) + "/"
		}
		if err := w.add("SLIMAGE_FILES", src, abs, path.Clean(dst), nil); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(c.Dir, DataDir)
	if _, err := os.Lstat(data); err == nil {
		w.entry = DataDir + "/ -> " + AppDir + "/"
		if err := w.add(DataDir+"/", DataDir, data, AppDir, nil); err != nil {
			return nil, err
		}
	}
	return w.out, nil
}

// runtimeWalk collects run-time files.
type runtimeWalk struct {
	c     *Config
	root  string // the module's folder, links resolved
	out   []RuntimeFile
	dst   map[string]string // destination → source, to refuse two at one place
	entry string            // the entry being walked (RuntimeFile.Entry)
}

// add adds the file abs, or every file under the folder abs, at dst;
// src is how the user knows abs. within are the folders (resolved) that
// hold abs, so that a link back into one of them is a loop, not a walk
// without end.
func (w *runtimeWalk) add(setting, src, abs, dst string, within []string) error {
	real, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check %s: %s (%s) does not exist: fix the path, relative to %s", setting, src, abs, w.c.Dir)
	}
	if err != nil {
		return fmt.Errorf("check %s: %s: %v: fix the path or the links it goes through", setting, src, errors.Unwrap(err))
	}
	if rel, err := filepath.Rel(w.root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		leads := ""
		if real != abs {
			leads = ", a link to " + real + ","
		}
		return fmt.Errorf("check %s: %s%s is outside module %s (%s): run-time files come from the module; copy it in", setting, src, leads, w.c.Module.Path, w.c.Dir)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("check %s: %s: %v", setting, src, errors.Unwrap(err))
	}
	if fi.IsDir() {
		for _, d := range within {
			if d == real {
				return fmt.Errorf("check %s: %s leads back to %s, a folder it is in (a loop of links): point the link elsewhere", setting, src, real)
			}
		}
		entries, err := os.ReadDir(real)
		if err != nil {
			return fmt.Errorf("check %s: %s: %v", setting, src, errors.Unwrap(err))
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			if err := w.add(setting, src+"/"+e.Name(), filepath.Join(abs, e.Name()), path.Join(dst, e.Name()), append(within, real)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := userfile.Kind(fi); err != nil {
		return fmt.Errorf("check %s: %s %v: only regular files go into the image", setting, src, err)
	}
	if bin := path.Join(AppDir, w.c.Binary); dst == bin {
		return fmt.Errorf("check %s: %s would replace the binary at %s: pick another destination", setting, src, bin)
	}
	if other, ok := w.dst[dst]; ok {
		return fmt.Errorf("check %s: %s and %s both go to %s: give one another destination", setting, other, src, dst)
	}
	w.dst[dst] = src
	w.out = append(w.out, RuntimeFile{Src: src, Abs: real, Dst: dst, Entry: w.entry})
	return nil
}
