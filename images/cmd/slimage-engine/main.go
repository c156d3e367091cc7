// Command slimage-engine runs one image step for slimage's mage targets,
// which start it as a child process so that importing them costs a service
// nothing:
//
//	slimage-engine image                build (and load) the image
//	slimage-engine verify               verify every platform's image
//	slimage-engine verify-image <ref>   verify an image built elsewhere
//	slimage-engine vulncheck            check the built binaries for reachable vulnerabilities
//	slimage-engine version              print the engine's module versions
//
// The configuration comes resolved from the front, as JSON in
// SLIMAGE_ENGINE_CONFIG (see config.Document). A failed step prints its
// one-line cause as its last line on stderr, after "slimage-engine error: ",
// and exits 1. An interrupt (Ctrl-C, or the front's context
// being cancelled) stops the step, which still removes its containers and
// half-written folders.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/verify"
	"github.com/slimage/slimage/images/vulncheck"
)

func main() {
	// A short-lived process whose heap is a few layers of a few MB: collect
	// less often (with the default, the collector took ~18% of the CPU of a
	// one-line change's image step here).
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, config.EngineErrorPrefix+strings.ReplaceAll(err.Error(), "\n", "; "))
	os.Exit(1)
}

func run(ctx context.Context, args []string) error {
	if len(args) == 1 && args[0] == "version" {
		printVersion(os.Stdout)
		return nil
	}
	if len(args) == 0 {
		return errors.New("slimage-engine: no step: run image, verify, verify-image <ref>, vulncheck or version (the mage targets start it for you)")
	}
	data, ok := os.LookupEnv(config.EngineConfigVar)
	if !ok {
		return fmt.Errorf("slimage-engine %s: no configuration in %s: run it through the mage targets (mage %s)", args[0], config.EngineConfigVar, args[0])
	}
	doc, err := config.UnmarshalDocument([]byte(data))
	if err != nil {
		return err
	}
	if err := checkSameRelease(doc.Slimage); err != nil {
		return err
	}
	c := doc.Config
	defer daemon.Close()
	progress := io.Discard
	if doc.Verbose {
		progress = os.Stdout
	}
	switch step := args[0]; {
	case step == "image" && len(args) == 1 && doc.Resolved:
		_, err := build.Build(ctx, c, progress, os.Stdout)
		return err
	case step == "verify" && len(args) == 1 && doc.Resolved:
		// Every platform is verified, and every failure reported, before failing.
		var runs []verify.Run
		for _, t := range build.Tags(c) {
			rep, err := verify.Verify(ctx, c, t.Ref, progress, os.Stdout)
			runs = append(runs, verify.Run{Image: t.Ref, Platform: t.Platform.String(), Report: rep, Err: err})
		}
		return reportRuns(ctx, c, runs)
	case step == "vulncheck" && len(args) == 1 && doc.Resolved:
		return vulncheck.Check(ctx, c, os.Stdout)
	case step == "verify-image" && len(args) == 2:
		rep, err := verify.External(ctx, c, args[1], progress, os.Stdout)
		r := verify.Run{Image: args[1], Report: rep, Err: err}
		if rep != nil {
			r.Platform = rep.Platform
		}
		return reportRuns(ctx, c, []verify.Run{r})
	}
	return fmt.Errorf("slimage-engine: %q is not a step this engine runs with this configuration: the front and the engine disagree; rebuild the magefile", args)
}

// reportRuns writes the CI reports of a verify (unless it was interrupted)
// and fails with every run's error.
func reportRuns(ctx context.Context, c *config.Config, runs []verify.Run) error {
	var failed []string
	for _, r := range runs {
		if r.Err != nil {
			failed = append(failed, r.Err.Error())
		}
	}
	if ctx.Err() == nil {
		if err := verify.WriteCIReports(c.Dist, runs, os.Stdout); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// checkSameRelease refuses to run for a front of another release. The
// front builds the engine with itself pinned, so this only trips on an
// engine binary run by hand or copied between releases.
func checkSameRelease(front string) error {
	if front == "" || front == "(local)" {
		return nil
	}
	if v := build.SlimageVersion(); v != "(devel)" && v != front {
		return fmt.Errorf("slimage-engine: this engine is built with slimage %s, the targets are slimage %s: delete the engine cache (<user cache>/slimage/engine) and run mage deps", v, front)
	}
	return nil
}

func printVersion(w io.Writer) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(w, "slimage-engine: no build info")
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
