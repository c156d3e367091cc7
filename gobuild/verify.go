package gobuild

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/slimage/slimage/internal/atomicfile"
)

// verifyRecord is what slimage remembers of a module folder it verified:
// the hash it checked and, for each file (and the module's zip), the
// identity the file system gives it, as git's index does. A folder whose
// files all still have that identity has not been written since, so it
// need not be hashed again; any write (even one that puts the mtime back)
// changes the ctime, so it is hashed and checked again.
type verifyRecord struct {
	Module string      `json:"module"` // path@version
	Sum    string      `json:"sum"`    // the h1: hash in go.sum
	Zip    fileStamp   `json:"zip"`
	Files  []fileStamp `json:"files"`
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

func newModuleVerifier() (*moduleVerifier, bool) {
	if !stampsWork {
		return nil, false
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, false
	}
	return &moduleVerifier{records: filepath.Join(cache, "slimage", "verified")}, true
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
		if json.Unmarshal(old, &rec) == nil && sameRecord(rec, now) {
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

func sameRecord(a, b verifyRecord) bool {
	if a.Module != b.Module || a.Sum != b.Sum || a.Zip != b.Zip || len(a.Files) != len(b.Files) {
		return false
	}
	for i := range a.Files {
		if a.Files[i] != b.Files[i] {
			return false
		}
	}
	return true
}

func stampTree(dir, zip string) (verifyRecord, error) {
	var rec verifyRecord
	zfi, err := os.Lstat(zip)
	if err != nil {
		return rec, err
	}
	rec.Zip = stampOf("", zfi)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rec.Files = append(rec.Files, stampOf(filepath.ToSlash(rel), fi))
		return nil
	})
	return rec, err // WalkDir's lexical order makes two stamps of a tree comparable
}
