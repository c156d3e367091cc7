package verify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slimage/slimage/images/deploy"
	"github.com/slimage/slimage/images/probe/report"
)

// manifestContainer is a container of a manifest with every promise
// checked: a port, the three probes, a grace period.
func manifestContainer() deploy.Container {
	probe := func(field string) deploy.Probe {
		return deploy.Probe{Field: field, Handler: report.HTTPGet, Path: "/healthz", Port: 8080, PortName: "http",
			Period: time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3}
	}
	return deploy.Container{File: "deploy/api.yaml", Object: "Deployment shop/api", Name: "api",
		User: "1000680000", ReadOnlyRoot: true, CapDrop: []string{"ALL"}, NoNewPrivileges: true,
		Volumes: []deploy.Volume{{Name: "tmp", Path: "/tmp", Size: 1 << 20}},
		Args:    []string{"-addr", ":8080"}, Env: []string{"MODE=prod"}, Memory: 64 << 20,
		Ports:  []deploy.Port{{Name: "http", Number: 8080, Protocol: "TCP"}},
		Probes: []deploy.Probe{probe(deploy.Startup), probe(deploy.Readiness), probe(deploy.Liveness)},
		Grace:  5 * time.Second}
}

// answered is a probe's timeline: results at the given times.
func answered(field string, results ...report.ProbeResult) report.ProbeRun {
	return report.ProbeRun{Field: field, Results: results, Asked: 10}
}

func ok(at time.Duration) report.ProbeResult {
	return report.ProbeResult{At: at, OK: true, Said: "200 OK"}
}
func bad(at time.Duration, said string) report.ProbeResult {
	return report.ProbeResult{At: at, Said: said}
}

// goodKubelet is what the kubelet's probes see of a service that starts
// in 300ms and stays healthy.
func goodKubelet() report.KubeletReport {
	return report.KubeletReport{
		Probes: []report.ProbeRun{
			answered(deploy.Startup, bad(0, "connection refused"), ok(300*time.Millisecond)),
			answered(deploy.Readiness, ok(400*time.Millisecond)),
			answered(deploy.Liveness, ok(400*time.Millisecond)),
		},
		Ports: []report.Reach{{Addr: "172.17.0.9:8080"}},
		End:   3 * time.Second,
	}
}

