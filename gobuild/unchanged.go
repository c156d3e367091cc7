package gobuild

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slimage/slimage/internal/atomicfile"
)

// buildRecord is what slimage remembers of one platform's last build: a
// digest of everything the go command read to make it, and the stamp of the
// binary it left. While both still hold, the go command would make the
// binary that is already there, so BuildPlatform does not run it: even a
// no-op `go build` loads and hashes the whole import graph (80 ms for a
// small service here, seconds for a large one), where stat-ing the source
// tree takes about a millisecond. It is git's index applied to a build.
type buildRecord struct {
	Inputs string    `json:"inputs"`
	Output fileStamp `json:"output"`
	// What the build found, for an unchanged build to say again.
	SHA256 string `json:"sha256"`
	Linked Linked `json:"linked"`
}

// maxTreeEntries bounds the walk: a larger tree (a monorepo, a node_modules
// beside the service) is left to the go command.
const maxTreeEntries = 10000

// errUnseen stops a walk that meets an input it cannot stamp.
var errUnseen = errors.New("an input slimage cannot stamp")

// buildInputs is the digest of one platform's build inputs, or "" where
// slimage cannot see them all.
type buildInputs struct {
	record string // where the record lives, beside the binary
	digest string
	racy   bool
}

// readBuildInputs digests what decides the binary for p: the go command's
// arguments and settings, the toolchain, the commit (the go command stamps
// it), and the stamp of every file under the checkout (the version-control
// root, whose status the go command also stamps, else the module) and under
// each folder a replace points at; names included, so an added or removed
// file counts. Downloaded modules are not walked: they are read-only in the
// module cache and deps checks their stamps on every run. No facts (see
// TargetFor) or a tree too large to stat quickly gives no digest.
func readBuildInputs(facts *Inputs, out string, args, env []string) buildInputs {
	now := time.Now()
	in := buildInputs{record: filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".build.json")}
	if facts == nil {
		return in
	}
	h := sha256.New()
	fmt.Fprintf(h, "slimage build inputs v1\nargs=%q\nenv=%q\ngo=%s", args, env, facts.Toolchain)
	fmt.Fprintf(h, "revision=%s\n", facts.Revision)
	entries := 0
	for _, root := range facts.Roots {
		fmt.Fprintf(h, "root %s\n", root)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".git" || p == facts.Skip) {
				return filepath.SkipDir
			}
			if entries++; entries > maxTreeEntries {
				return errUnseen
			}
			if d.IsDir() {
				// A folder's name only: its times change whenever a file comes
				// and goes (mage writes and removes its main file in the
				// magefile's folder on every run); the entries show that.
				fmt.Fprintf(h, "%s/\n", p[len(root):])
				return nil
			}
			fi, err := os.Stat(p) // a symbolic link's target is what the go command reads
			if err != nil || fi.IsDir() {
				return errUnseen // a dangling link, or a linked folder's files
			}
			if racy(now, fi.ModTime()) {
				in.racy = true
			}
			stampOf(p[len(root):], fi).writeTo(h)
			return nil
		})
		if err != nil {
			return in
		}
	}
	in.digest = hex.EncodeToString(h.Sum(nil))
	return in
}

// unchanged reports whether the last build's record holds for these inputs
// and the binary it left is still there, as it left it.
func (in buildInputs) unchanged(out string) (fs.FileInfo, buildRecord, bool) {
	var rec buildRecord
	if in.digest == "" {
		return nil, rec, false
	}
	data, err := os.ReadFile(in.record)
	if err != nil {
		return nil, rec, false
	}
	if json.Unmarshal(data, &rec) != nil || rec.Inputs != in.digest || rec.SHA256 == "" {
		return nil, rec, false
	}
	fi, err := os.Stat(out)
	if err != nil || stampOf("", fi) != rec.Output {
		return nil, rec, false
	}
	return fi, rec, true
}

// remember records a build that succeeded; an input written during (or
// just before) the build leaves the old record removed instead.
func (in buildInputs) remember(out, sha256 string, linked Linked) {
	os.Remove(in.record)
	if in.digest == "" || in.racy {
		return
	}
	fi, err := os.Stat(out)
	if err != nil {
		return
	}
	data, err := json.Marshal(buildRecord{Inputs: in.digest, Output: stampOf("", fi), SHA256: sha256, Linked: linked})
	if err == nil {
		atomicfile.Write(in.record, data, 0o644)
	}
}

// racy says whether a file stamped at now with this mtime could change
// again without its stamp showing it (git calls such index entries racy).
// Linux takes file times from a clock that ticks every few milliseconds; a
// file system that keeps whole seconds (FAT, HFS+, some network ones) shows
// a zero fraction, and there a change within two seconds can go unseen.
func racy(now, mtime time.Time) bool {
	window := 100 * time.Millisecond
	if mtime.Nanosecond() == 0 {
		window = 2 * time.Second
	}
	return now.Sub(mtime) < window
}

// sourceRoot is the version-control root above dir (the go command stamps
// its status, untracked files included, into the binary), else dir.
func sourceRoot(dir string) string {
	for d := dir; ; {
		for _, meta := range []string{".git", ".hg", ".svn", ".bzr"} {
			if _, err := os.Lstat(filepath.Join(d, meta)); err == nil {
				return d
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

// inWorkspace says whether the go command would build dir in a workspace:
// GOWORK names one, or a go.work sits in dir or above it.
func inWorkspace(dir string) bool {
	if w := os.Getenv("GOWORK"); w == "off" {
		return false
	} else if w != "" {
		return true
	}
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return false
		}
		d = parent
	}
}

// isUnder says whether p is root or inside it.
func isUnder(p, root string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}
