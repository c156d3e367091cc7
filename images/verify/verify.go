// Package verify starts an image as built and proves, from inside it and
// from where its users stand, what production relies on: it starts, it
// sees the right time zone, its trust store validates TLS.
package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/probe"
	"github.com/slimage/slimage/images/probe/report"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/gotool"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/zoneinfo"
)

// Check is one row of the verify table. A failed check carries its cause
// and the fix in one line.
type Check struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
	Pass     bool   `json:"pass"`
	Cause    string `json:"cause,omitempty"`
}

// Report is the result for one platform of an image, as written to
// dist/verify/<os>_<arch>.json.
type Report struct {
	Image    string         `json:"image"`
	Platform string         `json:"platform"`
	Passed   bool           `json:"passed"`
	Checks   []Check        `json:"checks"`
	Probe    *report.Report `json:"probe,omitempty"`
}

// DefaultTLSURL is called from inside the container when SLIMAGE_VERIFY_TLS
// is unset. Where the container has no route to it, the call is reported as
// skipped and the trust-store checks decide; a certificate error fails.
const DefaultTLSURL = "https://example.com/"

// SessionLabel marks every container one verify run starts, so that all of
// them are removed at the end whatever happened, even when testcontainers
// failed halfway and returned no handle.
const SessionLabel = "com.github.slimage.verify"

