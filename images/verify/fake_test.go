package verify

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/probe/report"
)

// fakeTarget is a service as a live check sees it, without Docker: the
// checks' unit tests set what it answers. The end-to-end suite of broken
// images (images/verify_test.go) runs the same checks on real containers.
type fakeTarget struct {
	// probe answers a probe run by its first argument ("healthy",
	// "reach", "listeners", "wait"); a missing one fails to start.
	probe map[string]probeAnswer
	st    state
	logs  string
	ip    string
	// exitAfter is how long the service takes to exit on SIGTERM (< 0:
	// it never does): Term answers as if the signal had been sent that
	// long ago and the service just exited.
	exitAfter time.Duration
	files     map[string][]byte
	killed    bool
	probed    []string // the networks the probes ran on, in order
	// runAs is the service RunAs starts (nil: it fails to start); ranAs
	// is the profile it was given, removed whether Remove was called.
	// exec answers Exec by the command's first word; a missing one is
	// not in the image.
	exec    map[string]probeAnswer
	runAs   *fakeTarget
	ranAs   *profile
	removed bool
}

type probeAnswer struct {
	exit int
	out  string
}

func (f *fakeTarget) Probe(_ context.Context, network string, _ time.Duration, args ...string) (int, string, error) {
	f.probed = append(f.probed, args[0]+"@"+network)
	a, ok := f.probe[args[0]]
	if !ok {
		return -1, "", errors.New("create the probe's container: no such image")
	}
	return a.exit, a.out, nil
}

func (f *fakeTarget) State(context.Context) (state, error) { return f.st, nil }
func (f *fakeTarget) Logs(context.Context) string          { return f.logs }
func (f *fakeTarget) IP(context.Context) (string, error)   { return f.ip, nil }
func (f *fakeTarget) Kill(context.Context)                 { f.killed = true }

func (f *fakeTarget) Term(_ context.Context, wait time.Duration) (time.Time, bool, error) {
	now := time.Now()
	if f.exitAfter < 0 || f.exitAfter > wait {
		return now.Add(-wait), false, nil
	}
	f.st = state{ExitCode: 143, FinishedAt: now}
	return now.Add(-f.exitAfter), true, nil
}

func (f *fakeTarget) RunAs(_ context.Context, p profile) (target, error) {
	f.ranAs = &p
	if f.runAs == nil {
		return nil, errors.New("create container: no such image")
	}
	return f.runAs, nil
}

func (f *fakeTarget) Remove(context.Context) { f.removed = true }

func (f *fakeTarget) Exec(_ context.Context, _ time.Duration, cmd []string) (int, string, error) {
	a, ok := f.exec[cmd[0]]
	if !ok {
		return -1, "", errors.New(`OCI runtime exec failed: exec failed: unable to start container process: exec: "` + cmd[0] + `": executable file not found in $PATH: unknown`)
	}
	return a.exit, a.out, nil
}

func (f *fakeTarget) Exists(_ context.Context, file string) bool {
	_, ok := f.files[file]
	return ok
}

func (f *fakeTarget) ReadFile(_ context.Context, file string) ([]byte, error) {
	if data, ok := f.files[file]; ok {
		return data, nil
	}
	return nil, errors.New("Could not find the file " + file + " in container")
}

// rowsSay reports whether there are rows, each passed as pass says, and
// each one's got and cause hold every one of words.
func rowsSay(checks []Check, pass bool, words ...string) bool {
	for _, ch := range checks {
		if ch.Pass != pass {
			return false
		}
		for _, w := range words {
			if !strings.Contains(ch.Cause+" "+ch.Got, w) {
				return false
			}
		}
	}
	return len(checks) > 0
}

// shanghai is the zone's history at report.Instants, as the probe reports
// an image with its zone file.
var shanghai = map[string]string{
	"1980-01-01T00:00:00Z": "+08:00", "1988-07-01T00:00:00Z": "+09:00",
	"2000-01-01T00:00:00Z": "+08:00", "2024-07-01T00:00:00Z": "+08:00",
}

// goodReport is what the probe reports inside slimage's image of the
// sample.
func goodReport() *report.Report {
	var present []string
	for _, r := range report.KnownRoots {
		present = append(present, r.Name)
	}
	return &report.Report{
		Time: report.Time{TZ: "Asia/Shanghai", TZSet: true, Local: "Asia/Shanghai", Offsets: shanghai,
			Localtime: true, ZoneFile: true, LocaltimeSame: true},
		Trust: report.Trust{Source: report.CertFiles[0], Roots: 140, Present: present},
		TLS:   []report.TLS{{URL: "https://127.0.0.1:8443/", Status: 200, Version: "TLS 1.3", Root: "CN=slimage test root"}},
		User:  report.User{UID: 65532, GID: 65532, TempDir: "/tmp"},
		Zones: []report.Zone{{Name: "Europe/Berlin"}},
	}
}

func goodEvidence(t *testing.T) evidence {
	// A zone of the same history built by hand: the judges need no
	// toolchain.
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skipf("this machine has no zone database: %v", err)
	}
	return evidence{
		set: Settings{User: "65532:65532", TZ: "Asia/Shanghai", Zones: []string{"Europe/Berlin"}, MinRoots: 100,
			TLSURLs: []string{"https://127.0.0.1:8443/"}, TLSExplicit: true},
		built: true, zone: loc, report: goodReport(),
	}
}

// judgeCase is one case of a judge's test: the good evidence, changed.
type judgeCase struct {
	name   string
	judge  func(evidence) []Check
	change func(*evidence)
	pass   bool
	words  []string // in the rows' got and cause; none: the judge has no row
}

func testJudge(t *testing.T, cases []judgeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := goodEvidence(t)
			if tc.change != nil {
				tc.change(&ev)
			}
			rows := tc.judge(ev)
			if tc.words == nil {
				if len(rows) != 0 {
					t.Fatalf("rows %+v, want none", rows)
				}
				return
			}
			if !rowsSay(rows, tc.pass, tc.words...) {
				t.Errorf("rows %+v: want pass=%v and %q", rows, tc.pass, tc.words)
			}
		})
	}
}

func liveSubject(t *fakeTarget) *subject {
	return &subject{
		set: Settings{Ports: []string{"8080/tcp"}, HealthPath: "/healthz", Settle: 10 * time.Millisecond,
			Stop: 100 * time.Millisecond, Restricted: true},
		p:       config.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH},
		image:   imageConfig{Ports: []string{"8080/tcp"}, Entrypoint: []string{"/app/hello"}},
		readyAt: time.Now(),
		t:       t,
	}
}

// liveCase is one case of a live check's test: a fake service, and the
// subject of liveSubject changed.
type liveCase struct {
	name   string
	check  func(context.Context, *subject) []Check
	target fakeTarget
	change func(*subject)
	pass   bool
	words  []string
	killed bool // the check must have sent SIGKILL
}

func testLive(t *testing.T, cases []liveCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.target
			s := liveSubject(&f)
			if tc.change != nil {
				tc.change(s)
			}
			rows := tc.check(context.Background(), s)
			if !rowsSay(rows, tc.pass, tc.words...) {
				t.Errorf("rows %+v: want pass=%v and %q", rows, tc.pass, tc.words)
			}
			if f.killed != tc.killed {
				t.Errorf("SIGKILL sent: %v, want %v", f.killed, tc.killed)
			}
		})
	}
}
