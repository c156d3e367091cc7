// Package progress shows that long work is moving: what it is doing, how
// far it is (12 of 62 modules), and for how long. In a terminal that is one
// line updated in place; anywhere else (a CI log, a file) it is a plain
// line when a phase starts and at most one line every 10 s while it lasts,
// with no control characters. Work that ends within a second shows
// nothing, so a no-op run prints what it printed before.
package progress

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

const (
	quiet     = time.Second      // nothing is shown for work shorter than this
	plainGap  = 10 * time.Second // a log gets at most one line this often
	redrawGap = 200 * time.Millisecond
)

// Line reports one piece of work. Its methods may be called from any
// goroutine.
type Line struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	width   int
	title   string
	start   time.Time
	now     func() time.Time
	phase   string
	done    int
	total   int
	upTo    bool      // total is a bound, not a count
	shown   bool      // something of this work has been written
	drawn   string    // tty: the text on screen now
	printed time.Time // plain: when the last line was written
	said    string    // plain: the phase of the last line written
	stop    chan struct{}
	ended   bool
}

// Start begins reporting the work called title ("engine local
// /src/slimage/images") on w, a terminal or not. For io.Discard it returns
// nil, and a nil *Line reports nothing: callers that asked for no output
// pay for no progress (a go list to count packages, a timer).
func Start(w io.Writer, title string) *Line {
	if w == io.Discard {
		return nil
	}
	l := newLine(w, title, IsTerminal(w), time.Now)
	active.Store(l)
	go l.run()
	return l
}

func newLine(w io.Writer, title string, tty bool, now func() time.Time) *Line {
	width := 80
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 20 {
		width = n
	}
	return &Line{w: w, tty: tty, width: width, title: title, start: now(), now: now, done: -1, stop: make(chan struct{})}
}

// IsTerminal says whether w is a terminal that takes a line redrawn in
// place (not TERM=dumb).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Set says what the work is doing now: a phase ("compiling packages") and,
// when there is a count, done of total (total 0: not known yet; done < 0:
// no count).
func (l *Line) Set(phase string, done, total int) { l.set(phase, done, total, false) }

// SetUpTo is Set where the total is only a bound: the work may end before
// it gets there ("downloading modules: 12 of up to 65").
func (l *Line) SetUpTo(phase string, done, bound int) { l.set(phase, done, bound, true) }

func (l *Line) set(phase string, done, total int, upTo bool) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase, l.done, l.total, l.upTo = phase, done, total, upTo
	l.show(false)
}

// Add counts n more done in the current phase.
func (l *Line) Add(n int) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done < 0 {
		l.done = 0
	}
	l.done += n
	l.show(false)
}

// End stops the reporting. In a terminal the live line is removed; final,
// when not empty, is then written as a line of its own, whether or not
// anything was shown.
func (l *Line) End(final string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.ended = true
	close(l.stop)
	active.CompareAndSwap(l, nil)
	if l.tty && l.drawn != "" {
		io.WriteString(l.w, "\r\033[K")
	}
	if final != "" {
		fmt.Fprintln(l.w, final)
	}
}

// Elapsed is how long the work has run.
func (l *Line) Elapsed() time.Duration {
	if l == nil {
		return 0
	}
	return l.now().Sub(l.start)
}

func (l *Line) run() {
	t := time.NewTicker(redrawGap)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.show(true)
			l.mu.Unlock()
		}
	}
}

// show writes the state if it is time to: in a terminal, whenever the text
// changed (the elapsed seconds included); in a log, at once for a new
// phase and else when plainGap has passed. tick is the timer's call.
func (l *Line) show(tick bool) {
	if l.ended || l.phase == "" {
		return
	}
	now := l.now()
	if now.Sub(l.start) < quiet {
		return
	}
	text := l.text(now)
	if l.tty {
		if text == l.drawn || (!tick && l.shown && now.Sub(l.printed) < redrawGap) {
			return
		}
		fmt.Fprintf(l.w, "\r\033[K%s", text)
		l.drawn, l.printed, l.shown = text, now, true
		return
	}
	if l.shown && l.phase == l.said && now.Sub(l.printed) < plainGap {
		return
	}
	fmt.Fprintln(l.w, text)
	l.printed, l.said, l.shown = now, l.phase, true
}

// text is "title: phase: 12 of 62 (8s)", shortened in the middle of the
// title to fit a terminal's width.
func (l *Line) text(now time.Time) string {
	state := l.phase
	switch {
	case l.done >= 0 && l.total > 0 && l.upTo:
		state += fmt.Sprintf(": %d of up to %d", min(l.done, l.total), l.total)
	case l.done >= 0 && l.total > 0:
		state += fmt.Sprintf(": %d of %d", min(l.done, l.total), l.total)
	case l.done >= 0:
		state += fmt.Sprintf(": %d", l.done)
	}
	state += " (" + Seconds(now.Sub(l.start)) + ")"
	title := l.title
	if l.tty {
		r := []rune(title)
		if room := l.width - 1 - utf8.RuneCountInString(state) - 2; len(r) > room && room > 8 {
			keep := room - 1
			title = string(r[:keep/2]) + "…" + string(r[len(r)-(keep-keep/2):])
		}
	}
	return title + ": " + state
}

// Seconds is d as a person counts long work: 8s, 1m05s.
func Seconds(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s < 60 {
		return strconv.Itoa(s) + "s"
	}
	return fmt.Sprintf("%dm%02ds", s/60, s%60)
}

// Print writes a line of other output (mage -v's commands) so that it does
// not share a row with a live terminal line: that line is cleared first
// and redrawn on its next tick.
func Print(w io.Writer, line string) {
	if l := active.Load(); l != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.tty && l.drawn != "" && !l.ended {
			io.WriteString(l.w, "\r\033[K")
			l.drawn = ""
		}
	}
	fmt.Fprintln(w, line)
}

// active is the line that Start began and End has not ended: slimage does
// one long thing at a time.
var active atomic.Pointer[Line]
