// Package distlock serializes slimage runs that share an output folder
// (an editor's save hook and a terminal, two CI jobs in one workspace):
// the second waits, saying for whom, instead of swapping dist/image under
// the first.
package distlock

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/outdir"
)

// FileName is the lock file in the output folder.
const FileName = ".slimage.lock"

// Lock is a held lock on an output folder.
type Lock struct{ f *os.File }

// File is the lock's open file. A child process that inherits it (as one
// of exec.Cmd's ExtraFiles) holds the lock too, until both have ended:
// slimage's engine does, so a run that starts while a killed run's engine
// still cleans up waits for it.
func (l *Lock) File() *os.File { return l.f }

// Release ends the lock (for this process; a child holding the file keeps
// it until it ends).
func (l *Lock) Release() { unlock(l.f); l.f.Close() }

// Acquire takes dir's lock, waiting while another process holds it, with
// one line to w saying for which process. The lock is the kernel's (an
// advisory lock on the open file), so it ends with its processes however
// they end: a dead run's lock is never in the way. Once it holds the
// lock, Acquire finishes or deletes what a run that was killed left
// half-done in dir (see outdir.Recover).
func Acquire(ctx context.Context, dir string, w io.Writer) (*Lock, error) {
	hint := "make the folder writable, or set SLIMAGE_DIST to one that is"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock output folder %s: %w: %s", dir, err, hint)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock output folder %s: %w: %s", dir, err, hint)
	}
	said := false
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock output folder %s: %w: %s", path, err, hint)
		}
		if ok {
			break
		}
		if !said {
			holder, _ := os.ReadFile(path)
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another process"
			} else {
				who = "pid " + who
			}
			fmt.Fprintf(w, "waiting for another slimage run on %s (%s) to finish\n", human.Path(dir), who)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	l := &Lock{f: f}
	if err := outdir.Recover(dir); err != nil {
		l.Release()
		return nil, err
	}
	return l, nil
}
