package verify

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/slimage/slimage/images/probe/report"
)

// TestJudgesPassTheSample: every judge passes slimage's image of the
// sample, as the probe reports it.
func TestJudgesPassTheSample(t *testing.T) {
	ev := goodEvidence(t)
	for _, st := range steps {
		if st.judge == nil {
			continue
		}
		rows := st.judge(ev)
		for _, ch := range rows {
			if !ch.Pass || !strings.HasPrefix(ch.Name, st.name) {
				t.Errorf("%s: %+v", st.name, ch)
			}
		}
		if len(rows) == 0 {
			t.Errorf("%s: no row", st.name)
		}
	}
}

// TestProbesStandWhereTheirUsersDo: the health probe shares the service's
// network namespace (it asks what the service serves), reachability is
// asked from another container on the default network (where a load
// balancer or a published port connects).
func TestProbesStandWhereTheirUsersDo(t *testing.T) {
	f := &fakeTarget{ip: "172.17.0.5", st: state{Running: true}, probe: map[string]probeAnswer{
		"healthy": {0, "ok 3"}, "reach": {0, `[{"addr":"172.17.0.5:8080"}]`}}}
	s := liveSubject(f)
	healthy(context.Background(), s)
	reachable(context.Background(), s)
	if got, want := strings.Join(f.probed, " "), "healthy@"+netService+" reach@"+netBridge; got != want {
		t.Errorf("probes ran %q, want %q", got, want)
	}
}

// TestStepsAreTheDocs: docs/verify.md's table names every check, in the
// report's order.
func TestStepsAreTheDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/verify.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| **") {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		for _, m := range regexp.MustCompile(`\*\*([^*]+)\*\*`).FindAllStringSubmatch(first, -1) {
			name, _, _ := strings.Cut(m[1], " &lt;") // reachable <port>, TLS <url>
			documented = append(documented, name)
		}
	}
	names := []string{CheckStart}
	for _, st := range steps {
		names = append(names, st.name)
	}
	if fmt.Sprint(documented) != fmt.Sprint(names) {
		t.Errorf("docs/verify.md's table names\n  %q\nthe checks are\n  %q", documented, names)
	}
}

// Example_judgeLocal: an image that sets TZ but lacks the zone file runs
// in UTC, and the row says why.
func Example_judgeLocal() {
	rows := judgeLocal(evidence{
		set:    Settings{TZ: "Asia/Shanghai"},
		report: &report.Report{Time: report.Time{TZ: "Asia/Shanghai", TZSet: true, Local: "UTC", Localtime: true}},
	})
	for _, ch := range rows {
		fmt.Printf("%s: expected %s, got %s, pass %v\n%s\n", ch.Name, ch.Expected, ch.Got, ch.Pass, ch.Cause)
	}
	// Output:
	// time.Local: expected Asia/Shanghai, got UTC, pass false
	// time.Local: time.Local is UTC, want Asia/Shanghai: TZ is set, so Go ignores /etc/localtime, and /usr/share/zoneinfo/Asia/Shanghai is missing from the image
}
