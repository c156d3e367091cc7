// Package step is what every engine command shares: the configuration the
// front hands over, the check that both come from one release, Ctrl-C,
// and the one-line error the front reads. Each command (slimage-engine,
// slimage-vulncheck) is its own binary, built on first use, so a step
// nobody runs costs no build.
package step

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/slimage/slimage/internal/contract"
)

// Run is one command's steps: args are its arguments (the step's name
// first), doc the configuration from the front.
type Run func(ctx context.Context, doc *contract.Document, args []string) error

// Main runs a command: steps names what it runs, for the error a person
// gets who starts it by hand. An interrupt (Ctrl-C, the front's context
// being cancelled, or the front dying: see watchParent) cancels ctx, and
// the step still removes what it made, within CleanupLimit: the engine
// never outlives its run by more. A failed step prints its one-line cause
// as the last line on stderr, after contract.EngineErrorPrefix, and exits 1.
func Main(name, steps string, run Run) {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-signals:
		case <-watchParent(ctx):
		}
		cancel()
		// Later signals change nothing: the clean-up is under way, and
		// bounded.
		time.AfterFunc(CleanupLimit, func() {
			fmt.Fprintln(os.Stderr, contract.EngineErrorPrefix+name+": interrupted, and its clean-up took longer than "+CleanupLimit.String()+": stopped")
			os.Exit(1)
		})
	}()
	err := runStep(ctx, name, steps, run, os.Args[1:])
	cancel()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, contract.EngineErrorPrefix+strings.ReplaceAll(err.Error(), "\n", "; "))
	os.Exit(1)
}

// CleanupLimit is how long a step may take to clean up after an
// interrupt (its containers, its half-written folders) before the engine
// exits anyway: less than the front waits for it.
const CleanupLimit = 45 * time.Second

// watchParent is closed when the process that started the engine ends,
// seen as the parent process ID changing (the orphan is adopted by init
// or a subreaper). On Linux the kernel also signals it (the front sets a
// parent-death signal); this covers the systems that have none.
func watchParent(ctx context.Context) <-chan struct{} {
	gone := make(chan struct{})
	parent := os.Getppid()
	if parent <= 1 {
		return gone // started by init, or no parent to watch (Windows)
	}
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if os.Getppid() != parent {
					close(gone)
					return
				}
			}
		}
	}()
	return gone
}

func runStep(ctx context.Context, name, steps string, run Run, args []string) error {
	if len(args) == 1 && args[0] == "version" {
		printVersion(os.Stdout)
		return nil
	}
	if len(args) == 0 {
		return fmt.Errorf("%s: no step: run %s or version (the mage targets start it for you)", name, steps)
	}
	data, ok := os.LookupEnv(contract.EngineConfigVar)
	if !ok {
		return fmt.Errorf("%s %s: no configuration in %s: run it through the mage targets (mage %s)", name, args[0], contract.EngineConfigVar, args[0])
	}
	doc, err := contract.UnmarshalDocument([]byte(data))
	if err != nil {
		return err
	}
	if err := checkSameRelease(name, doc.Slimage); err != nil {
		return err
	}
	return run(ctx, doc, args)
}

// Unknown is the error for arguments a command does not take with this
// configuration: the front and the engine disagree.
func Unknown(name string, args []string) error {
	return fmt.Errorf("%s: %q is not a step this engine runs with this configuration: the front and the engine disagree; rebuild the magefile", name, args)
}

// checkSameRelease refuses to run for a front of another release. The
// front builds the engine with itself pinned, so this only trips on an
// engine binary run by hand or copied between releases.
func checkSameRelease(name, front string) error {
	if front == "" || front == "(local)" {
		return nil
	}
	if v := SlimageVersion(); v != "(devel)" && v != front {
		return fmt.Errorf("%s: this engine is built with slimage %s, the targets are slimage %s: delete the engine cache (<user cache>/slimage/engine) and run mage deps", name, v, front)
	}
	return nil
}

// SlimageVersion is the slimage release this engine was built from, as
// its build information records the front module: "(devel)" when built
// from a folder (a replace without a version, or no version at all).
func SlimageVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path != "github.com/slimage/slimage" {
				continue
			}
			v := d.Version
			if d.Replace != nil {
				v = d.Replace.Version
			}
			if v != "" {
				return v
			}
		}
	}
	return "(devel)"
}

func printVersion(w io.Writer) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(w, "no build info")
		return
	}
	fmt.Fprintf(w, "%s %s\n", bi.Main.Path, bi.Main.Version)
	for _, d := range bi.Deps {
		if d.Path == "github.com/slimage/slimage" {
			v := d.Version
			if d.Replace != nil {
				v += " => " + d.Replace.Path + " " + d.Replace.Version
			}
			fmt.Fprintf(w, "%s %s\n", d.Path, v)
		}
	}
	fmt.Fprintln(w, bi.GoVersion)
}
