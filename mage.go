//go:build ignore

// The zero-install entry point: `go run mage.go <target>` runs this
// repository's magefile with no mage installed.
//
// It builds mage (the version go.mod requires) into the user cache, has it
// compile the magefile there, and runs the compiled magefile in its own
// place, with the flags slimage builds everything with (-trimpath added to
// GOFLAGS, and CGO_ENABLED=0 unless you set it): the standard library is
// then compiled once, for mage, the magefile, the sample and the engine
// alike. Only what this file imports is compiled twice, so it imports
// little more than os/exec needs anyway (no fmt, no crypto).
//
// Two runs at once in one checkout are safe: mage writes its generated
// main file (mage_output_file.go) into magefiles/ while it compiles, so
// two compiles at once trip over each other's file; here the compile is
// one run at a time per checkout (a lock), and the run itself is not.
package main

import (
	"errors"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		os.Stderr.WriteString("Error: " + err.Error() + "\n")
		os.Exit(1)
	}
}

func run() error {
	out, err := exec.Command("go", "env", "GOFLAGS").Output()
	if err != nil {
		return errors.New("read go env GOFLAGS: " + err.Error() + ": install Go or put it on PATH")
	}
	env := os.Environ()
	if flags := strings.TrimSpace(string(out)); !strings.Contains(flags, "-trimpath") {
		env = append(env, "GOFLAGS="+strings.TrimSpace(flags+" -trimpath"))
	}
	if _, ok := os.LookupEnv("CGO_ENABLED"); !ok {
		env = append(env, "CGO_ENABLED=0")
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return errors.New("find a folder for mage: no user cache folder (" + err.Error() + "): set HOME or XDG_CACHE_HOME")
	}
	// One per checkout: two checkouts may require different mage versions.
	key := fnv.New64a()
	key.Write([]byte(root))
	dir := filepath.Join(cache, "slimage", "mage", strconv.FormatUint(key.Sum64(), 36))
	mage := filepath.Join(dir, exe("mage"))
	if _, err := os.Stat(mage); err != nil {
		os.Stderr.WriteString("mage: building github.com/magefile/mage into " + dir + " (once)\n")
	}
	// An up-to-date binary is not linked again: this costs a look at the
	// build cache.
	build := exec.Command("go", "build", "-o", mage, "github.com/magefile/mage")
	build.Env, build.Stdout, build.Stderr = env, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return errors.New("build mage: " + err.Error())
	}
	args := os.Args[1:]
	if !compiledTakes(args) {
		// A flag of mage's own (-d, -w, -clean, …): mage runs as itself.
		return execute(mage, args, env)
	}
	magefile, err := compile(dir, mage, env)
	if err != nil {
		return err
	}
	return execute(magefile, args, env)
}

// compiledTakes says whether a compiled magefile takes these arguments
// as mage would: targets and their arguments, and the flags it shares
// with mage (-v, -l, -h, -t <timeout>).
func compiledTakes(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return true // a target: what follows is its arguments
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "v", "l", "h":
		case "t":
			if !hasValue {
				i++
			}
		default:
			return false
		}
	}
	return true
}

