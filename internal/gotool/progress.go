package gotool

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/slimage/slimage/internal/progress"
)

// Phases the progress line names, one word each for what the go command
// is doing.
const (
	PhaseDownload = "downloading modules"
	PhaseCompile  = "compiling packages"
)

// packageLine is what go build -v prints for each package it compiles: an
// import path alone on its line (errors and headers have spaces or colons).
var packageLine = regexp.MustCompile(`^[\w.~+-]+(/[\w.~+-]+)*$`)

// Build runs `go build -v -o out flags pkgs` for c.Dir and c.Env, showing
// on l (nil: nothing) the modules the go command downloads and the
// packages it compiles. total is the number of packages to compile when
// the caller knows it (see Stale); 0 asks go list for it, but only once
// the build has run for a second, so a build with nothing to do never pays
// for the question. What Result and the error hold of stderr leaves out
// -v's package names, so the error is the go command's own.
func Build(ctx context.Context, c Cmd, out string, flags, pkgs []string, total int, l *progress.Line) (Result, error) {
	c.Args = append(append([]string{"build", "-v", "-o", out}, flags...), pkgs...)
	var (
		mu       sync.Mutex
		compiled int
		fetched  int
	)
	show := func() {
		if compiled > 0 || fetched == 0 {
			l.Set(PhaseCompile, compiled, total) // total 0: not known yet
		} else {
			l.Set(PhaseDownload, fetched, 0)
		}
	}
	if l != nil {
		show()
		c.OnLine = func(line string) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case strings.HasPrefix(line, "go: downloading "):
				fetched++
			case packageLine.MatchString(line):
				compiled++
			default:
				return
			}
			show()
		}
		if total == 0 {
			askCtx, stop := context.WithCancel(ctx)
			defer stop()
			timer := time.AfterFunc(time.Second, func() {
				mu.Lock()
				before := compiled
				mu.Unlock()
				n, err := Stale(askCtx, Cmd{Dir: c.Dir, Env: c.Env}, flags, pkgs, nil)
				if err != nil || askCtx.Err() != nil {
					return
				}
				mu.Lock()
				total = before + n
				show()
				mu.Unlock()
			})
			defer timer.Stop()
		}
	}
	res, err := Run(ctx, c)
	res.Stderr = withoutPackages(res.Stderr)
	if exit, ok := err.(*ExitError); ok {
		exit.Stderr = res.Stderr
	}
	return res, err
}

// withoutPackages drops go build -v's package names from its stderr.
func withoutPackages(stderr string) string {
	lines := strings.SplitAfter(stderr, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !packageLine.MatchString(strings.TrimSpace(l)) {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "")
}

// Stale counts the packages that `go build flags pkgs` would compile (go
// list's Stale, with the same flags, so the same cache keys), downloading
// the modules they need first; onDownload, if set, is called for each
// module the go command downloads.
func Stale(ctx context.Context, c Cmd, flags, pkgs []string, onDownload func()) (int, error) {
	c.Args = append(append([]string{"list", "-deps", "-f", "{{if .Stale}}stale{{end}}"}, flags...), pkgs...)
	if onDownload != nil {
		c.OnLine = func(line string) {
			if strings.HasPrefix(line, "go: downloading ") {
				onDownload()
			}
		}
	}
	res, err := Run(ctx, c)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(res.Stdout), "stale"), nil
}

// Download runs c, a go command that downloads mods (go mod download),
// showing on l (nil: nothing) how many of them have their zip in the
// module cache at modcache, looked at four times a second: the go command
// prints nothing while it downloads.
func Download(ctx context.Context, c Cmd, modcache string, mods []module.Version, l *progress.Line) (Result, error) {
	if l == nil || len(mods) == 0 {
		return Run(ctx, c)
	}
	count := func() { l.Set(PhaseDownload, Downloaded(modcache, mods), len(mods)) }
	count()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				count()
			}
		}
	}()
	res, err := Run(ctx, c)
	close(done)
	return res, err
}

// Downloaded counts the modules of mods whose zip is in the module cache
// at modcache: the go command puts it there, complete, once it has the
// module.
func Downloaded(modcache string, mods []module.Version) int {
	n := 0
	for _, m := range mods {
		if HasZip(modcache, m) {
			n++
		}
	}
	return n
}

// HasZip says whether the module cache at modcache holds m's zip.
func HasZip(modcache string, m module.Version) bool {
	p, err := module.EscapePath(m.Path)
	if err != nil {
		return false
	}
	v, err := module.EscapeVersion(m.Version)
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(modcache, "cache", "download", p, "@v", v+".zip"))
	return err == nil
}

// Requires lists the modules go.mod at gomod requires, as the go command
// will fetch them: a replace by another module version stands for the
// module it replaces, and one by a folder needs no download.
func Requires(gomod string) ([]module.Version, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return nil, err
	}
	f, err := modfile.ParseLax(gomod, data, nil)
	if err != nil {
		return nil, err
	}
	var mods []module.Version
	for _, r := range f.Require {
		m := r.Mod
		for _, rep := range f.Replace {
			if rep.Old.Path == m.Path && (rep.Old.Version == "" || rep.Old.Version == m.Version) {
				m = rep.New
			}
		}
		if m.Version != "" && !modfile.IsDirectoryPath(m.Path) {
			mods = append(mods, m)
		}
	}
	return mods, nil
}
