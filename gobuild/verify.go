package gobuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/gotool"
)

// verifyRecord is what slimage remembers of a module folder it verified:
// the hash it checked and a digest of the identity the file system gives
// each file (and the module's zip), as git's index keeps. A folder whose
// files all still have that identity has not been written since, so it
// need not be hashed again; any write (even one that puts the mtime back)
// changes the ctime, so it is hashed and checked again. Only the digest is
// kept: comparing it costs one stat a file and no parsing.
type verifyRecord struct {
	Module string `json:"module"` // path@version
	Sum    string `json:"sum"`    // the h1: hash in go.sum
	Stamps string `json:"stamps"` // sha256 of the zip's and every file's stamp
}

type fileStamp struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"`
	Ctime int64  `json:"ctime"`
	Ino   uint64 `json:"ino"`
	Mode  uint32 `json:"mode"`
}

// moduleVerifier checks module folders against their go.sum hashes,
// skipping those whose record still matches.
type moduleVerifier struct {
	records string // folder of records, in the user cache
}

// newModuleVerifier returns nil where stamps cannot catch every write or
// there is no user cache to keep records in.
func newModuleVerifier() *moduleVerifier {
	if !stampsWork {
		return nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil
	}
	return &moduleVerifier{records: filepath.Join(cache, "slimage", "verified")}
}

func (v *moduleVerifier) recordPath(dir string) string {
	key := sha256.Sum256([]byte(dir))
	return filepath.Join(v.records, hex.EncodeToString(key[:12])+".json")
}

// check verifies one downloaded module: its folder and zip against sum
// (already checked to be go.sum's). It reports whether it had to hash.
func (v *moduleVerifier) check(m download) (hashed bool, err error) {
	mod := m.Path + "@" + m.Version
	now, err := stampTree(m.Dir, m.Zip)
	if err != nil {
		return false, fmt.Errorf("%s in the module cache (%s) cannot be read (%v): run 'go clean -modcache' and deps again", mod, m.Dir, err)
	}
	now.Module, now.Sum = mod, m.Sum
	rp := v.recordPath(m.Dir)
	if old, err := os.ReadFile(rp); err == nil {
		var rec verifyRecord
		if json.Unmarshal(old, &rec) == nil && rec == now {
			return false, nil
		}
	}
	if h, err := dirhash.HashZip(m.Zip, dirhash.Hash1); err != nil || h != m.Sum {
		return true, fmt.Errorf("%s %s: zip has been modified (%s)", m.Path, m.Version, m.Zip)
	}
	if h, err := dirhash.HashDir(m.Dir, mod, dirhash.Hash1); err != nil || h != m.Sum {
		return true, fmt.Errorf("%s %s: dir has been modified (%s)", m.Path, m.Version, m.Dir)
	}
	return true, v.remember(rp, now)
}

// record stores the stamps of a module that was just verified in full.
func (v *moduleVerifier) record(m download) error {
	now, err := stampTree(m.Dir, m.Zip)
	if err != nil {
		return err
	}
	now.Module, now.Sum = m.Path+"@"+m.Version, m.Sum
	return v.remember(v.recordPath(m.Dir), now)
}

func (v *moduleVerifier) remember(path string, rec verifyRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o644)
}

// stampTree digests the stamps of zip and of every file under dir, in
// WalkDir's lexical order, so two stamps of a tree are comparable.
func stampTree(dir, zip string) (verifyRecord, error) {
	var rec verifyRecord
	zfi, err := os.Lstat(zip)
	if err != nil {
		return rec, err
	}
	h := sha256.New()
	stampOf("", zfi).writeTo(h)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		stampOf(p[len(dir):], fi).writeTo(h)
		return nil
	})
	rec.Stamps = hex.EncodeToString(h.Sum(nil))
	return rec, err
}

