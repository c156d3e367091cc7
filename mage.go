//go:build ignore

// The zero-install entry point: `go run mage.go <target>` runs this
// repository's magefile with no mage installed.
//
// It builds mage (the version go.mod requires) into the user cache and
// runs it in its own place, with the flags slimage builds everything with
// (-trimpath added to GOFLAGS, and CGO_ENABLED=0 unless you set it): the
// standard library is then compiled once, for mage, the magefile, the
// sample and the engine alike. Compiled into this command instead, with
// the go command's defaults, mage would take its standard library a second
// time on a fresh machine (about 10 s here). Only what this file imports
// is compiled twice, so it imports little more than os/exec needs anyway
// (no fmt, no crypto).
package main

import (
	"errors"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
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
	bin := filepath.Join(cache, "slimage", "mage", strconv.FormatUint(key.Sum64(), 36), "mage")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	if _, err := os.Stat(bin); err != nil {
		os.Stdout.WriteString("mage: building github.com/magefile/mage into " + filepath.Dir(bin) + " (once)\n")
	}
	// An up-to-date binary is not linked again: this costs a look at the
	// build cache.
	build := exec.Command("go", "build", "-o", bin, "github.com/magefile/mage")
	build.Env, build.Stdout, build.Stderr = env, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return errors.New("build mage: " + err.Error())
	}
	args := append([]string{bin}, os.Args[1:]...)
	if runtime.GOOS != "windows" {
		// mage takes this process's place, so Ctrl-C and signals reach it
		// as they reached `go run`'s child before.
		return syscall.Exec(bin, args, env)
	}
	cmd := exec.Command(bin, args[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, os.Stdout, os.Stderr
	var exit *exec.ExitError
	if err := cmd.Run(); errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	} else if err != nil {
		return err
	}
	return nil
}
