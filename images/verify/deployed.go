package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slimage/slimage/images/deploy"
	"github.com/slimage/slimage/images/probe/report"
	"github.com/slimage/slimage/internal/human"
)

// deployed runs the image once more for each container of the
// deployment's manifests that runs it (SLIMAGE_MANIFESTS, read into
// package deploy's plan), beside the service as built and as that
// container runs: its user and groups, read-only root with its emptyDirs
// as tmpfs, capabilities, no new privileges, command, args, environment
// and memory limit. It proves the container keeps running there
// (CheckDeployed), then what the manifest promises: each containerPort
// answers from another container, each probe passes as the kubelet runs
// it, and SIGTERM ends it within the grace period. Without a manifest
// container, the restricted check runs instead.
func deployed(ctx context.Context, s *subject) []Check {
	if s.set.Deployment == nil || len(s.set.Deployment.Containers) == 0 {
		return nil
	}
	cs := s.set.Deployment.Containers
	rows := make([][]Check, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &deployment{subject: s, c: c}
			if len(cs) > 1 {
				d.suffix = " [" + c.Name + "]"
			}
			rows[i] = d.checks(ctx)
		}()
	}
	wg.Wait()
	var out []Check
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// deployment is one manifest container being verified.
type deployment struct {
	*subject
	c      deploy.Container
	suffix string // the container's name, where there are several
}

func (d *deployment) check(name string) Check { return Check{Name: name + d.suffix} }

// fail fills ch's result and its cause, which names the manifest, the
// object, the container and the field.
func (d *deployment) fail(ch Check, got, field, why string) Check {
	ch.Got, ch.Cause = got, fmt.Sprintf("%s: %s: %s", d.c.Where(), field, why)
	return ch
}

func (d *deployment) checks(ctx context.Context) []Check {
	start := d.check(CheckDeployed)
	start.Expected = "keeps running as the manifest runs it"
	p, user, refused := d.profile()
	if refused != "" {
		return []Check{d.fail(start, "refused by the kubelet", "securityContext.runAsNonRoot", refused)}
	}
	t, err := d.t.RunAs(ctx, p)
	if err != nil {
		return []Check{d.fail(start, "did not start", "the container", "start it: "+err.Error())}
	}
	defer t.Remove(ctx)
	kr, kerr := d.kubelet(ctx, t)
	if ctx.Err() != nil {
		return nil
	}
	st, err := t.State(ctx)
	switch {
	case err != nil:
		return []Check{d.fail(start, "unknown", "the container", err.Error())}
	case !st.Running && st.OOMKilled && d.emulated:
		// QEMU's own memory counts against the limit here: the platform's
		// own hardware judges it.
		start.Got, start.Pass = fmt.Sprintf("not judged: killed at the %s memory limit under QEMU emulation, whose own memory counts against it here; verify on %s hardware", human.Size(d.c.Memory), d.p), true
		return []Check{start}
	case !st.Running && !(st.ExitCode == 0 && d.c.Job):
		return []Check{d.exited(start, st, user, t.Logs(ctx))}
	case kerr != nil:
		return []Check{d.fail(start, "not checked", "the container", "run the kubelet's probes: "+kerr.Error())}
	}
	start.Got, start.Pass = "running as "+user, true
	if !st.Running {
		start.Got = "exited 0 (a job)"
	}
	rows := []Check{start}
	rows = append(rows, d.judgePorts(kr)...)
	rows = append(rows, d.judgeProbes(ctx, t, kr)...)
	if st.Running {
		rows = append(rows, d.grace(ctx, t))
	}
	return rows
}