// Verify starts ref as built and proves from inside it that it starts, that
// TZ and the zone files make Go see c.TZ, that the trust store is complete,
// and that HTTPS calls validate. It prints a table to out, writes
// <dist>/verify/<os>_<arch>.json, and fails if any check fails. Every
// container it starts is removed before it returns, also on cancellation.
// testcontainers' own progress goes to progress (io.Discard for quiet).
func Verify(ctx context.Context, c *config.Config, ref string, progress, out io.Writer) (*Report, error) {
	cli, err := daemon.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	img, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("verify %s: no such image in the local Docker (%s): build it first (mage image), or pull or load it", ref, daemon.FirstLine(err))
	}
	p := config.Platform{OS: img.Os, Arch: img.Architecture, Variant: img.Variant}
	probe, err := probe.Build(ctx, filepath.Join(c.Dist, "verify", "probe"), p)
	if err != nil {
		return nil, fmt.Errorf("verify %s %s: build the probe: %w", ref, p, err)
	}
	session := session{id: newSession(), logger: tclog.NewNoopLogger()}
	if progress != io.Discard {
		session.logger = stdlog.New(progress, "", stdlog.LstdFlags)
	}
	// The "Connected to docker" banner goes through testcontainers' default
	// logger, not the per-container one.
	defer tclog.SetDefault(tclog.Default())
	tclog.SetDefault(session.logger)
	defer sweep(cli, session.id)

	rep := &Report{Image: ref, Platform: p.String()}
	var exposed map[string]struct{}
	if img.Config != nil {
		exposed = img.Config.ExposedPorts
	}
	start := checkStart(ctx, c, ref, p, exposed, probe, session)
	rep.Checks = append(rep.Checks, start)
	if start.Pass {
		pr, err := runProbe(ctx, c, ref, probe, session)
		if err != nil {
			return nil, fmt.Errorf("verify %s %s: %w", ref, p, err)
		}
		rep.Probe = pr
		checks, err := judge(c, pr)
		if err != nil {
			return nil, fmt.Errorf("verify %s %s: %w", ref, p, err)
		}
		rep.Checks = append(rep.Checks, checks...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.Passed = true
	for _, ch := range rep.Checks {
		rep.Passed = rep.Passed && ch.Pass
	}
	path := filepath.Join(c.Dist, "verify", p.DistDir()+".json")
	if err := writeJSON(path, rep); err != nil {
		return rep, fmt.Errorf("verify %s %s: write %s: %w", ref, p, path, err)
	}
	printReport(out, rep, path)
	if !rep.Passed {
		failed := 0
		for _, ch := range rep.Checks {
			if !ch.Pass {
				failed++
			}
		}
		return rep, fmt.Errorf("verify %s %s: %d of %d checks failed (details above and in %s)", ref, p, failed, len(rep.Checks), human.Path(path))
	}
	return rep, nil
}

const probePath = "/slimage-probe"

func probeFile(bin string) testcontainers.ContainerFile {
	return testcontainers.ContainerFile{HostFilePath: bin, ContainerFilePath: probePath, FileMode: 0o755}
}

// checkStart runs the image as built (its entrypoint, its user). With an
// exposed port, a probe that shares the service's network namespace waits
// until the port answers (and SLIMAGE_VERIFY_HEALTH returns 2xx); without
// one, the service must stay up for the grace period or exit 0.
func checkStart(ctx context.Context, c *config.Config, ref string, p config.Platform, exposed map[string]struct{}, probe string, session session) Check {
	ch := Check{Name: "start"}
	app, err := runContainer(ctx, ref, session)
	defer terminate(app)
	if err != nil {
		ch.Expected, ch.Got = "starts", "did not start"
		ch.Cause = "start: " + daemon.FirstLine(err)
		return ch
	}
	port := firstPort(exposed)
	if port == "" {
		ch.Expected = fmt.Sprintf("up for %s, or exits 0", c.VerifyGrace)
		select {
		case <-ctx.Done():
			ch.Got, ch.Cause = "cancelled", "start: cancelled"
			return ch
		case <-time.After(c.VerifyGrace):
		}
		st, err := app.State(context.WithoutCancel(ctx))
		switch {
		case err != nil:
			ch.Got, ch.Cause = "unknown", "start: "+daemon.FirstLine(err)
		case st.Running || st.ExitCode == 0:
			ch.Got, ch.Pass = "up", true
			if !st.Running {
				ch.Got = "exited 0"
			}
		case cannotRun(app):
			ch.Got, ch.Cause = "cannot run here", unrunnableCause(p)
		default:
			ch.Got = fmt.Sprintf("exited %d", st.ExitCode)
			ch.Cause = fmt.Sprintf("start: the service exited with code %d; its last log lines: %s", st.ExitCode, logTail(app))
		}
		return ch
	}
	ch.Expected = "answers on " + port
	if c.VerifyHealth != "" {
		ch.Expected += ", GET " + c.VerifyHealth + " 2xx"
	}
	args := []string{"wait", "-port", port, "-timeout", c.VerifyTimeout.String()}
	if c.VerifyHealth != "" {
		args = append(args, "-path", c.VerifyHealth)
	}
	waiter, err := runContainer(ctx, ref, session,
		testcontainers.WithEntrypoint(probePath), testcontainers.WithCmd(args...),
		testcontainers.WithFiles(probeFile(probe)),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode("container:" + app.GetContainerID())
		}),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(c.VerifyTimeout+30*time.Second)))
	defer terminate(waiter)
	exit, said := -1, ""
	if err == nil {
		exit, said = exitAndLogs(waiter)
	}
	if exit == 0 {
		ch.Got, ch.Pass = "ready", true
		return ch
	}
	// The service's own state explains most failures: it exited.
	if st, serr := app.State(context.WithoutCancel(ctx)); serr == nil && !st.Running {
		ch.Got = fmt.Sprintf("exited %d", st.ExitCode)
		ch.Cause = fmt.Sprintf("start: the service exited with code %d before answering on %s; its last log lines: %s", st.ExitCode, port, logTail(app))
		if cannotRun(app) {
			ch.Got, ch.Cause = "cannot run here", unrunnableCause(p)
		}
		return ch
	}
	if err != nil {
		ch.Got, ch.Cause = "not checked", "start: run the readiness probe: "+daemon.FirstLine(err)
		return ch
	}
	ch.Got = "no answer"
	ch.Cause = fmt.Sprintf("start: %s: check that the service listens on %s (on all interfaces, not 127.0.0.1 of another namespace) or raise SLIMAGE_VERIFY_TIMEOUT; its last log lines: %s", strings.TrimSpace(said), port, logTail(app))
	return ch
}

