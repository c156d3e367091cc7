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
)

// FileName is the lock file in the output folder.
const FileName = ".slimage.lock"

// Acquire takes dir's lock, waiting while another process holds it, with
// one line to w saying for which process. The lock is the kernel's (an
// advisory lock on the open file), so it ends with its process however
// that ends: a dead run's lock is never in the way. release ends it
// earlier.
func Acquire(ctx context.Context, dir string, w io.Writer) (release func(), err error) {
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
	return func() { unlock(f); f.Close() }, nil
}