// profile is how the container runs, and its user as "uid:gid"; refused
// says why the kubelet would not start it at all (runAsNonRoot).
func (d *deployment) profile() (p profile, user, refused string) {
	c := d.c
	imageUser, imageGroup, _ := strings.Cut(d.image.User, ":")
	uid, gid := c.User, c.Group
	if uid == "" {
		uid = imageUser
	}
	if gid == "" {
		// The runtime takes the image's group for the image's own user,
		// and group 0 for a uid the image does not name.
		if gid = "0"; uid == imageUser && imageGroup != "" {
			gid = imageGroup
		}
	}
	if uid == "" {
		uid = "0"
	}
	user = uid + ":" + gid
	if c.User == "" && c.Group == "" {
		user = d.image.User // as the image says, a name resolved in it
		if user == "" {
			user = "0:0"
		}
	}
	if c.RunAsNonRoot {
		if _, err := strconv.Atoi(uid); err != nil {
			return p, user, fmt.Sprintf("the image's user %q is a name, so the kubelet cannot tell it is not root and refuses to start the container: give the image a numeric USER, or set runAsUser", uid)
		}
		if uid == "0" {
			return p, user, "the container would run as root (uid 0), so the kubelet refuses to start it: set runAsUser to a non-zero uid, or give the image a non-root USER"
		}
	}
	p = profile{Groups: c.Groups, ReadOnlyRoot: c.ReadOnlyRoot, CapDrop: c.CapDrop, CapAdd: c.CapAdd,
		NoNewPrivileges: c.NoNewPrivileges, Entrypoint: c.Command, Cmd: c.Args, Env: c.Env, Memory: c.Memory}
	if c.User != "" || c.Group != "" {
		p.User = user
	}
	if len(c.Volumes) > 0 {
		p.Tmpfs = map[string]string{}
		for _, v := range c.Volumes {
			// An emptyDir is an empty folder anyone may write (mode 0777).
			opts := "rw,nosuid,nodev,mode=0777"
			if v.Size > 0 {
				opts += ",size=" + strconv.FormatInt(v.Size, 10)
			}
			p.Tmpfs[v.Path] = opts
		}
	}
	return p, user, ""
}