// runProbe runs the probe in the image with host networking, so that a
// test's HTTPS server on the host's 127.0.0.1 is reachable from it.
func runProbe(ctx context.Context, c *config.Config, ref, probe string, session session) (*report.Report, error) {
	urls := tlsURLs(c.VerifyTLS)
	ctr, err := runContainer(ctx, ref, session,
		testcontainers.WithEntrypoint(probePath), testcontainers.WithCmd("report", "-tls", strings.Join(urls, ",")),
		testcontainers.WithFiles(probeFile(probe)),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(2*time.Minute)))
	defer terminate(ctr)
	if err != nil {
		return nil, fmt.Errorf("run the probe: %s", daemon.FirstLine(err))
	}
	exit, out := exitAndLogs(ctr)
	var pr report.Report
	if exit != 0 || json.Unmarshal([]byte(lastLine(out)), &pr) != nil {
		return nil, fmt.Errorf("the probe exited %d without a report: %s", exit, lastLine(out))
	}
	return &pr, nil
}

func tlsURLs(setting string) []string {
	switch strings.TrimSpace(setting) {
	case "":
		return []string{DefaultTLSURL}
	case "off":
		return nil
	}
	var urls []string
	for _, u := range strings.Split(setting, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

// judge turns the probe's report into checks against the configuration.
// The expected offsets at report.Instants are computed here on the host
// from the very zone data slimage puts into images.
func judge(c *config.Config, pr *report.Report) ([]Check, error) {
	var checks []Check
	t := pr.Time
	zone := c.TZ
	if zone != "" {
		goroot := c.GoEnv.GOROOT
		if goroot == "" {
			env, err := gotool.ReadEnv(context.Background())
			if err != nil {
				return nil, err
			}
			goroot = env.GOROOT
		}
		data, err := zoneinfo.Read(goroot, zone)
		if err != nil {
			return nil, fmt.Errorf("read SLIMAGE_TZ %w", err)
		}
		loc, err := time.LoadLocationFromTZData(zone, data)
		if err != nil {
			return nil, fmt.Errorf("read zone %s: %w", zone, err)
		}
		tz := Check{Name: "TZ", Expected: zone, Got: t.TZ, Pass: t.TZ == zone}
		if !t.TZSet {
			tz.Got = "unset"
		}
		if !tz.Pass {
			tz.Cause = fmt.Sprintf("TZ: the image sets TZ=%q, want %s: add ENV TZ=%s to the image", t.TZ, zone, zone)
		}
		local := Check{Name: "time.Local", Expected: zone, Got: t.Local, Pass: t.Local == zone}
		if !local.Pass {
			local.Cause = localCause(zone, t.TZSet, t.TZ, t.Local, t.ZoneFile, t.Localtime)
		}
		var want, got []string
		for _, s := range report.Instants {
			at, _ := time.Parse(time.RFC3339, s)
			want = append(want, s[:4]+" "+at.In(loc).Format("-07:00"))
			got = append(got, s[:4]+" "+t.Offsets[s])
		}
		offsets := Check{Name: "offsets", Expected: strings.Join(want, ", "), Got: strings.Join(got, ", ")}
		offsets.Pass = offsets.Expected == offsets.Got
		if !offsets.Pass {
			offsets.Cause = fmt.Sprintf("offsets: time.Local does not keep %s's history (a zone with the same offset today, such as Asia/Singapore or a fixed +08, passes a today-only check): put %s's zone file in the image", zone, zone)
		}
		lt := Check{Name: "/etc/localtime", Expected: "= /usr/share/zoneinfo/" + zone, Pass: t.LocaltimeSame}
		switch {
		case t.LocaltimeSame:
			lt.Got = "same zone"
		case !t.Localtime:
			lt.Got = "missing"
			lt.Cause = fmt.Sprintf("/etc/localtime: missing: programs that ignore TZ run in UTC: copy %s's zone file to /etc/localtime", zone)
		case !t.ZoneFile:
			lt.Got = "present; zoneinfo file missing"
			lt.Cause = fmt.Sprintf("/etc/localtime: /usr/share/zoneinfo/%s is missing, so the two cannot agree: copy the zone file to both places", zone)
		default:
			lt.Got = "another zone"
			lt.Cause = fmt.Sprintf("/etc/localtime: holds another zone than /usr/share/zoneinfo/%s: copy the same zone file to both places", zone)
		}
		checks = append(checks, tz, local, offsets, lt)
	}

	tr := pr.Trust
	min := c.VerifyMinRoots
	custom := c.CABundle != ""
	if custom && min > 1 {
		min = 1 // a custom bundle may hold just the company's roots
	}
	store := Check{Name: "trust store", Expected: fmt.Sprintf(">= %d roots", min),
		Got: fmt.Sprintf("%d roots in %s", tr.Roots, orNone(tr.Source)), Pass: tr.Source != "" && tr.Roots >= min}
	switch {
	case tr.Source == "":
		store.Got = "no CA bundle"
		store.Cause = "trust store: the image has no CA bundle where Go looks (/etc/ssl/certs/ca-certificates.crt, …), so every HTTPS call fails with 'x509: certificate signed by unknown authority': copy a CA bundle into the image"
	case !store.Pass:
		store.Cause = fmt.Sprintf("trust store: %s holds %d roots, fewer than %d: use a complete bundle (or lower SLIMAGE_VERIFY_MIN_ROOTS for a deliberate one)", tr.Source, tr.Roots, min)
	}
	checks = append(checks, store)
	if !custom {
		known := Check{Name: "well-known roots", Expected: fmt.Sprintf("%d of %d valid", len(report.KnownRoots), len(report.KnownRoots)),
			Got: fmt.Sprintf("%d of %d valid", len(tr.Present), len(report.KnownRoots)), Pass: len(tr.Present) == len(report.KnownRoots)}
		if !known.Pass {
			known.Cause = fmt.Sprintf("well-known roots: the bundle lacks or has expired %d widely used roots (present: %s): use an up-to-date ca-certificates bundle", len(report.KnownRoots)-len(tr.Present), orNone(strings.Join(tr.Present, ", ")))
		}
		checks = append(checks, known)
	}

	explicit := strings.TrimSpace(c.VerifyTLS) != ""
	for _, r := range pr.TLS {
		ch := Check{Name: "TLS " + r.URL, Expected: "verified response"}
		switch {
		case r.Error == "":
			ch.Got, ch.Pass = fmt.Sprintf("%d, %s, root %s", r.Status, r.Version, rootCN(r.Root)), true
		case r.Kind == "network" && !explicit:
			ch.Got, ch.Pass = "live TLS call skipped: network unreachable from the container", true
		case r.Kind == "certificate":
			ch.Got = "certificate error"
			ch.Cause = fmt.Sprintf("TLS %s: certificate: %s: the image's trust store does not validate this server: add its CA with SLIMAGE_EXTRA_CA", r.URL, r.Error)
		default:
			ch.Got = "network error"
			ch.Cause = fmt.Sprintf("TLS %s: network: %s: make it reachable from the container (host networking), or change SLIMAGE_VERIFY_TLS", r.URL, r.Error)
		}
		checks = append(checks, ch)
	}
	return checks, nil
}

// localCause explains why Go's time.Local is not the configured zone; the
// first case is the classic scratch-image pitfall.
func localCause(zone string, tzSet bool, tz, local string, zoneFile, localtime bool) string {
	got := local
	if local == "Local" || local == "UTC" {
		got = "UTC"
	}
	switch {
	case tzSet && tz == zone && !zoneFile:
		return fmt.Sprintf("time.Local: time.Local is %s, want %s: TZ is set, so Go ignores /etc/localtime, and /usr/share/zoneinfo/%s is missing from the image", got, zone, zone)
	case !tzSet && !localtime:
		return fmt.Sprintf("time.Local: time.Local is %s, want %s: neither TZ nor /etc/localtime is set in the image: add ENV TZ=%s and the zone file", got, zone, zone)
	case !tzSet:
		return fmt.Sprintf("time.Local: time.Local is %s, want %s: TZ is unset, so Go reads /etc/localtime, which is another zone: set ENV TZ=%s", got, zone, zone)
	}
	return fmt.Sprintf("time.Local: time.Local is %s, want %s: the image's TZ is %q: set ENV TZ=%s and copy its zone file", got, zone, tz, zone)
}

// cannotRun reports whether the kernel refused the image's binary: a
// foreign architecture without QEMU's binfmt handler.
func cannotRun(ctr *testcontainers.DockerContainer) bool {
	return strings.Contains(logs(ctr), "exec format error")
}

func unrunnableCause(p config.Platform) string {
	return fmt.Sprintf("start: %s binaries cannot run on this Docker host (exec format error), so nothing of this platform was verified: register QEMU user emulation for it (Debian: apt-get install qemu-user-static binfmt-support), or verify on a %s machine", p, p)
}

func rootCN(subject string) string {
	for _, part := range strings.Split(subject, ",") {
		if cn, ok := strings.CutPrefix(part, "CN="); ok {
			return cn
		}
	}
	return subject
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func printReport(out io.Writer, rep *Report, path string) {
	fmt.Fprintf(out, "verify %s %s\n", rep.Image, rep.Platform)
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

// runContainer starts ref through testcontainers-go, labelled with the
// session. testcontainers can panic where it finds no Docker host; that is
// turned into an error.
func runContainer(ctx context.Context, ref string, s session, opts ...testcontainers.ContainerCustomizer) (ctr *testcontainers.DockerContainer, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("testcontainers: %v", r)
		}
	}()
	opts = append(opts, testcontainers.WithLabels(map[string]string{SessionLabel: s.id}), testcontainers.WithLogger(s.logger))
	ctr, err = testcontainers.Run(ctx, ref, opts...)
	if err != nil && strings.Contains(err.Error(), "reaper") {
		err = fmt.Errorf("%w: testcontainers' reaper (Ryuk) could not start; slimage removes its own containers, so set TESTCONTAINERS_RYUK_DISABLED=true", err)
	}
	return ctr, err
}

func terminate(ctr *testcontainers.DockerContainer) {
	_ = testcontainers.TerminateContainer(ctr)
}

// sweep removes every container of the session that is still there.
func sweep(cli *client.Client, session string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", SessionLabel+"="+session)})
	if err != nil {
		return
	}
	for _, c := range res.Items {
		_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
}

// session is one verify run: its label value and where testcontainers logs.
type session struct {
	id     string
	logger tclog.Logger
}

func newSession() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func firstPort(exposed map[string]struct{}) string {
	var ports []string
	for p := range exposed {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { // tcp first, then by number
		ti, tj := strings.HasSuffix(ports[i], "/tcp"), strings.HasSuffix(ports[j], "/tcp")
		if ti != tj {
			return ti
		}
		return ports[i] < ports[j]
	})
	if len(ports) == 0 {
		return ""
	}
	return ports[0]
}

func exitAndLogs(ctr *testcontainers.DockerContainer) (int, string) {
	st, err := ctr.State(context.Background())
	if err != nil {
		return -1, daemon.FirstLine(err)
	}
	return st.ExitCode, logs(ctr)
}

func logs(ctr *testcontainers.DockerContainer) string {
	rc, err := ctr.Logs(context.Background())
	if err != nil {
		return ""
	}
	defer rc.Close()
	var b bytes.Buffer
	_, _ = io.Copy(&b, io.LimitReader(rc, 1<<20))
	return b.String()
}

// logTail is the service's last few log lines, on one line.
func logTail(ctr *testcontainers.DockerContainer) string {
	lines := strings.Split(strings.TrimSpace(logs(ctr)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	s := strings.Join(lines, " | ")
	if s == "" {
		return "(none)"
	}
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