// TestDeployed: the service run as a manifest container says, against a
// fake service and a fake kubelet: each case fails exactly one row (or
// none), naming the manifest, object, container and field.
func TestDeployed(t *testing.T) {
	cases := []struct {
		name    string
		change  func(*deploy.Container, *fakeTarget, *report.KubeletReport)
		emulate bool
		failed  string // the row that fails, "" for none
		words   []string
	}{
		{name: "passes"},
		{name: "the memory limit", failed: CheckDeployed,
			change: func(_ *deploy.Container, f *fakeTarget, _ *report.KubeletReport) {
				f.st = state{ExitCode: 137, OOMKilled: true}
			},
			words: []string{"deploy/api.yaml: Deployment shop/api, container api: resources.limits.memory", "OOMKilled", "64.0 MiB"}},
		{name: "the memory limit under emulation: not judged", failed: "", emulate: true,
			change: func(_ *deploy.Container, f *fakeTarget, _ *report.KubeletReport) {
				f.st = state{ExitCode: 137, OOMKilled: true}
			}},
		{name: "a write to the read-only root", failed: CheckDeployed,
			change: func(_ *deploy.Container, f *fakeTarget, _ *report.KubeletReport) {
				f.st, f.logs = state{ExitCode: 1}, "open /var/cache/app/index: read-only file system"
			},
			words: []string{"securityContext.readOnlyRootFilesystem", "emptyDir at /var/cache/app"}},
		{name: "a folder the uid may not enter", failed: CheckDeployed,
			change: func(_ *deploy.Container, f *fakeTarget, _ *report.KubeletReport) {
				f.st, f.logs = state{ExitCode: 1}, "open /data/private/state.json: permission denied"
			},
			words: []string{"securityContext.runAsUser", "permission denied as 1000680000:0"}},
		{name: "a Deployment's container that exits 0", failed: CheckDeployed,
			change: func(_ *deploy.Container, f *fakeTarget, _ *report.KubeletReport) { f.st = state{ExitCode: 0} },
			words:  []string{"exited 0", "the Deployment restarts it", "CrashLoopBackOff", "Job"}},
		{name: "a Job's container that exits 0", failed: "",
			change: func(c *deploy.Container, f *fakeTarget, _ *report.KubeletReport) {
				c.Job, c.Object, f.st = true, "Job shop/migrate", state{ExitCode: 0}
			}},
		{name: "runAsNonRoot and a root image", failed: CheckDeployed,
			change: func(c *deploy.Container, _ *fakeTarget, _ *report.KubeletReport) { c.User, c.RunAsNonRoot = "", true },
			words:  []string{"securityContext.runAsNonRoot", "would run as root"}},
		{name: "a port nothing listens on", failed: CheckContainerPort + " 8080",
			change: func(_ *deploy.Container, _ *fakeTarget, k *report.KubeletReport) {
				k.Ports[0].Error = "connect: connection refused"
			},
			words: []string{"container api: ports.containerPort 8080", "connection refused"}},
		{name: "readiness never passes", failed: deploy.Readiness,
			change: func(_ *deploy.Container, _ *fakeTarget, k *report.KubeletReport) {
				k.Probes[1] = answered(deploy.Readiness, bad(400*time.Millisecond, "404 Not Found"))
			},
			words: []string{"container api: readinessProbe.httpGet /healthz on http: 404 Not Found", "never passed"}},
		{name: "readiness fails, then passes: reported", failed: "",
			change: func(_ *deploy.Container, _ *fakeTarget, k *report.KubeletReport) {
				k.Probes[1] = answered(deploy.Readiness, bad(400*time.Millisecond, "503 Service Unavailable"), ok(time.Second))
			}},
		{name: "a start longer than the startup window", failed: deploy.Startup,
			change: func(_ *deploy.Container, _ *fakeTarget, k *report.KubeletReport) {
				k.Probes[0] = answered(deploy.Startup, bad(0, "connection refused"), ok(2500*time.Millisecond))
			},
			words: []string{"startupProbe.httpGet /healthz on http", "first passed after 2.5s", "after 3 failures 1s apart", "CrashLoopBackOff"}},
		{name: "a slow start under emulation: reported", failed: "", emulate: true,
			change: func(_ *deploy.Container, _ *fakeTarget, k *report.KubeletReport) {
				k.Probes[0] = answered(deploy.Startup, bad(0, "connection refused"), ok(2500*time.Millisecond))
			}},
		{name: "liveness starts failing", failed: deploy.Liveness,
			change: func(_ *deploy.Container, _ *fakeTarget, k *report.KubeletReport) {
				k.Probes[2] = answered(deploy.Liveness, ok(400*time.Millisecond), bad(2*time.Second, "503 Service Unavailable"))
			},
			words: []string{"livenessProbe.httpGet /healthz on http", "503 Service Unavailable", "had not recovered"}},
		{name: "liveness fails as long as the kubelet allows", failed: deploy.Liveness,
			change: func(_ *deploy.Container, _ *fakeTarget, k *report.KubeletReport) {
				k.Probes[2] = answered(deploy.Liveness, ok(400*time.Millisecond), bad(500*time.Millisecond, "timed out"), ok(4*time.Second))
				k.End = 5 * time.Second
			},
			words: []string{"failed for 3.5s", "timed out"}},
		{name: "liveness fails briefly: reported", failed: "",
			change: func(_ *deploy.Container, _ *fakeTarget, k *report.KubeletReport) {
				k.Probes[2] = answered(deploy.Liveness, ok(400*time.Millisecond), bad(500*time.Millisecond, "timed out"), ok(900*time.Millisecond))
			}},
		{name: "an exec probe without a shell", failed: deploy.Liveness,
			change: func(c *deploy.Container, _ *fakeTarget, _ *report.KubeletReport) {
				c.Probes[2] = deploy.Probe{Field: deploy.Liveness, Handler: report.Exec, Command: []string{"sh", "-c", "true"}, Timeout: time.Second}
			},
			words: []string{"livenessProbe.exec.command", "runs sh, which the image does not have", "httpGet"}},
		{name: "an exec probe of the image's own binary", failed: "",
			change: func(c *deploy.Container, f *fakeTarget, _ *report.KubeletReport) {
				c.Probes[2] = deploy.Probe{Field: deploy.Liveness, Handler: report.Exec, Command: []string{"/app/api", "-check"}, Timeout: time.Second}
				f.exec = map[string]probeAnswer{"/app/api": {0, "ok"}}
			}},
		{name: "a probe port no port is named", failed: deploy.Readiness,
			change: func(c *deploy.Container, _ *fakeTarget, _ *report.KubeletReport) {
				c.Probes[1].Port, c.Probes[1].PortName = 0, "metrics"
			},
			words: []string{"readinessProbe.httpGet.port", `names port "metrics"`}},
		{name: "a drain longer than the grace period", failed: CheckGrace,
			change: func(_ *deploy.Container, f *fakeTarget, _ *report.KubeletReport) { f.exitAfter = 7 * time.Second },
			words:  []string{"container api: terminationGracePeriodSeconds", "took 7s", "kills it at 5s"}},
		{name: "a preStop sleep counts against the grace period", failed: CheckGrace,
			change: func(c *deploy.Container, f *fakeTarget, _ *report.KubeletReport) {
				c.PreStop, f.exitAfter = 3*time.Second, 2500*time.Millisecond
			},
			words: []string{"terminationGracePeriodSeconds less lifecycle.preStop.sleep", "kills it at 2s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := manifestContainer()
			svc := &fakeTarget{st: state{Running: true}, ip: "172.17.0.9", exitAfter: 20 * time.Millisecond}
			kr := goodKubelet()
			if tc.change != nil {
				tc.change(&c, svc, &kr)
			}
			js, _ := json.Marshal(kr)
			svc.probe = map[string]probeAnswer{"kubelet": {0, string(js)}}
			f := &fakeTarget{runAs: svc}
			s := liveSubject(f)
			s.image.User = "65532:65532"
			if tc.name == "runAsNonRoot and a root image" {
				s.image.User = ""
			}
			s.emulated = tc.emulate
			s.set.Deployment = &deploy.Plan{Containers: []deploy.Container{c}}
			rows := deployed(context.Background(), s)
			if len(rows) == 0 {
				t.Fatal("no rows")
			}
			for _, ch := range rows {
				switch {
				case ch.Name == tc.failed && ch.Pass:
					t.Errorf("%s passed: %+v", ch.Name, ch)
				case ch.Name == tc.failed:
					for _, w := range tc.words {
						if !strings.Contains(ch.Cause, w) {
							t.Errorf("cause %q does not mention %q", ch.Cause, w)
						}
					}
				case !ch.Pass:
					t.Errorf("%s failed too: %s", ch.Name, ch.Cause)
				}
			}
			if tc.failed != "" && findRow(rows, tc.failed) == nil {
				t.Errorf("no row %s: %+v", tc.failed, rows)
			}
			if f.ranAs != nil && !svc.removed {
				t.Error("the manifest's container was not removed")
			}
		})
	}
}

