package targets

import (
	"bytes"
	"io"
	"sync"
)

// linePrefixer writes each whole line it is given after a prefix (the
// service it is about), so the lines of services that run at once stay
// whole and say whose they are.
type linePrefixer struct {
	mu     *sync.Mutex // the destination's, shared by every prefixer on it
	dst    io.Writer
	prefix []byte
	buf    []byte
}

var outputLocks sync.Map // io.Writer → *sync.Mutex

func prefixed(dst io.Writer, name string) *linePrefixer {
	mu, _ := outputLocks.LoadOrStore(dst, &sync.Mutex{})
	return &linePrefixer{mu: mu.(*sync.Mutex), dst: dst, prefix: []byte(name + ": ")}
}

func (w *linePrefixer) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.mu.Lock()
		_, err := w.dst.Write(append(append([]byte{}, w.prefix...), w.buf[:i+1]...))
		w.mu.Unlock()
		w.buf = w.buf[i+1:]
		if err != nil {
			return len(p), err
		}
	}
}

// Flush writes a last line that had no newline.
func (w *linePrefixer) Flush() {
	if len(w.buf) > 0 {
		w.Write([]byte("\n"))
	}
}
