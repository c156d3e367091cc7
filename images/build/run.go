package build

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/client"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/stage"
	"github.com/slimage/slimage/internal/outdir"
)

// An image run is one image step: an ordered list of steps, each handed
// what the ones before it made, then a commit. Everything a run writes
// (the build contexts, the OCI layout, the SBOMs) goes into an
// outdir.Update, and Docker gets the images without their tags; only the
// commit puts the outputs in place and then moves the tags, both or
// neither, so that a failure or an interrupt at any point leaves the
// previous result as it was. A push, the one thing that cannot wait, comes
// last before the commit: a push that fails leaves the local tags where
// they were.
type imageRun struct {
	o             Options
	progress, out io.Writer
	u             *outdir.Update
	tags          []Built // what the run tags, by platform (Builder.Tags)

	contexts []*stage.Context
	cli      *client.Client // nil until connected; connErr says why not
	connErr  error

	// What Docker holds: Built.Unchanged for a tag that names its image
	// already, else an image loaded or built without a tag, which the
	// commit tags (and removeUntagged removes, if the run does not commit).
	built []Built

	attestations []Attestation // by platform
	oci          *ociResult    // the OCI builder's
	pushed       bool          // the run pushed, and recorded it (config.PushedRecord)
}

// imageStep is one thing an image run does, named for what it is doing
// when an interrupt comes (image: interrupted while loading into Docker).
type imageStep struct {
	doing string
	run   func(ctx context.Context, r *imageRun) error
}

// interruptedError is an image run stopped by its context: it names the
// step, and still is the context's error to errors.Is.
type interruptedError struct {
	doing string
	err   error
}

func (e *interruptedError) Error() string { return "image: interrupted while " + e.doing }
func (e *interruptedError) Unwrap() error { return e.err }

// run runs steps in order, then commits. What a run that does not commit
// wrote (its update, the images it gave Docker untagged) is removed.
func (r *imageRun) run(ctx context.Context, steps []imageStep) error {
	r.u = outdir.NewUpdate(r.o.Dist)
	committed := false
	defer func() {
		r.u.Discard()
		if !committed {
			r.removeUntagged()
		}
		if r.cli != nil {
			r.cli.Close()
		}
	}()
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return &interruptedError{s.doing, err}
		}
		fmt.Fprintf(r.progress, "image: %s\n", s.doing)
		if err := s.run(ctx, r); err != nil {
			if ctx.Err() != nil {
				return &interruptedError{s.doing, ctx.Err()}
			}
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return &interruptedError{"finishing", err}
	}
	// The commit: the outputs, then the tags, both to their end whatever
	// ctx says now (an interrupt that comes now waits the few milliseconds
	// they take). Only a kill can come between the two, and the next run
	// then tags what its outputs say.
	if !r.pushed {
		// An earlier run's push record no longer names these images.
		r.u.RemoveFile(config.PushedRecord)
	}
	fmt.Fprintln(r.progress, "image: committing")
	if err := r.u.Commit(); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	committed = true
	return r.tag()
}

// commitTimeout bounds the tagging that follows the outputs' commit.
const commitTimeout = 30 * time.Second

// tag moves each tag to the image the run gave Docker.
func (r *imageRun) tag() error {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	for _, b := range r.built {
		if b.Unchanged {
			continue
		}
		if _, err := r.cli.ImageTag(ctx, client.ImageTagOptions{Source: b.ID, Target: b.Ref}); err != nil {
			return fmt.Errorf("tag %s as %s: %s: run mage image again", shortID(b.ID), b.Ref, daemon.FirstLine(err))
		}
	}
	return nil
}

// removeUntagged removes the images this run gave Docker without a tag
// and did not commit; Docker keeps one that a tag or a container uses.
func (r *imageRun) removeUntagged() {
	if r.cli == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	for _, b := range r.built {
		if !b.Unchanged && b.loaded {
			_, _ = r.cli.ImageRemove(ctx, b.ID, client.ImageRemoveOptions{})
		}
	}
}

// connect is the step that reaches the container engine. Its failure is
// kept, not returned, by a run that can do without (the OCI builder writes
// and pushes its layout, then says Docker is needed for verify).
func connect(optional bool) imageStep {
	return imageStep{"connecting to the container engine", func(ctx context.Context, r *imageRun) error {
		r.cli, r.connErr = daemon.Connect(ctx, r.progress)
		if r.connErr != nil && (!optional || ctx.Err() != nil) {
			return r.connErr
		}
		return nil
	}}
}

// stageContexts is the step that stages every platform's build context.
var stageContexts = imageStep{"staging the build contexts", func(ctx context.Context, r *imageRun) (err error) {
	r.contexts, err = stage.WriteAll(ctx, r.o.Stage, r.u)
	return err
}}