func (s fileStamp) writeTo(w io.Writer) {
	fmt.Fprintf(w, "%s\x00%d %d %d %d %o\n", s.Name, s.Size, s.Mtime, s.Ctime, s.Ino, s.Mode)
}

// checkAll checks mods as check does, a few at a time (stat-bound work
// overlaps well), and reports how many were not hashed. On the first error
// it returns that error and whether the failing module had been hashed.
func (v *moduleVerifier) checkAll(ctx context.Context, mods []download) (unchanged int, hashed bool, err error) {
	type result struct {
		hashed bool
		err    error
	}
	results := make([]result, len(mods))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, m := range mods {
		if m.Dir == "" || m.Zip == "" || m.Sum == "" {
			results[i].hashed = true // nothing to check: not counted as unchanged
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				results[i].err = ctx.Err()
				return
			}
			results[i].hashed, results[i].err = v.check(m)
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.err != nil {
			return unchanged, r.hashed, r.err
		}
		if !r.hashed {
			unchanged++
		}
	}
	return unchanged, false, nil
}

// depsRecord is what slimage remembers of a module's last successful deps:
// the inputs that decide what `go mod download` fetches, and what it
// listed. While go.mod, go.sum, those settings and every listed module's
// folder and zip are as they were, there is nothing to download, so the
// next fast deps checks the module folders' stamps and skips the go command.
type depsRecord struct {
	Inputs string     `json:"inputs"`
	Mods   []download `json:"mods"`
}

// depsInputs hashes go.mod, go.sum and the settings that change which
// modules are downloaded, or where to.
func depsInputs(c *config.Config, gosum string) (string, error) {
	h := sha256.New()
	for _, f := range []string{c.Module.GoMod, gosum} {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	fmt.Fprintf(h, "GOVERSION=%s\nGOFLAGS=%s\n", c.GoEnv.GOVERSION, c.GoEnv.GOFLAGS)
	for _, k := range []string{"GOMODCACHE", "GOPATH", "GOWORK", "GOENV", "GOTOOLCHAIN"} {
		fmt.Fprintf(h, "%s=%s\n", k, os.Getenv(k))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (v *moduleVerifier) depsRecordPath(c *config.Config) string {
	key := sha256.Sum256([]byte("deps " + c.Dir))
	return filepath.Join(v.records, "deps-"+hex.EncodeToString(key[:12])+".json")
}

// unchangedSinceLastDeps reports whether the last deps' record still holds
// and every module it listed still verifies (re-hashing any folder whose
// stamps changed, as a fast deps does). Anything missing or different
// means no: the caller then runs the go command as usual. A module that
// was hashed and differs is the error a full check would give.
func (v *moduleVerifier) unchangedSinceLastDeps(ctx context.Context, c *config.Config, gosum string) (int, bool, error) {
	data, err := os.ReadFile(v.depsRecordPath(c))
	if err != nil {
		return 0, false, nil
	}
	var rec depsRecord
	if json.Unmarshal(data, &rec) != nil {
		return 0, false, nil
	}
	if in, err := depsInputs(c, gosum); err != nil || in != rec.Inputs {
		return 0, false, nil
	}
	if _, hashed, err := v.checkAll(ctx, rec.Mods); err != nil {
		if ctx.Err() != nil {
			return 0, false, ctx.Err()
		}
		if !hashed { // unreadable, e.g. removed from the cache: download it again
			return 0, false, nil
		}
		return 0, false, &gotool.ExitError{Args: []string{"mod", "verify"}, Stderr: err.Error()}
	}
	return len(rec.Mods), true, nil
}

func (v *moduleVerifier) rememberDeps(c *config.Config, gosum string, mods []download) error {
	in, err := depsInputs(c, gosum)
	if err != nil {
		return err
	}
	data, err := json.Marshal(depsRecord{Inputs: in, Mods: mods})
	if err != nil {
		return err
	}
	return atomicfile.Write(v.depsRecordPath(c), data, 0o644)
}