// compile has mage compile the magefile into dir, one run at a time, and
// returns the compiled binary. With MAGEFILE_HASHFAST set, as mage itself
// does then, a binary compiled from the same magefiles is reused without
// asking the go command.
func compile(dir, mage string, env []string) (string, error) {
	// Named mage, as mage's own help shows it, beside mage in a folder of
	// its own.
	magefile := filepath.Join(dir, "compiled", exe("mage"))
	if err := os.MkdirAll(filepath.Dir(magefile), 0o755); err != nil {
		return "", err
	}
	stamp := magefile + ".stamp"
	sum, err := magefilesSum(mage)
	if err != nil {
		return "", err
	}
	fast := os.Getenv("MAGEFILE_HASHFAST") != ""
	if fast && fresh(magefile, stamp, sum) {
		return magefile, nil
	}
	release, err := lock(filepath.Join(dir, "compile.lock"))
	if err != nil {
		return "", err
	}
	defer release()
	if fast && fresh(magefile, stamp, sum) { // compiled by the run we waited for
		return magefile, nil
	}
	// Always to the same path: the go command then sees that the binary
	// there is up to date and links nothing (a new path would cost a link,
	// about 0.7 s, on every run); it replaces, never rewrites, the file, so
	// a run still executing the previous one keeps it. MAGEFILE_HASHFAST is
	// this file's to honour: with it, mage would run the binary at the
	// -compile path instead of compiling.
	c := exec.Command(mage, "-compile", magefile)
	c.Env, c.Stdout, c.Stderr = without(env, "MAGEFILE_HASHFAST"), os.Stderr, os.Stderr
	if err := c.Run(); err != nil {
		return "", errors.New("compile the magefile: " + err.Error() + " (mage's message is above)")
	}
	os.WriteFile(stamp, []byte(sum), 0o644)
	return magefile, nil
}

// without is env less the variable name.
func without(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// magefilesSum identifies the magefile's sources and the mage that
// compiles them: a hash of each .go file's name and content in magefiles/
// (else in this folder), and of mage's file.
func magefilesSum(mage string) (string, error) {
	src := "magefiles"
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		src = "."
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	h := fnv.New128a()
	if fi, err := os.Stat(mage); err == nil {
		h.Write([]byte(mage + " " + strconv.FormatInt(fi.Size(), 10) + " " + fi.ModTime().String() + "\n"))
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || e.IsDir() {
			continue
		}
		f, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			return "", err
		}
		h.Write([]byte("\n" + e.Name() + "\n"))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return strconv.Quote(string(h.Sum(nil))), nil
}

func fresh(magefile, stamp, sum string) bool {
	data, err := os.ReadFile(stamp)
	if err != nil || string(data) != sum {
		return false
	}
	_, err = os.Stat(magefile)
	return err == nil
}

// lock takes the checkout's compile lock: a file made only if absent,
// holding its holder's process ID. A holder that is gone (its process no
// longer runs, or, where that cannot be told, the lock is older than any
// compile) does not keep it. Ctrl-C while waiting or compiling releases
// it.
func lock(path string) (release func(), err error) {
	said := false
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.WriteString(strconv.Itoa(os.Getpid()))
			f.Close()
			interrupted := make(chan os.Signal, 1)
			signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
			done := make(chan struct{})
			go func() {
				select {
				case <-interrupted:
					os.Remove(path)
					os.Exit(130)
				case <-done:
				}
			}()
			return func() {
				close(done)
				signal.Stop(interrupted)
				os.Remove(path)
			}, nil
		}
		if !os.IsExist(err) {
			return nil, errors.New("lock the magefile's compile: " + err.Error())
		}
		if stale(path) {
			os.Remove(path)
			continue
		}
		if !said {
			os.Stderr.WriteString("mage: waiting for another run in this checkout to compile the magefile\n")
			said = true
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stale(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false // released meanwhile: try again
	}
	data, _ := os.ReadFile(path)
	pid, err := strconv.Atoi(string(data))
	if err != nil {
		return time.Since(fi.ModTime()) > 5*time.Second // never finished writing its pid
	}
	if runtime.GOOS != "windows" {
		p, err := os.FindProcess(pid)
		if err != nil {
			return true
		}
		err = p.Signal(syscall.Signal(0))
		return err != nil && !errors.Is(err, syscall.EPERM) // EPERM: alive, another user's
	}
	return time.Since(fi.ModTime()) > 30*time.Minute
}

// execute runs bin with args in this process's place, so Ctrl-C and
// signals reach it as they reached `go run`'s child before.
func execute(bin string, args, env []string) error {
	if runtime.GOOS != "windows" {
		return syscall.Exec(bin, append([]string{bin}, args...), env)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, os.Stdout, os.Stderr
	var exit *exec.ExitError
	if err := cmd.Run(); errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	} else if err != nil {
		return err
	}
	return nil
}

func exe(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}
