// Package gotool runs the go command for slimage's libraries and turns its
// failures into errors that carry what the go command said.
package gotool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Cmd is one invocation of the go command.
type Cmd struct {
	Dir  string   // working directory; "" is the current one
	Env  []string // added to os.Environ(), later entries win
	Args []string // arguments after "go"
}

// Result holds what the go command printed.
type Result struct {
	Stdout []byte
	Stderr string
}

// Run runs the go command. A non-zero exit returns an *ExitError that holds
// stderr, so callers can classify the failure. Cancelling ctx kills the go
// command (and, through its process group semantics, its compiler children).
func Run(ctx context.Context, c Cmd) (Result, error) {
	cmd := exec.CommandContext(ctx, goCmd(), c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
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

// ExitError is a go command that ran and failed.
type ExitError struct {
	Args   []string
	Stderr string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("go %s: %s", strings.Join(e.Args, " "), FirstLine(e.Stderr))
}

// FirstLine returns the first line of go's output that says something,
// skipping the "# package" headers the compiler prints before its errors,
// and counts the rest so a one-line error still admits there is more.
func FirstLine(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "# ") {
			continue
		}
		lines = append(lines, l)
	}
	switch len(lines) {
	case 0:
		return "no output"
	case 1:
		return lines[0]
	default:
		return fmt.Sprintf("%s (+%d more lines)", lines[0], len(lines)-1)
	}
}

// Env is the part of `go env` that slimage needs.
type Env struct {
	GOVERSION   string
	GOHOSTARCH  string
	GOTOOLCHAIN string
	GOFLAGS     string
	GOROOT      string
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
		GOFLAGS: vars["GOFLAGS"], GOROOT: vars["GOROOT"]}
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

// NetworkCause keeps the tail of the go command's message, which names the
// failing operation ("dial tcp 127.0.0.1:1: connect: connection refused").
func NetworkCause(out string) string {
	line := FirstLine(out)
	if i := strings.Index(line, "dial tcp"); i >= 0 {
		return line[i:]
	}
	if i := strings.LastIndex(line, ": "); i >= 0 {
		return line[i+2:]
	}
	return line
}

func goCmd() string {
	// mage -gocmd sets this for the magefile binary; honour the same choice.
	if g := os.Getenv("MAGEFILE_GOCMD"); g != "" {
		return g
	}
	return "go"
}
