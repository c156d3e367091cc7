// Package verify starts an image as built and proves, from inside it and
// from where its users stand, what production relies on: it starts (also
// under Kubernetes' restricted profile), other containers reach it, it
// stays up, it stops on SIGTERM, its binary fits its platform, it runs as
// the right user, it sees the right time zones, and its trust store
// validates TLS. Each check is a unit of its own file; checks.go lists and
// runs them; this file starts a verify and reports.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/client"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/deploy"
	"github.com/slimage/slimage/images/probe"
	"github.com/slimage/slimage/images/probe/report"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/outdir"
	"github.com/slimage/slimage/internal/zoneinfo"
)

// Check is one row of the verify table (the probe's report package holds
// the one definition).
type Check = report.Check

// Report is the result for one platform of an image, as written to
// dist/verify/<os>_<arch>.json.
type Report struct {
	Image    string `json:"image"`
	Platform string `json:"platform"`
	Size     int64  `json:"size"` // the image's, as the engine reports it
	// Emulated says how a platform other than the engine's ran: under QEMU
	// user emulation on the engine's platform, and whether under its init.
	Emulated string  `json:"emulated,omitempty"`
	Passed   bool    `json:"passed"`
	Checks   []Check `json:"checks"`
	// Notes say what of the manifests was not run here (a Secret's
	// value, a volume other than an emptyDir).
	Notes []string       `json:"notes,omitempty"`
	Probe *report.Report `json:"probe,omitempty"`
}

// DefaultTLSURL is called from inside the container when SLIMAGE_VERIFY_TLS
// is unset. Where the container has no route to it, the call is reported as
// skipped and the trust-store checks decide; a certificate error fails.
const DefaultTLSURL = "https://example.com/"

// Verify checks ref, an image built from c here: c says which user, zone
// and zones it must have. It prints a table to out, writes
// <dist>/verify/<os>_<arch>.json, and fails if any check fails. Every
// container it starts is removed before it returns, also on cancellation.
// testcontainers' own progress goes to progress (io.Discard for quiet).
func Verify(ctx context.Context, c *config.Config, ref string, progress, out io.Writer) (*Report, error) {
	set := SettingsOf(c)
	if len(c.Manifests) > 0 {
		// The plan the deploy step wrote from the manifests just before.
		plan := filepath.Join(c.Dist, config.DeployPlan)
		var err error
		if set.Deployment, err = deploy.Read(plan); err != nil {
			return nil, fmt.Errorf("verify %s: read how the manifests run it: %v: run mage verify, which writes it from SLIMAGE_MANIFESTS first", ref, err)
		}
	}
	return verify(ctx, set, ref, true, progress, out)
}

// External checks ref, an image built elsewhere, as Verify does, but the
// user is only reported unless SLIMAGE_VERIFY_NONROOT is set.
func External(ctx context.Context, c *config.Config, ref string, progress, out io.Writer) (*Report, error) {
	return verify(ctx, SettingsOf(c), ref, false, progress, out)
}

// run is one verify of one image: the service its live checks reach,
// and what starting it and judging the probe's report need.
type run struct {
	subject
	cli   *client.Client
	ref   string
	s     *session
	built bool // the image was built here, so set.User is what it must run as
	dt    *dockerTarget
}

// imageConfig is what the image's config says about running it.
type imageConfig struct {
	User            string // USER: "uid[:gid]" or a name, "" for root
	WorkDir         string
	Entrypoint, Cmd []string
	Env             []string
	Ports           []string // exposed, TCP first, then by number
}

// interrupted is the one-line error of a cancelled verify; it still is a
// context.Canceled to errors.Is.
type interrupted struct {
	ref string
	err error
}

func (e *interrupted) Error() string { return "verify " + e.ref + ": interrupted" }
func (e *interrupted) Unwrap() error { return e.err }

