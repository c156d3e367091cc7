// Package gotool runs the go command for slimage's libraries and turns its
// failures into errors that carry what the go command said.
package gotool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/slimage/slimage/internal/childproc"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/progress"
)

// Echo, when set, is where Run prints each go command before it runs it,
// as mage's sh prints its own under mage -v (the targets set it then).
var Echo io.Writer

// Cmd is one invocation of the go command.
type Cmd struct {
	Dir  string   // working directory; "" is the current one
	Env  []string // added to os.Environ(), later entries win
	Args []string // arguments after "go"
	// OnLine, if set, sees each line of stderr as the go command writes
	// it (its progress lines, go build -v's package names).
	OnLine func(line string)
}

// Result holds what the go command printed.
type Result struct {
	Stdout []byte
	Stderr string
}

// Run runs the go command. A non-zero exit returns an *ExitError that holds
// stderr, so callers can classify the failure. With Echo set, the command
// is printed first.
//
// Cancelling ctx interrupts the go command and its compilers as Ctrl-C
// would, and kills it if it has not ended StopDelay later; when slimage
// itself dies, the kernel kills it (see childproc). The go command does
// not delete its work folder when interrupted, so it works in a temp
// folder of this call's own (GOTMPDIR), deleted when it ends however it
// ends; one whose slimage was killed is deleted by the next run.
func Run(ctx context.Context, c Cmd) (Result, error) {
	if Echo != nil {
		progress.Print(Echo, "exec: "+c.String())
	}
	work, err := workDir()
	if err != nil {
		return Result{}, fmt.Errorf("run go %s: make its temp folder: %w: set GOTMPDIR or TMPDIR to a writable folder", strings.Join(c.Args, " "), err)
	}
	defer os.RemoveAll(work)
	cmd := exec.CommandContext(ctx, goCmd(), c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(append(os.Environ(), "GOTMPDIR="+work), c.Env...)
	childproc.StoppableGroup(cmd, StopDelay)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	lw := &lineWriter{buf: &stderr, fn: c.OnLine}
	if c.OnLine != nil {
		cmd.Stderr = lw
	}
	err = cmd.Run()
	lw.flush()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.String()}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return res, ctxErr
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return res, &ExitError{Args: c.Args, Stderr: res.Stderr}
		}
		return res, fmt.Errorf("run go %s: %w: install Go or put it on PATH", strings.Join(c.Args, " "), err)
	}
	return res, nil
}

// StopDelay is how long a go command has to end after an interrupt before
// it is killed.
var StopDelay = 10 * time.Second

// workPrefix names the go commands' temp folders: slimage-go-<pid>-…,
// the pid being the slimage process that made it.
const workPrefix = "slimage-go-"

var sweep sync.Once

// workDir makes a temp folder for one go command, in GOTMPDIR (the user's)
// or the system's temp folder. The first call of a process deletes those
// of slimage processes that are gone.
func workDir() (string, error) {
	parent := os.Getenv("GOTMPDIR")
	if parent == "" {
		parent = os.TempDir()
	}
	sweep.Do(func() {
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			rest, ok := strings.CutPrefix(e.Name(), workPrefix)
			pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
			if ok && err == nil && e.IsDir() && pid != os.Getpid() && !childproc.Alive(pid) {
				os.RemoveAll(filepath.Join(parent, e.Name()))
			}
		}
	})
	return os.MkdirTemp(parent, workPrefix+strconv.Itoa(os.Getpid())+"-")
}

// String is the command as a person would type it, with the environment it
// adds and the folder it runs in.
func (c Cmd) String() string {
	var b strings.Builder
	for _, e := range c.Env {
		b.WriteString(e + " ")
	}
	b.WriteString(goCmd())
	for _, a := range c.Args {
		if a == "" || strings.ContainsAny(a, " \t'\"$") {
			a = strconv.Quote(a)
		}
		b.WriteString(" " + a)
	}
	if c.Dir != "" {
		b.WriteString("  (in " + c.Dir + ")")
	}
	return b.String()
}

// lineWriter keeps what is written and hands each complete line to fn.
type lineWriter struct {
	buf  *bytes.Buffer
	fn   func(string)
	part []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.fn(strings.TrimRight(string(w.part[:i]), "\r"))
		w.part = w.part[i+1:]
	}
}

func (w *lineWriter) flush() {
	if w.fn != nil && len(w.part) > 0 {
		w.fn(string(w.part))
		w.part = nil
	}
}

// ExitError is a go command that ran and failed.
type ExitError struct {
	Args   []string
	Stderr string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("go %s: %s", strings.Join(e.Args, " "), Cause(e.Stderr))
}

// progressPrefixes start the lines the go command prints while it works,
// before any error: they say what it was doing, never why it failed.
var progressPrefixes = []string{"go: downloading ", "go: finding ", "go: extracting ", "go: upgraded ",
	"go: added ", "go: downgraded ", "go: removed ", "go: found ", "go: warning: ", "go: module "}

// IsProgress says whether a line of the go command's stderr is one of its
// progress or warning lines rather than an error.
func IsProgress(line string) bool {
	for _, p := range progressPrefixes {
		if strings.HasPrefix(line, p) {
			// "go: module x: ..." is an error unless it is a deprecation notice.
			return p != "go: module " || strings.Contains(line, " is deprecated")
		}
	}
	return false
}

