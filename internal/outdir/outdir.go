// Package outdir keeps the output folder (SLIMAGE_DIST) slimage's own.
//
//   - Every folder slimage makes there carries a marker file, and slimage
//     writes into, replaces or deletes no folder without one: pointed at a
//     folder that already holds the user's files (the module root, say),
//     it refuses, naming the folder, instead of deleting them.
//   - A folder is replaced whole, never emptied first: the new one is
//     written aside, renamed in, and the old one, renamed out, is deleted
//     last.
//   - The outputs of one run (the image step's build contexts, OCI layout
//     and SBOMs) are put in place together by an Update, or not at all.
//
// Updates live under the output folder (renames stay on one file system)
// and are recovered by Recover, which the run that next holds the output
// folder's lock calls first: an update a killed run committed is finished,
// one it never committed is deleted.
package outdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/slimage/slimage/internal/human"
)

// Marker is the file in every folder slimage makes in the output folder.
const Marker = ".slimage-output"

var markerText = []byte("This folder is slimage's output (github.com/slimage/slimage): its next run replaces or deletes it.\n")

// updatePrefix names the folders that hold updates in progress.
const updatePrefix = ".slimage-update-"

// committedFile, in an update's folder, says the update is committed: its
// new outputs go in place even if the run that wrote them is gone.
const committedFile = "committed"

// NotOursError is a folder slimage would write into, replace or delete
// that it did not make.
type NotOursError struct{ Dir string }

func (e *NotOursError) Error() string {
	return fmt.Sprintf("%s is not slimage's (no %s in it): move it away (or delete it, if a slimage from before marked folders made it), or set SLIMAGE_DIST to a folder of slimage's own", human.Path(e.Dir), Marker)
}

// Owned reports whether dir is a folder slimage made.
func Owned(dir string) bool {
	fi, err := os.Lstat(filepath.Join(dir, Marker))
	return err == nil && fi.Mode().IsRegular()
}

// check says whether dir may be replaced or deleted: it is missing, a
// folder of slimage's, or an empty folder (nothing in it to lose). A file
// or link of that name, or a folder with files and no marker, is the
// user's.
func check(dir string) error {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir() && (Owned(dir) || empty(dir)):
		return nil
	}
	return &NotOursError{Dir: dir}
}

func empty(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return errors.Is(err, io.EOF)
}

// Check refuses a dir slimage may not replace or delete (see Ensure). The
// image step checks every folder it will replace before any work.
func Check(dir string) error { return check(dir) }

// mark writes the marker into dir.
func mark(dir string) error {
	return os.WriteFile(filepath.Join(dir, Marker), markerText, 0o644)
}

// Ensure makes dir, a folder directly in the output folder dist, unless it
// is there; a dir that is there must be slimage's. dist itself is made as
// needed and may be anybody's.
func Ensure(dist, dir string) error {
	if err := check(dir); err != nil {
		return err
	}
	if Owned(dir) {
		return nil
	}
	if empty(dir) {
		return mark(dir)
	}
	if err := os.MkdirAll(dist, 0o755); err != nil {
		return err
	}
	// Made aside and renamed in, so a dir is never there without its marker.
	tmp, err := os.MkdirTemp(dist, "."+filepath.Base(dir)+".new-*")
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err == nil {
		if err = mark(tmp); err == nil {
			if err = os.Rename(tmp, dir); err == nil || Owned(dir) { // or another run made it first
				return nil
			}
		}
	}
	os.RemoveAll(tmp)
	return err
}

// MkdirAll makes dir and its parents. The folders it makes inside dist,
// the output folder, are slimage's (see Ensure); outside dist it is
// os.MkdirAll.
func MkdirAll(dist, dir string) error {
	rel, err := filepath.Rel(dist, dir)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return os.MkdirAll(dir, 0o755)
	}
	at := dist
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		parent := at
		at = filepath.Join(at, part)
		if err := Ensure(parent, at); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes dir, a folder of slimage's; a missing dir is no error.
