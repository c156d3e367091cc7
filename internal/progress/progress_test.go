package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// clock is a fake time the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newTestLine(tty bool) (*Line, *clock, *bytes.Buffer) {
	c := &clock{t: time.Unix(1000, 0)}
	var out bytes.Buffer
	return newLine(&out, "engine local /src/images", tty, c.now), c, &out
}

// step is one thing that happens to a line: time passes, then a call.
type step struct {
	after time.Duration
	do    func(l *Line)
}

func set(phase string, done, total int) func(*Line) {
	return func(l *Line) { l.Set(phase, done, total) }
}
func tick(l *Line) { l.mu.Lock(); l.show(true); l.mu.Unlock() }

// Outside a terminal: nothing for the first second, then a line for each
// new phase at once and at most one every 10 s within a phase, no control
// characters, and the final line.
func TestPlainLog(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		final string
		want  []string
	}{
		{"quick work shows only its result", []step{{0, set("compiling packages", 0, 10)}, {500 * time.Millisecond, func(l *Line) { l.Add(10) }}},
			"built", []string{"built"}},
		{"a phase line, then one per 10 s", []step{
			{0, set("downloading modules", 0, 62)},
			{1500 * time.Millisecond, func(l *Line) { l.Add(5) }}, // past the quiet second: shown
			{2 * time.Second, func(l *Line) { l.Add(5) }},         // 3.5 s: too soon
			{4 * time.Second, tick},                               // 7.5 s: too soon
			{5 * time.Second, tick},                               // 12.5 s: shown
			{time.Second, set("compiling packages", 0, 335)},      // a new phase: at once
			{time.Second, func(l *Line) { l.Add(100) }},           // too soon
		}, "engine: built local /src/images in 15s", []string{
			"engine local /src/images: downloading modules: 5 of 62 (2s)",
			"engine local /src/images: downloading modules: 10 of 62 (13s)",
			"engine local /src/images: compiling packages: 0 of 335 (14s)",
			"engine: built local /src/images in 15s"}},
		{"no count", []step{{0, set("resolving github.com/slimage/slimage/images v1.2.3", -1, 0)}, {2 * time.Second, tick}},
			"", []string{"engine local /src/images: resolving github.com/slimage/slimage/images v1.2.3 (2s)"}},
		{"a bound, not a count", []step{{0, func(l *Line) { l.SetUpTo("downloading modules", 0, 65) }}, {1100 * time.Millisecond, func(l *Line) { l.Add(12) }}},
			"", []string{"engine local /src/images: downloading modules: 12 of up to 65 (1s)"}},
		{"a count with no total yet", []step{{0, set("compiling packages", 0, 0)}, {1100 * time.Millisecond, func(l *Line) { l.Add(3) }}},
			"", []string{"engine local /src/images: compiling packages: 3 (1s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c, out := newTestLine(false)
			for _, s := range tt.steps {
				c.add(s.after)
				s.do(l)
			}
			l.End(tt.final)
			if strings.ContainsAny(out.String(), "\r\033") {
				t.Errorf("control characters in a log: %q", out.String())
			}
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if out.Len() == 0 {
				got = nil
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("wrote\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// In a terminal: one line redrawn in place, cleared at the end, then the
// final line; a line printed meanwhile (mage -v's commands) gets a row of
// its own.
func TestTerminalLine(t *testing.T) {
	l, c, out := newTestLine(true)
	active.Store(l)
	l.Set("compiling packages", 0, 335)
	c.add(1100 * time.Millisecond)
	l.Add(1)
	c.add(300 * time.Millisecond)
	l.Add(1)
	c.add(50 * time.Millisecond)
	l.Add(1) // too soon after the last redraw: waits for the tick
	c.add(200 * time.Millisecond)
	tick(l)
	Print(out, "exec: go build")
	c.add(200 * time.Millisecond)
	tick(l)
	l.End("engine: built")
	want := "\r\033[Kengine local /src/images: compiling packages: 1 of 335 (1s)" +
		"\r\033[Kengine local /src/images: compiling packages: 2 of 335 (1s)" +
		"\r\033[Kengine local /src/images: compiling packages: 3 of 335 (2s)" +
		"\r\033[Kexec: go build\n" +
		"\r\033[Kengine local /src/images: compiling packages: 3 of 335 (2s)" +
		"\r\033[Kengine: built\n"
	if out.String() != want {
		t.Errorf("wrote %q\nwant  %q", out.String(), want)
	}
	if active.Load() != nil {
		t.Error("the ended line is still the active one")
	}
}

// A title too wide for the terminal is shortened in its middle; the state,
// which is what moves, is kept whole.
func TestTerminalWidth(t *testing.T) {
	l, c, _ := newTestLine(true)
	l.width = 60
	l.title = "engine github.com/slimage/slimage/images v1.2.3-0.20261201223344-abcdef123456"
	l.Set("compiling packages", 120, 335)
	c.add(65 * time.Second)
	got := l.text(c.now())
	if utf8.RuneCountInString(got) > 59 || !strings.HasSuffix(got, ": compiling packages: 120 of 335 (1m05s)") || !strings.HasPrefix(got, "engine ") {
		t.Errorf("%q (%d columns) does not fit 60 columns with its state whole", got, utf8.RuneCountInString(got))
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{400 * time.Millisecond: "0s", 8 * time.Second: "8s", 65 * time.Second: "1m05s", 3*time.Minute + 2*time.Second: "3m02s"} {
		if got := Seconds(d); got != want {
			t.Errorf("Seconds(%v) = %q, want %q", d, got, want)
		}
	}
}

// Work whose output is discarded reports nothing, and costs nothing: no
// line, no timer.
func TestDiscarded(t *testing.T) {
	l := Start(io.Discard, "build linux/amd64")
	if l != nil {
		t.Fatal("a line for io.Discard")
	}
	l.Set("compiling packages", 1, 2)
	l.SetUpTo("downloading modules", 1, 2)
	l.Add(1)
	l.End("done")
	if l.Elapsed() != 0 {
		t.Error("a discarded line has an elapsed time")
	}
}
