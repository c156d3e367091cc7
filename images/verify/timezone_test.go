package verify

import (
	"testing"

	"github.com/slimage/slimage/images/probe/report"
)

// TestJudgeZone: the zone checks,
// judged from the probe's report.
func TestJudgeZone(t *testing.T) {
	testJudge(t, []judgeCase{
		{"TZ unset", judgeTZ, func(e *evidence) { e.report.Time.TZSet, e.report.Time.TZ = false, "" }, false, []string{"unset", "ENV TZ=Asia/Shanghai"}},
		{"no TZ asked: no row", judgeTZ, func(e *evidence) { e.set.TZ = "" }, true, nil},
		{"time.Local UTC without the zone file", judgeLocal, func(e *evidence) { e.report.Time.Local, e.report.Time.ZoneFile = "UTC", false }, false, []string{"time.Local is UTC", "/usr/share/zoneinfo/Asia/Shanghai is missing"}},
		{"a zone of today's offset only", judgeOffsets, func(e *evidence) { e.report.Time.Offsets = map[string]string{} }, false, []string{"does not keep Asia/Shanghai's history"}},
		{"/etc/localtime missing", judgeLocaltime, func(e *evidence) { e.report.Time.Localtime, e.report.Time.LocaltimeSame = false, false }, false, []string{"missing", "run in UTC"}},
		{"zones load", judgeZones, nil, true, []string{"1 of 1 load"}},
		{"a zone missing", judgeZones, func(e *evidence) {
			e.report.Zones = []report.Zone{{Name: "Europe/Berlin", Error: "unknown time zone Europe/Berlin"}}
		}, false, []string{"missing Europe/Berlin", "SLIMAGE_ZONES"}},
	})
}