// Cause returns the go command's account of a failure in one line: the
// first line of its output that says something, skipping the progress lines
// it prints before an error (go: downloading …) and the "# package" headers
// the compiler prints before its own, with the rest counted so a one-line
// error still admits there is more. A module that could not be fetched is
// named with the proxy that failed (see fetchCause).
func Cause(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "# ") || IsProgress(l) {
			continue
		}
		lines = append(lines, l)
	}
	switch len(lines) {
	case 0:
		return "no output"
	case 1:
		return fetchCause(lines[0])
	default:
		return fmt.Sprintf("%s (+%d more line%s)", fetchCause(lines[0]), len(lines)-1, human.Plural(len(lines)-1))
	}
}

// fetchFailure is how the go command reports a module it could not fetch
// from a proxy, after an optional "go: " or importing file's position:
//
//	go: golang.org/x/mod@v0.42.0: reading file:///p/golang.org/x/mod/@v/v0.42.0.zip: no such file or directory
//	main.go:6:2: github.com/google/uuid@v1.6.0: Get "http://127.0.0.1:1/github.com/...": dial tcp …: connection refused
var fetchFailure = regexp.MustCompile(`^(?:go: |\S+:\d+:\d+: )?(?:verifying )?([^\s@:]+)@(\S+?): (?:reading |Get ")(\w+://[^\s"]+?)"?: (.+)$`)

// fetchCause rewrites a fetch failure as "download <module>@<version> from
// proxy <proxy>: <cause>", the proxy being the URL without the module's
// part; any other line is the go command's, without its "go: " prefix.
func fetchCause(line string) string {
	m := fetchFailure.FindStringSubmatch(line)
	if m == nil {
		return strings.TrimPrefix(line, "go: ")
	}
	mod, ver, url, cause := m[1], m[2], m[3], m[4]
	proxy := url
	if esc, err := module.EscapePath(mod); err == nil {
		if i := strings.Index(url, "/"+esc+"/@"); i >= 0 {
			proxy = url[:i]
		}
	}
	return fmt.Sprintf("download %s@%s from proxy %s: %s", mod, ver, proxy, cause)
}

// Env is the part of `go env` that slimage needs.
type Env struct {
	GOVERSION   string
	GOHOSTARCH  string
	GOTOOLCHAIN string
	GOFLAGS     string
	GOROOT      string
	GOMODCACHE  string
	// Build holds, as sorted KEY=value lines, the other settings that
	// change what a build makes (architecture levels, experiments, the
	// module cache's place), so a build can tell they are as last time.
	Build string
}

// buildKeys are the settings Env.Build holds. GOOS, GOARCH and CGO_ENABLED
// are not among them: slimage sets those for each build itself.
var buildKeys = []string{"GO386", "GOAMD64", "GOARM", "GOARM64", "GODEBUG", "GOENV", "GOEXPERIMENT",
	"GOFIPS140", "GOMIPS", "GOMIPS64", "GOMODCACHE", "GOPATH", "GOPPC64", "GORISCV64", "GOWASM"}

// ReadEnv asks the go command for its environment. It runs outside any module
// (in the temp dir) so that a go.mod asking for a newer toolchain cannot make
// this very call switch toolchains: GOVERSION is then the local Go's.
func ReadEnv(ctx context.Context) (Env, error) {
	args := append([]string{"env", "-json", "GOVERSION", "GOHOSTARCH", "GOTOOLCHAIN", "GOFLAGS", "GOROOT"}, buildKeys...)
	res, err := Run(ctx, Cmd{Dir: os.TempDir(), Args: args})
	if err != nil {
		return Env{}, err
	}
	var vars map[string]string
	if err := json.Unmarshal(res.Stdout, &vars); err != nil {
		return Env{}, fmt.Errorf("read go env: %w", err)
	}
	env := Env{GOVERSION: vars["GOVERSION"], GOHOSTARCH: vars["GOHOSTARCH"], GOTOOLCHAIN: vars["GOTOOLCHAIN"],
		GOFLAGS: vars["GOFLAGS"], GOROOT: vars["GOROOT"], GOMODCACHE: vars["GOMODCACHE"]}
	var b strings.Builder
	for _, k := range buildKeys { // already sorted
		fmt.Fprintf(&b, "%s=%s\n", k, vars[k])
	}
	env.Build = b.String()
	return env, nil
}

// MayFetchToolchain says whether GOTOOLCHAIN lets the go command switch to
// (or look up) a newer toolchain than the local one when a go.mod asks.
func MayFetchToolchain(gotoolchain string) bool {
	tc := gotoolchain
	return tc == "auto" || tc == "path" || strings.HasSuffix(tc, "+auto") || strings.HasSuffix(tc, "+path")
}

var networkSigns = []string{"dial tcp", "no such host", "connection refused", "i/o timeout",
	"network is unreachable", "GOPROXY=off", "TLS handshake timeout", "connection reset"}

// IsNetworkError says whether the go command's output blames the network
// or the module proxy (GOPROXY=off counts: the proxy is out of reach).
func IsNetworkError(out string) bool {
	for _, s := range networkSigns {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

func goCmd() string {
	// mage -gocmd sets this for the magefile binary; honour the same choice.
	if g := os.Getenv("MAGEFILE_GOCMD"); g != "" {
		return g
	}
	return "go"
}