func verify(ctx context.Context, set Settings, ref string, built bool, progress, out io.Writer) (rep *Report, err error) {
	cli, err := daemon.Connect(ctx, progress)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	img, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &interrupted{ref, ctx.Err()}
		}
		return nil, fmt.Errorf("verify %s: no such image in the local Docker (%s): build it first (mage image), or pull or load it", ref, daemon.FirstLine(err))
	}
	r := &run{subject: subject{set: set, p: config.Platform{OS: img.Os, Arch: img.Architecture, Variant: img.Variant}}, cli: cli, ref: ref, built: built}
	if cfg := img.Config; cfg != nil {
		r.image = imageConfig{User: cfg.User, WorkDir: cfg.WorkingDir, Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env}
		for port := range cfg.ExposedPorts {
			r.image.Ports = append(r.image.Ports, port)
		}
		sortPorts(r.image.Ports)
	}
	if native, err := daemon.Platform(ctx, cli); err == nil {
		r.native = native
		r.emulated = native != r.p.OS+"/"+r.p.Arch
	}
	probeBin, err := probe.Build(ctx, r.p)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &interrupted{ref, ctx.Err()}
		}
		return nil, fmt.Errorf("verify %s %s: build the probe: %w", ref, r.p, err)
	}
	r.s = newSession(cli, set.Labels, progress)
	r.dt = &dockerTarget{cli: cli, s: r.s, ref: ref, probe: probeBin}
	r.t = r.dt
	// The "Connected to docker" banner goes through testcontainers' default
	// logger, not the per-container one.
	defer tclog.SetDefault(tclog.Default())
	tclog.SetDefault(r.s.logger)
	removeOrphans(cli)

	rep = &Report{Image: ref, Platform: r.p.String(), Size: img.Size}
	if set.Deployment != nil {
		for _, dc := range set.Deployment.Containers {
			for _, n := range dc.Notes {
				rep.Notes = append(rep.Notes, dc.Where()+": "+n)
			}
		}
	}
	rep.Checks, rep.Probe, err = r.checks(ctx)
	if r.emulated {
		rep.Emulated = "under QEMU user emulation on " + r.native
		if r.initPID1 {
			rep.Emulated += ", with the engine's init as PID 1 (the emulator, as PID 1, would drop a SIGTERM the binary has no handler for)"
		}
	}
	if r.dt.app != nil {
		terminate(r.dt.app)
	}
	r.s.close(ctx.Err() != nil)
	if ctx.Err() != nil {
		return nil, &interrupted{ref, ctx.Err()}
	}
	if err != nil {
		return nil, fmt.Errorf("verify %s %s: %w", ref, r.p, err)
	}
	rep.Passed = true
	failed := 0
	for _, ch := range rep.Checks {
		if !ch.Pass {
			rep.Passed = false
			failed++
		}
	}
	path := set.reportPath(r.p)
	if err := outdir.Ensure(set.Dist, filepath.Dir(path)); err != nil {
		return rep, fmt.Errorf("verify %s %s: %w", ref, r.p, err)
	}
	if err := writeJSON(path, rep); err != nil {
		return rep, fmt.Errorf("verify %s %s: write %s: %w", ref, r.p, path, err)
	}
	printReport(out, rep, path)
	if !rep.Passed {
		return rep, fmt.Errorf("verify %s %s: %d of %d checks failed (details above and in %s)", ref, r.p, failed, len(rep.Checks), human.Path(path))
	}
	return rep, nil
}

// evidence is what the judges read of pr: SLIMAGE_TZ's zone is read from
// the toolchain whose zoneinfo.zip slimage copies zones from, so the
// expectations come from the very bytes put into images.
func (r *run) evidence(pr *report.Report) (evidence, error) {
	ev := evidence{set: r.set, built: r.built, report: pr}
	if r.set.TZ == "" {
		return ev, nil
	}
	goroot, err := r.goroot()
	if err != nil {
		return ev, err
	}
	data, err := zoneinfo.Read(goroot, r.set.TZ)
	if err != nil {
		return ev, fmt.Errorf("read SLIMAGE_TZ %w", err)
	}
	if ev.zone, err = time.LoadLocationFromTZData(r.set.TZ, data); err != nil {
		return ev, fmt.Errorf("read zone %s: %w", r.set.TZ, err)
	}
	return ev, nil
}

// probeReport runs the probe's report in the image with host networking,
// so that a test's HTTPS server on the host's 127.0.0.1 is reachable from it.
func (r *run) probeReport(ctx context.Context) (*report.Report, error) {
	args := []string{"report", "-tls", strings.Join(r.set.TLSURLs, ",")}
	if zones, err := r.zoneList(); err != nil {
		return nil, err
	} else if len(zones) > 0 {
		args = append(args, "-zones", strings.Join(zones, ","))
	}
	var pr report.Report
	if err := runProbe(ctx, r.t, netHost, &pr, args...); err != nil {
		return nil, err
	}
	return &pr, nil
}

// sortPorts puts TCP ports first, then orders by number.
func sortPorts(ports []string) {
	num := func(p string) int {
		n := 0
		fmt.Sscanf(p, "%d", &n)
		return n
	}
	sort.Slice(ports, func(i, j int) bool {
		ti, tj := strings.HasSuffix(ports[i], "/tcp"), strings.HasSuffix(ports[j], "/tcp")
		if ti != tj {
			return ti
		}
		return num(ports[i]) < num(ports[j])
	})
}

func printReport(out io.Writer, rep *Report, path string) {
	fmt.Fprintf(out, "verify %s %s\n", rep.Image, rep.Platform)
	if rep.Emulated != "" {
		fmt.Fprintf(out, "  (%s)\n", rep.Emulated)
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CHECK\tEXPECTED\tGOT\tRESULT")
	for _, ch := range rep.Checks {
		result := "pass"
		if !ch.Pass {
			result = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ch.Name, ch.Expected, ch.Got, result)
	}
	tw.Flush()
	for _, n := range rep.Notes {
		fmt.Fprintf(out, "note: %s\n", n)
	}
	for _, ch := range rep.Checks {
		if !ch.Pass {
			fmt.Fprintf(out, "FAIL %s\n", ch.Cause)
		}
	}
	fmt.Fprintf(out, "report: %s\n", human.Path(path))
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'), 0o644)
}
