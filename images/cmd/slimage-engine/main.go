// Command slimage-engine runs one image step for slimage's mage targets,
// which start it as a child process so that importing them costs a service
// nothing:
//
//	slimage-engine image                build (and load) the image
//	slimage-engine verify               verify every platform's image
//	slimage-engine verify-image <ref>   verify an image built elsewhere
//	slimage-engine verify-image <ref> <registry/repository@sha256:…>
//	                                    pull exactly that digest and verify each
//	                                    platform's image; ref must still name it
//	slimage-engine merge                join per-platform pushes into one index
//	slimage-engine version              print the engine's module versions
//
// vulncheck is a command of its own (slimage-vulncheck), built only when
// it is used. The configuration comes resolved from the front, as JSON in
// SLIMAGE_ENGINE_CONFIG (see contract.Document); package step says how a
// step ends.
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/internal/step"
	"github.com/slimage/slimage/images/verify"
	"github.com/slimage/slimage/internal/contract"
)

const command = "slimage-engine"

func main() {
	// A short-lived process whose heap is a few layers of a few MB: collect
	// less often (with the default, the collector took ~18% of the CPU of a
	// one-line change's image step here).
	debug.SetGCPercent(400)
	step.Main(command, "image, verify, verify-image <ref> or merge", run)
}

func run(ctx context.Context, doc *contract.Document, args []string) error {
	c := doc.Config
	defer daemon.Close()
	progress := io.Discard
	if doc.Verbose {
		progress = os.Stdout
	}
	switch s := args[0]; {
	case s == "image" && len(args) == 1 && doc.Resolved:
		_, err := build.Build(ctx, c, progress, os.Stdout)
		return err
	case s == "verify" && len(args) == 1 && doc.Resolved:
		// Every platform is verified, and every failure reported, before failing.
		var runs []verify.Run
		for _, t := range build.Tags(c) {
			rep, err := verify.Verify(ctx, c, t.Ref, progress, os.Stdout)
			runs = append(runs, verify.Run{Image: t.Ref, Platform: t.Platform.String(), Report: rep, Err: err})
		}
		return reportRuns(ctx, c, runs)
	case s == "merge" && len(args) == 1 && doc.Resolved:
		_, err := build.Merge(ctx, build.MergeOptionsOf(c), os.Stdout)
		return err
	case s == "verify-image" && len(args) == 3:
		return reportRuns(ctx, c, verify.Pulled(ctx, c, args[1], args[2], progress, os.Stdout))
	case s == "verify-image" && len(args) == 2:
		rep, err := verify.External(ctx, c, args[1], progress, os.Stdout)
		r := verify.Run{Image: args[1], Report: rep, Err: err}
		if rep != nil {
			r.Platform = rep.Platform
		}
		return reportRuns(ctx, c, []verify.Run{r})
	}
	return step.Unknown(command, args)
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