func Remove(dir string) error {
	if err := check(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// Replace has fill write dir's new content into an empty folder (marked
// already), and puts it in dir's place only once fill succeeded: a failed
// or interrupted fill, or a failure to put it in place, leaves the old dir
// as it was. dist is the output folder dir is in.
func Replace(dist, dir string, fill func(tmp string) error) error {
	u := NewUpdate(dist)
	defer u.Discard()
	tmp, err := u.Dir(filepath.Base(dir))
	if err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		return err
	}
	return u.Commit()
}

// An Update is one run's new outputs in dist: folders and files written
// aside, under dist, and put in place together by Commit. Until then the
// previous outputs stay as they are; a run that fails or is interrupted
// calls Discard, and its new outputs are gone. An Update is not safe for
// concurrent use; runs on one dist take turns (package distlock).
type Update struct {
	dist   string
	dir    string   // dist/.slimage-update-*, made on first use
	names  []string // outputs written (folders and files), by name in dist
	remove []string // outputs to delete
	done   bool
}

// NewUpdate starts an update of the output folder dist. It makes nothing
// until an output is written.
func NewUpdate(dist string) *Update { return &Update{dist: dist} }

// journal is what an update's committed file records.
type journal struct {
	Names  []string `json:"names"`
	Remove []string `json:"remove,omitempty"`
}

func (u *Update) begin() error {
	if u.done {
		return errors.New("update of " + u.dist + " already ended")
	}
	if u.dir != "" {
		return nil
	}
	if err := os.MkdirAll(u.dist, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(u.dist, updatePrefix+"*")
	if err != nil {
		return err
	}
	for _, sub := range []string{"new", "old"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			os.RemoveAll(dir)
			return err
		}
	}
	u.dir = dir
	return nil
}

func (u *Update) add(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, updatePrefix) || name == Marker {
		return "", fmt.Errorf("update %s: %q is not an output's name", u.dist, name)
	}
	if slices.Contains(u.names, name) {
		return "", fmt.Errorf("update %s: %s written twice", u.dist, name)
	}
	if err := u.begin(); err != nil {
		return "", err
	}
	u.names = append(u.names, name)
	return filepath.Join(u.dir, "new", name), nil
}

// Dir returns an empty folder, marked as slimage's, to write name's new
// content into: name is a folder in dist, replaced on Commit. A name
// already in dist that is not slimage's is refused here, before any work.
func (u *Update) Dir(name string) (string, error) {
	if err := check(filepath.Join(u.dist, name)); err != nil {
		return "", err
	}
	p, err := u.add(name)
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		return "", err
	}
	return p, mark(p)
}

// File returns the path to write name's new content to: name is a file of
// slimage's in dist (a record beside an output), replaced on Commit.
func (u *Update) File(name string) (string, error) {
	if fi, err := os.Lstat(filepath.Join(u.dist, name)); err == nil && !fi.Mode().IsRegular() {
		return "", &NotOursError{Dir: filepath.Join(u.dist, name)}
	}
	return u.add(name)
}

// Remove has Commit delete the folder name from dist, if it is there: an
// output this run no longer makes (the contexts of platforms no longer
// built). A folder that is not slimage's is refused.
func (u *Update) Remove(name string) error {
	if err := check(filepath.Join(u.dist, name)); err != nil {
		return err
	}
	if !slices.Contains(u.remove, name) {
		u.remove = append(u.remove, name)
	}
	return nil
}

// RemoveFile has Commit delete the file name from dist, if it is there: a
// record slimage kept beside an output it removes. Anything but a regular
// file of that name is left alone.
func (u *Update) RemoveFile(name string) {
	if fi, err := os.Lstat(filepath.Join(u.dist, name)); err == nil && fi.Mode().IsRegular() && !slices.Contains(u.remove, name) {
		u.remove = append(u.remove, name)
	}
}

// Explain rewrites an error from writing the update's new outputs to
// name their places once in place (dist/image/…, not the update's temp
// folder), with a hint where the cause has an obvious fix.
func (u *Update) Explain(err error) error {
	if err == nil || u.dir == "" {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), filepath.Join(u.dir, "new")+string(filepath.Separator), human.Path(u.dist)+string(filepath.Separator))
	switch {
	case errors.Is(err, syscall.ENOSPC):
		msg += ": free some space on the output folder's file system, or set SLIMAGE_DIST to another"
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS):
		msg += ": make the output folder writable, or set SLIMAGE_DIST to one that is"
	}
	return &explained{msg: msg, err: err}
}

type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// Changes reports whether Commit has anything to do.
func (u *Update) Changes() bool {
	if len(u.names) > 0 {
		return true
	}
	for _, n := range u.remove {
		if _, err := os.Lstat(filepath.Join(u.dist, n)); err == nil {
			return true
		}
	}
	return false
}

// Written reports whether name is among the update's new outputs.
func (u *Update) Written(name string) bool { return slices.Contains(u.names, name) }

