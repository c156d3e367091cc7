package verify

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/daemon"
)

// Pulled verifies what ref named when its signature was checked: the
// bytes at digest (registry/repository@sha256:…), pulled, each platform's
// image in turn, as an image built elsewhere; then ref must still name
// digest (a tag moved meanwhile names something that was not verified).
// Each run names the digest; a failure of its own is a run with no report.
func Pulled(ctx context.Context, c *config.Config, ref, digest string, progress, out io.Writer) []Run {
	fail := func(err error) []Run { return []Run{{Image: ref, Err: fmt.Errorf("verifyImage %s: %w", ref, err)}} }
	d, err := name.NewDigest(digest)
	if err != nil {
		return fail(err)
	}
	cli, err := daemon.Connect(ctx, progress)
	if err != nil {
		return fail(err)
	}
	defer cli.Close()
	pulled, err := build.PullIntoDocker(ctx, cli, d)
	if err != nil {
		return fail(err)
	}
	defer build.RemovePulled(cli, pulled)
	var runs []Run
	for _, p := range pulled {
		fmt.Fprintf(out, "verifyImage %s: %s %s, pulled by digest (image %s)\n", ref, d.DigestStr(), p.Platform, p.Digest)
		rep, err := External(ctx, c, p.Tag, progress, out)
		runs = append(runs, Run{Image: d.String(), Platform: p.Platform.String(), Report: rep, Err: err})
	}
	if ctx.Err() != nil {
		return runs
	}
	switch now, err := build.Resolve(ctx, ref); {
	case err != nil:
		runs = append(runs, fail(fmt.Errorf("resolve it again: %w", err))...)
	case now.String() != d.DigestStr():
		runs = append(runs, fail(fmt.Errorf("the tag moved from %s to %s while it was verified: what it names now was not verified: verify again", d.DigestStr(), now))...)
	}
	return runs
}