func findRow(rows []Check, name string) *Check {
	for i := range rows {
		if rows[i].Name == name {
			return &rows[i]
		}
	}
	return nil
}

// TestDeployedProfile: the container runs as the manifest says, user and
// group resolved as the runtime resolves them.
func TestDeployedProfile(t *testing.T) {
	c := manifestContainer()
	d := &deployment{subject: &subject{image: imageConfig{User: "65532:65532"}}, c: c}
	p, user, refused := d.profile()
	if refused != "" || user != "1000680000:0" || p.User != user || !p.ReadOnlyRoot || p.CapDrop[0] != "ALL" || !p.NoNewPrivileges ||
		p.Tmpfs["/tmp"] != "rw,nosuid,nodev,mode=0777,size=1048576" || p.Memory != 64<<20 || p.Cmd[0] != "-addr" || p.Entrypoint != nil || p.Env[0] != "MODE=prod" {
		t.Errorf("profile %+v, user %s, refused %q", p, user, refused)
	}
	// No runAsUser: the image's user and group, as the image says.
	d.c.User = ""
	if p, user, _ := d.profile(); user != "65532:65532" || p.User != "" {
		t.Errorf("the image's user: %s, profile %q", user, p.User)
	}
	// Only runAsGroup: the image's uid in that group.
	d.c.Group = "3000"
	if p, _, _ := d.profile(); p.User != "65532:3000" {
		t.Errorf("runAsGroup alone: %q", p.User)
	}
	d.c.Group = ""
	// runAsNonRoot with a named user: the kubelet cannot tell.
	d.c.RunAsNonRoot, d.image.User = true, "app"
	if _, _, refused := d.profile(); !strings.Contains(refused, "is a name") {
		t.Errorf("a named user under runAsNonRoot: %q", refused)
	}
}

// Without a manifest container, no rows: the restricted check runs
// instead.
func TestDeployedNeedsAManifest(t *testing.T) {
	s := liveSubject(&fakeTarget{})
	if rows := deployed(context.Background(), s); rows != nil {
		t.Errorf("rows %+v", rows)
	}
	s.set.Deployment = &deploy.Plan{}
	if rows := deployed(context.Background(), s); rows != nil {
		t.Errorf("rows %+v", rows)
	}
}