// Commit puts every new output in place and deletes the removed ones,
// together: it is meant to run to its end whatever the caller's context
// says (it takes a few renames). A failure part way puts back what it had
// moved, so dist holds the previous outputs or all of the new ones. Only a
// kill can stop it part way; the next run's Recover then finishes it.
func (u *Update) Commit() error {
	if u.done {
		return errors.New("update of " + u.dist + " already ended")
	}
	defer u.Discard()
	if !u.Changes() {
		return nil
	}
	if err := u.begin(); err != nil {
		return err
	}
	for _, n := range append(slices.Clone(u.names), u.remove...) {
		p := filepath.Join(u.dist, n)
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
			continue // a record (File, RemoveFile)
		}
		if err := check(p); err != nil {
			return fmt.Errorf("update %s: %w", human.Path(u.dist), err)
		}
	}
	data, err := json.Marshal(journal{Names: u.names, Remove: u.remove})
	if err != nil {
		return err
	}
	committed := filepath.Join(u.dir, committedFile)
	if err := writeSynced(committed, data); err != nil {
		return fmt.Errorf("update %s: %w", human.Path(u.dist), err)
	}
	if err := rollForward(u.dist, u.dir, journal{Names: u.names, Remove: u.remove}); err != nil {
		if rbErr := rollBack(u.dist, u.dir, journal{Names: u.names, Remove: u.remove}); rbErr == nil {
			os.Remove(committed)
		}
		return err
	}
	return nil
}

// Discard deletes whatever the update wrote and did not commit (and, after
// a commit, the previous outputs it moved out).
func (u *Update) Discard() {
	u.done = true
	if u.dir != "" {
		removeAll(u.dir)
	}
}

// rollForward moves each new output in place (the one there before goes
// to old/) and each removed one out. Every move is checked first, so it
// can be repeated after a kill: what moved already is skipped.
func rollForward(dist, dir string, j journal) error {
	for _, n := range j.Names {
		cur, next, old := filepath.Join(dist, n), filepath.Join(dir, "new", n), filepath.Join(dir, "old", n)
		if !exists(next) {
			continue // moved in already
		}
		if exists(cur) && !exists(old) {
			if err := os.Rename(cur, old); err != nil {
				return moveError(cur, err)
			}
		}
		if err := os.Rename(next, cur); err != nil {
			return moveError(cur, err)
		}
	}
	for _, n := range j.Remove {
		cur, old := filepath.Join(dist, n), filepath.Join(dir, "old", "removed-"+n)
		if exists(cur) && !exists(old) {
			if err := os.Rename(cur, old); err != nil {
				return moveError(cur, err)
			}
		}
	}
	return nil
}

// moveError is a failed rename of p, without the temp paths.
func moveError(p string, err error) error {
	if le, ok := err.(*os.LinkError); ok {
		err = le.Err
	}
	return fmt.Errorf("replace %s: %v: make it writable (and not a mount point)", human.Path(p), err)
}

// rollBack undoes what rollForward did, in reverse.
func rollBack(dist, dir string, j journal) error {
	var errs []error
	for i := len(j.Remove) - 1; i >= 0; i-- {
		n := j.Remove[i]
		cur, old := filepath.Join(dist, n), filepath.Join(dir, "old", "removed-"+n)
		if exists(old) && !exists(cur) {
			errs = append(errs, os.Rename(old, cur))
		}
	}
	for i := len(j.Names) - 1; i >= 0; i-- {
		n := j.Names[i]
		cur, next, old := filepath.Join(dist, n), filepath.Join(dir, "new", n), filepath.Join(dir, "old", n)
		if exists(next) {
			continue // never moved in
		}
		errs = append(errs, os.Rename(cur, next))
		if exists(old) {
			errs = append(errs, os.Rename(old, cur))
		}
	}
	return errors.Join(errs...)
}

// Recover finishes or deletes the updates of runs that ended without
// doing so (a kill, a power cut): committed ones are rolled forward, the
// others deleted. Call it holding dist's lock, before any other output
// is read or written.
func Recover(dist string) error {
	entries, err := os.ReadDir(dist)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		switch {
		case strings.HasPrefix(name, updatePrefix):
			dir := filepath.Join(dist, name)
			if data, err := os.ReadFile(filepath.Join(dir, committedFile)); err == nil {
				var j journal
				if err := json.Unmarshal(data, &j); err != nil {
					return fmt.Errorf("recover %s: %s: %v: delete it", human.Path(dir), committedFile, err)
				}
				if err := rollForward(dist, dir, j); err != nil {
					return fmt.Errorf("recover %s: the run that wrote it was stopped while putting its outputs in place, and they cannot be: %v", human.Path(dir), err)
				}
			}
			removeAll(dir)
		case strings.HasPrefix(name, ".") && strings.Contains(name, ".new-") && Owned(filepath.Join(dist, name)):
			removeAll(filepath.Join(dist, name)) // an Ensure that was killed
		}
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// removeAll deletes a tree of slimage's, making read-only folders in it
// writable first where they stop it.
func removeAll(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(dir)
}

// writeSynced writes a small file and flushes it to disk: the commit point
// must survive whatever stops the commit after it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
