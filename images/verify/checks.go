package verify

import (
	"context"
	"sync"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/probe/report"
)

// Names of the checks, as the report's rows, the tests and docs/verify.md
// call them; reachable and TLS rows add the port and the URL.
const (
	CheckStart      = "start"
	CheckHealthy    = "healthy"
	CheckReachable  = "reachable"
	CheckBinary     = "binary"
	CheckRestricted = "restricted"
	CheckDeployed   = "deployed"
	CheckUser       = "user"
	CheckTempDir    = "temp dir"
	CheckTZ         = "TZ"
	CheckLocal      = "time.Local"
	CheckOffsets    = "offsets"
	CheckLocaltime  = "/etc/localtime"
	CheckZones      = "zones"
	CheckTrustStore = "trust store"
	CheckKnownRoots = "well-known roots"
	CheckTLS        = "TLS"
	CheckStaysUp    = "stays up"
	CheckStops      = "stops"
)

// The rows of the deployed check (deployed.go), one set per manifest
// container: containerPort rows add the port; the probes' rows are named
// by their fields (deploy.Readiness, …).
const (
	CheckContainerPort = "containerPort"
	CheckGrace         = "grace"
)

// step is one check of the list: a live check of the started service, or
// a judge of what the probe found inside the image.
type step struct {
	name string
	// live runs once start passed, beside the other live checks and the
	// probe while the service settles (or, with created, as soon as its
	// container exists, started or not); final ones run in order once the
	// settle time is over, each only while the ones before it passed.
	live    func(context.Context, *subject) []Check
	created bool
	final   bool
	// own: the check starts a container of the image of its own, so it
	// runs from the beginning, beside start (its rows are dropped when
	// start fails, as the other live checks do not run then).
	own   bool
	judge func(evidence) []Check
}

// steps are verify's checks after start (which starts the service the
// others check, see start.go), in the order of the report's rows. Adding a
// check touches its file, this list and docs/verify.md.
var steps = []step{
	{name: CheckHealthy, live: healthy},
	{name: CheckReachable, live: reachable},
	{name: CheckBinary, live: binary, created: true},
	{name: CheckRestricted, live: restricted, own: true},
	{name: CheckDeployed, live: deployed, own: true},
	{name: CheckUser, judge: judgeUser},
	{name: CheckTempDir, judge: judgeTempDir},
	{name: CheckTZ, judge: judgeTZ},
	{name: CheckLocal, judge: judgeLocal},
	{name: CheckOffsets, judge: judgeOffsets},
	{name: CheckLocaltime, judge: judgeLocaltime},
	{name: CheckZones, judge: judgeZones},
	{name: CheckTrustStore, judge: judgeTrustStore},
	{name: CheckKnownRoots, judge: judgeKnownRoots},
	{name: CheckTLS, judge: judgeTLS},
	{name: CheckStaysUp, live: staysUp, final: true},
	{name: CheckStops, live: stops, final: true},
}

// subject is what a live check knows of the service: the settings, the
// image as it runs here, when it first answered, and the target to reach
// it by.
type subject struct {
	set   Settings
	p     config.Platform
	image imageConfig
	// emulated: the image's platform is not the engine's (native), so its
	// binary runs under QEMU user emulation; initPID1: the service then
	// runs under the engine's init (see start), not as PID 1 itself.
	emulated, initPID1 bool
	native             string
	readyAt            time.Time
	t                  target
}

// evidence is what a judge reads: what the image must have (the settings;
// built says it was built here, so it must run as their user; zone is
// SLIMAGE_TZ as slimage copies it, nil for none) and what the probe found
// inside it.
type evidence struct {
	set    Settings
	built  bool
	zone   *time.Location
	report *report.Report
}

// checks starts the service, then runs the steps: the checks that start
// their own container from the beginning, beside start; the probe's
// report (a container of its own) and the other live checks at once while
// the service settles; then the judges of the report; then the final
// checks.
func (r *run) checks(ctx context.Context) ([]Check, *report.Report, error) {
	rows := make([][]Check, len(steps))
	var (
		wg       sync.WaitGroup
		pr       *report.Report
		probeErr error
	)
	for i, st := range steps {
		if st.own {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rows[i] = st.live(ctx, &subject{set: r.set, p: r.p, image: r.image, emulated: r.emulated, native: r.native, t: r.t})
			}()
		}
	}
	start := r.start(ctx)
	// The probe's report needs no running service: it runs while the
	// service settles (or at once when it did not start, unless nothing of
	// this platform can run here).
	if start.Got != gotCannotRun {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr, probeErr = r.probeReport(ctx)
		}()
	}
	for i, st := range steps {
		if st.live == nil || st.final || st.own || !(start.Pass || st.created && r.dt.app != nil) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[i] = st.live(ctx, &r.subject)
		}()
	}
	if start.Pass {
		// The service must still be up SLIMAGE_VERIFY_SETTLE after it first
		// answered; the other checks run meanwhile.
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(r.readyAt.Add(r.set.Settle))):
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	for i, st := range steps {
		if st.own && !start.Pass {
			rows[i] = nil // as with every live check: start says why
		}
	}
	switch {
	case probeErr != nil && start.Pass:
		return nil, nil, probeErr
	case pr != nil:
		ev, err := r.evidence(pr)
		if err != nil {
			return nil, nil, err
		}
		for i, st := range steps {
			if st.judge != nil {
				rows[i] = st.judge(ev)
			}
		}
	}
	for i, st := range steps {
		if !st.final || !start.Pass {
			continue
		}
		rows[i] = st.live(ctx, &r.subject)
		if !passed(rows[i]) {
			break
		}
	}
	checks := []Check{start}
	for _, row := range rows {
		checks = append(checks, row...)
	}
	return checks, pr, nil
}

func passed(checks []Check) bool {
	for _, ch := range checks {
		if !ch.Pass {
			return false
		}
	}
	return true
}