// kubelet runs the container's httpGet, tcpSocket and grpc probes from
// another container, as the kubelet does from the node, and connects to
// its TCP ports once it is ready; it stops early when the container
// exits. Without probes or ports, the container only has to keep running
// for the grace period of a service without ports.
func (d *deployment) kubelet(ctx context.Context, t target) (*report.KubeletReport, error) {
	spec := report.KubeletSpec{Timeout: d.set.Timeout, Settle: d.set.Settle}
	for _, p := range d.c.Probes {
		if p.Handler != report.Exec && p.Port > 0 {
			spec.Probes = append(spec.Probes, p)
		}
	}
	for _, port := range d.c.Ports {
		if port.Protocol == "TCP" {
			spec.Ports = append(spec.Ports, port.Number)
		}
	}
	if len(spec.Probes) == 0 && len(spec.Ports) == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(max(d.set.Grace, d.set.Settle)):
		}
		return &report.KubeletReport{}, nil
	}
	var err error
	if spec.Host, err = t.IP(ctx); err != nil || spec.Host == "" {
		return nil, fmt.Errorf("the container has no address: %v", err)
	}
	if st, err := t.State(ctx); err == nil {
		spec.Started = st.StartedAt
	}
	js, _ := json.Marshal(spec)
	watch, stop := context.WithCancel(ctx)
	defer stop()
	go func() { // the kubelet stops probing a container that exited
		for watch.Err() == nil {
			if st, err := t.State(watch); err == nil && !st.Running {
				stop()
				return
			}
			select {
			case <-watch.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	var kr report.KubeletReport
	err = runProbe(watch, t, netBridge, &kr, "kubelet", "-spec", string(js))
	return &kr, err
}

// exited explains a container that stopped: the memory limit, a write to
// the read-only root, a file its user may not read, a dropped capability,
// or what it logged.
func (d *deployment) exited(ch Check, st state, user, logs string) Check {
	got := fmt.Sprintf("exited %d", st.ExitCode)
	if st.OOMKilled {
		return d.fail(ch, "OOMKilled", "resources.limits.memory", fmt.Sprintf("the container used more than its %s memory limit and the kernel killed it (OOMKilled, exit %d): raise the limit, or make the service use less at start (GOMEMLIMIT below the limit lets Go's collector try first)", human.Size(d.c.Memory), st.ExitCode))
	}
	tail := lastLines(logs)
	if st.ExitCode == 0 {
		return d.fail(ch, "exited 0", "the container", fmt.Sprintf("it exited 0 as the manifest runs it, and the %s restarts it, over and over (CrashLoopBackOff): a service must keep running (a task that ends belongs in a Job); its last log lines: %s", strings.Fields(d.c.Object)[0], tail))
	}
	if m := pathError.FindAllStringSubmatch(logs, -1); m != nil {
		last := m[len(m)-1]
		op, file, cause := last[1], last[2], last[3]
		switch cause {
		case "read-only file system":
			return d.fail(ch, got, "securityContext.readOnlyRootFilesystem", fmt.Sprintf("the service writes to the image's file system (%s %s: read-only file system): mount an emptyDir at %s (volumes and volumeMounts), or write under one that is mounted", op, file, path.Dir(file)))
		case "permission denied":
			return d.fail(ch, got, "securityContext.runAsUser", fmt.Sprintf("%s %s: permission denied as %s (groups %s): the image's files are another user's only: make them group 0's (COPY --chown=<uid>:0, chmod g=u), or run as their owner", op, file, user, orNone(strings.Join(d.c.Groups, ","))))
		default:
			return d.fail(ch, got, "securityContext.capabilities", fmt.Sprintf("%s %s: operation not permitted: the service needs a capability or privilege the container drops (capabilities.drop, allowPrivilegeEscalation): do without it, or add just that capability", op, file))
		}
	}
	return d.fail(ch, got, "the container", fmt.Sprintf("it exited with code %d as the manifest runs it (as %s), while it runs as built; its last log lines: %s", st.ExitCode, user, tail))
}

func lastLines(logs string) string {
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	if s := strings.Join(lines, " | "); s != "" {
		return s
	}
	return "(none)"
}

// judgePorts: every TCP containerPort must accept a connection from
// another container once the container is ready: a Service sends its
// traffic there.
func (d *deployment) judgePorts(kr *report.KubeletReport) []Check {
	var rows []Check
	for _, port := range d.c.Ports {
		ch := d.check(CheckContainerPort + " " + strconv.Itoa(port.Number))
		ch.Expected = "answers from another container"
		if port.Protocol != "TCP" {
			ch.Got, ch.Pass = "not checked ("+port.Protocol+")", true
			rows = append(rows, ch)
			continue
		}
		var r *report.Reach
		for i := range kr.Ports {
			if strings.HasSuffix(kr.Ports[i].Addr, ":"+strconv.Itoa(port.Number)) {
				r = &kr.Ports[i]
			}
		}
		switch {
		case r == nil:
			ch.Got, ch.Pass = "not checked: the container never became ready", true
		case r.Error == "":
			ch.Got, ch.Pass = "answers", true
		default:
			ch = d.fail(ch, r.Error, fmt.Sprintf("ports.containerPort %d", port.Number), fmt.Sprintf("nothing answers on %d from another container (%s), so a Service that targets it gets no answer: make the service listen on %d on all addresses, or declare the port it listens on", port.Number, r.Error, port.Number))
		}
		rows = append(rows, ch)
	}
	return rows
}

// judgeProbes judges each probe by what the kubelet then does.
func (d *deployment) judgeProbes(ctx context.Context, t target, kr *report.KubeletReport) []Check {
	var rows []Check
	for _, p := range d.c.Probes {
		ch := d.check(p.Field)
		var run *report.ProbeRun
		for i := range kr.Probes {
			if kr.Probes[i].Field == p.Field {
				run = &kr.Probes[i]
			}
		}
		switch {
		case p.Handler == report.Exec:
			ch = d.judgeExec(ctx, t, ch, p)
		case p.Port == 0:
			ch.Expected = p.Describe()
			ch = d.fail(ch, "no such port", p.Field+"."+p.Handler+".port", fmt.Sprintf("names port %q, which no ports[].name of the container is: the kubelet cannot run it: name the port, or give its number", p.PortName))
		default:
			ch = d.judgeRun(ch, p, run, kr.End)
		}
		rows = append(rows, ch)
	}
	return rows
}

// judgeRun judges what a probe answered over time (see judgeStartup,
// judgeReadiness, judgeLiveness).
func (d *deployment) judgeRun(ch Check, p deploy.Probe, run *report.ProbeRun, end report.Since) Check {
	if run == nil || run.Asked == 0 {
		ch.Expected, ch.Got, ch.Pass = p.Describe(), "not asked: the startup probe never passed", true
		return ch
	}
	switch p.Field {
	case report.Startup:
		return d.judgeStartup(ch, p, run)
	case report.Readiness:
		return d.judgeReadiness(ch, p, run)
	}
	return d.judgeLiveness(ch, p, run, end)
}

// firstPass is when run first passed, and what it said before.
func firstPass(run *report.ProbeRun) (at report.Since, passed bool, before string) {
	for _, r := range run.Results {
		if r.OK {
			return r.At, true, before
		}
		before = r.Said
	}
	return 0, false, before
}

// judgeStartup: the kubelet asks at initialDelay and then every period;
// failureThreshold failures in a row restart the container, so the
// service must answer by the last of those asks: initialDelay +
// (failureThreshold-1) × period. Under emulation, a slower start is
// reported, not failed.
func (d *deployment) judgeStartup(ch Check, p deploy.Probe, run *report.ProbeRun) Check {
	window := p.InitialDelay + time.Duration(p.FailureThreshold-1)*p.Period
	ch.Expected = fmt.Sprintf("%s passes within %s", p.Describe(), human.Duration(window))
	at, passed, before := firstPass(run)
	switch {
	case !passed:
		return d.fail(ch, "never passed: "+before, p.Describe(), fmt.Sprintf("never passed within SLIMAGE_VERIFY_TIMEOUT (%s; last: %s), so the kubelet restarts the container after %d failures, over and over (CrashLoopBackOff): fix the probe's path or port", d.set.Timeout, before, p.FailureThreshold))
	case at > window && d.emulated:
		ch.Got, ch.Pass = fmt.Sprintf("passed after %s under QEMU emulation (slower than %s hardware: the window is judged natively)", human.Duration(at), d.p), true
	case at > window:
		return d.fail(ch, "passed after "+human.Duration(at), p.Describe(), fmt.Sprintf("the service first passed after %s, but the kubelet restarts the container after %d failures %s apart from %s on (at %s), before it ever starts (CrashLoopBackOff): raise failureThreshold (or periodSeconds) so that initialDelaySeconds + (failureThreshold-1) × periodSeconds covers the start", human.Duration(at), p.FailureThreshold, human.Duration(p.Period), human.Duration(p.InitialDelay), human.Duration(window)))
	default:
		ch.Got, ch.Pass = "passed after "+human.Duration(at), true
	}
	return ch
}

// judgeReadiness: the probe must pass before SLIMAGE_VERIFY_TIMEOUT;
// failures before only keep the pod out of the Service's endpoints, so
// they are reported, not failed.
func (d *deployment) judgeReadiness(ch Check, p deploy.Probe, run *report.ProbeRun) Check {
	ch.Expected = p.Describe() + " passes"
	at, passed, before := firstPass(run)
	if !passed {
		return d.fail(ch, before, p.Describe(), fmt.Sprintf("%s: never passed within SLIMAGE_VERIFY_TIMEOUT (%s), so the pod never receives traffic from a Service and a rollout waiting for it never finishes: serve that path on that port, or fix the probe", before, d.set.Timeout))
	}
	ch.Got, ch.Pass = "passed after "+human.Duration(at), true
	if before != "" {
		ch.Got += " (" + before + " before: out of the Service meanwhile)"
	}
	return ch
}

// judgeLiveness: the probe must keep passing while the container settles.
// The kubelet restarts the container after failureThreshold failures in a
// row, one period apart: a run of failures that long, or one still going
// when the watch ended, fails; a shorter one that recovered is reported.
func (d *deployment) judgeLiveness(ch Check, p deploy.Probe, run *report.ProbeRun, end report.Since) Check {
	ch.Expected = p.Describe() + " keeps passing"
	restartAfter := time.Duration(p.FailureThreshold) * p.Period
	var short []string
	for i, r := range run.Results {
		if r.OK {
			continue
		}
		until, open := end, true
		for _, next := range run.Results[i+1:] {
			if next.OK {
				until, open = next.At, false
				break
			}
		}
		if i > 0 && !run.Results[i-1].OK {
			continue // the same run of failures, said differently
		}
		failing := until - r.At
		switch {
		case open:
			return d.fail(ch, "failing: "+lastSaid(run), p.Describe(), fmt.Sprintf("started failing %s after the container started (%s) and had not recovered %s later, so the kubelet restarts it after %d failures %s apart: keep the liveness endpoint answering (it must not depend on other services), or fix the probe", human.Duration(r.At), r.Said, human.Duration(failing), p.FailureThreshold, human.Duration(p.Period)))
		case failing >= restartAfter:
			return d.fail(ch, "failed for "+human.Duration(failing), p.Describe(), fmt.Sprintf("failed for %s from %s on (%s), as long as %d failures %s apart, after which the kubelet restarts the container: keep the liveness endpoint answering, or allow more failures", human.Duration(failing), human.Duration(r.At), r.Said, p.FailureThreshold, human.Duration(p.Period)))
		default:
			short = append(short, fmt.Sprintf("%s for %s", r.Said, human.Duration(failing)))
		}
	}
	ch.Got, ch.Pass = fmt.Sprintf("passed %d times until %s", run.Asked, human.Duration(end)), true
	if len(short) > 0 {
		ch.Got += " (failed briefly: " + strings.Join(short, "; ") + ")"
	}
	return ch
}

func lastSaid(run *report.ProbeRun) string {
	if n := len(run.Results); n > 0 {
		return run.Results[n-1].Said
	}
	return ""
}

// judgeExec runs an exec probe's command in the container once, as the
// kubelet does: an image FROM scratch has no shell, so `sh -c …` fails
// there, whatever it says.
func (d *deployment) judgeExec(ctx context.Context, t target, ch Check, p deploy.Probe) Check {
	ch.Expected = p.Describe() + " exits 0"
	if len(p.Command) == 0 {
		return d.fail(ch, "no command", p.Field+".exec.command", "is empty: the kubelet has nothing to run")
	}
	exit, out, err := t.Exec(ctx, p.Timeout+5*time.Second, p.Command)
	// The runtime could not start the command: Docker answers 126 or 127
	// with its own message (or an error, depending on the version).
	said := out
	if err != nil {
		said = err.Error()
	}
	missing := (err != nil || exit == 126 || exit == 127) &&
		(strings.Contains(said, "no such file or directory") || strings.Contains(said, "executable file not found"))
	switch {
	case missing:
		return d.fail(ch, "no "+p.Command[0]+" in the image", p.Field+".exec.command", fmt.Sprintf("runs %s, which the image does not have (it is FROM scratch: no shell, no tools), so the probe fails every time: use httpGet, tcpSocket or grpc instead", p.Command[0]))
	case err != nil:
		return d.fail(ch, "did not run", p.Field+".exec.command", err.Error())
	case exit != 0:
		return d.fail(ch, fmt.Sprintf("exited %d", exit), p.Describe(), fmt.Sprintf("exited %d: %s", exit, lastLines(out)))
	}
	ch.Got, ch.Pass = "exited 0", true
	return ch
}

// grace sends SIGTERM and measures how long the container takes to exit:
// the kubelet kills it terminationGracePeriodSeconds after it starts
// stopping it, a preStop sleep included.
func (d *deployment) grace(ctx context.Context, t target) Check {
	limit := d.c.Grace - d.c.PreStop
	ch := d.check(CheckGrace)
	ch.Expected = fmt.Sprintf("exits within %s of SIGTERM", human.Duration(limit))
	field := "terminationGracePeriodSeconds"
	if d.c.PreStop > 0 {
		ch.Expected += fmt.Sprintf(" (%s grace, less the preStop sleep)", human.Duration(d.c.Grace))
		field += " less lifecycle.preStop.sleep"
	}
	sent, exited, err := t.Term(ctx, limit+stopExtra(limit))
	if err != nil {
		return d.fail(ch, "unknown", field, err.Error())
	}
	wall := time.Since(sent)
	took := wall
	if exited {
		if st, err := t.State(ctx); err == nil {
			took = stopTime(sent, st.FinishedAt, wall)
		}
	} else {
		t.Kill(ctx)
	}
	switch {
	case !exited && d.emulated:
		// It runs without an init, as the kubelet runs it: the emulator is
		// PID 1 and drops a SIGTERM the binary has no handler for.
		ch.Got, ch.Pass = "not judged: still running under QEMU emulation, whose emulator as PID 1 drops a SIGTERM the binary has no handler for", true
	case !exited:
		return d.fail(ch, fmt.Sprintf("still running %s after SIGTERM", human.Duration(wall)), field, fmt.Sprintf("the service was still running %s after SIGTERM, so the kubelet kills it at %s, mid-shutdown: shut down faster, or raise terminationGracePeriodSeconds", human.Duration(wall), human.Duration(limit)))
	case took > limit && d.emulated:
		ch.Got, ch.Pass = fmt.Sprintf("exited after %s under QEMU emulation (judged natively)", human.Duration(took)), true
	case took > limit:
		return d.fail(ch, "exited after "+human.Duration(took), field, fmt.Sprintf("the service took %s to exit after SIGTERM, so the kubelet kills it at %s, mid-shutdown: shut down faster, or raise terminationGracePeriodSeconds", human.Duration(took), human.Duration(limit)))
	default:
		ch.Got, ch.Pass = "exited after "+human.Duration(took), true
	}
	return ch
}
