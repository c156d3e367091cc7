package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slimage/slimage/images/probe/report"
	"github.com/slimage/slimage/internal/gotool"
	"github.com/slimage/slimage/internal/zoneinfo"
)

// goroot is the toolchain whose zoneinfo.zip slimage copies zones from:
// the expectations are computed from the very bytes put into images.
func (r *run) goroot() (string, error) {
	if r.set.GOROOT != "" {
		return r.set.GOROOT, nil
	}
	env, err := gotool.ReadEnv(context.Background())
	if err != nil {
		return "", err
	}
	r.set.GOROOT = env.GOROOT
	return env.GOROOT, nil
}

// The zone checks prove that a Go program in the image runs in
// SLIMAGE_TZ: TZ is set, time.Local is that zone with its whole history
// (the offsets at report.Instants), and /etc/localtime agrees for programs
// that ignore TZ. Without SLIMAGE_TZ they have no rows (see zoneRow).

// zoneRow is a zone check's row: row's, for SLIMAGE_TZ and what the probe
// saw of time; none without SLIMAGE_TZ.
func zoneRow(ev evidence, row func(zone string, t report.Time) Check) []Check {
	if ev.set.TZ == "" {
		return nil
	}
	return []Check{row(ev.set.TZ, ev.report.Time)}
}

// judgeTZ: the image sets TZ to the zone.
func judgeTZ(ev evidence) []Check {
	return zoneRow(ev, func(zone string, t report.Time) Check {
		ch := Check{Name: CheckTZ, Expected: zone, Got: t.TZ, Pass: t.TZ == zone}
		if !t.TZSet {
			ch.Got = "unset"
		}
		if !ch.Pass {
			ch.Cause = fmt.Sprintf("TZ: the image sets TZ=%q, want %s: add ENV TZ=%s to the image", t.TZ, zone, zone)
		}
		return ch
	})
}

// judgeLocal: Go's time.Local is the zone.
func judgeLocal(ev evidence) []Check {
	return zoneRow(ev, func(zone string, t report.Time) Check {
		ch := Check{Name: CheckLocal, Expected: zone, Got: t.Local, Pass: t.Local == zone}
		if !ch.Pass {
			ch.Cause = localCause(zone, t.TZSet, t.TZ, t.Local, t.ZoneFile, t.Localtime)
		}
		return ch
	})
}

// judgeOffsets: time.Local has the zone's history (the offsets of
// ev.zone, as slimage copies it), not only today's offset.
func judgeOffsets(ev evidence) []Check {
	zone, t := ev.set.TZ, ev.report.Time
	if zone == "" || ev.zone == nil {
		return nil
	}
	var want, got []string
	for _, s := range report.Instants {
		at, _ := time.Parse(time.RFC3339, s)
		want = append(want, s[:4]+" "+at.In(ev.zone).Format("-07:00"))
		got = append(got, s[:4]+" "+t.Offsets[s])
	}
	ch := Check{Name: CheckOffsets, Expected: strings.Join(want, ", "), Got: strings.Join(got, ", ")}
	ch.Pass = ch.Expected == ch.Got
	if !ch.Pass {
		ch.Cause = fmt.Sprintf("offsets: time.Local does not keep %s's history (a zone with the same offset today, such as Asia/Singapore or a fixed +08, passes a today-only check): put %s's zone file in the image", zone, zone)
	}
	return []Check{ch}
}

// judgeLocaltime: /etc/localtime is the same zone, for programs that
// ignore TZ.
func judgeLocaltime(ev evidence) []Check {
	return zoneRow(ev, func(zone string, t report.Time) Check {
		ch := Check{Name: CheckLocaltime, Expected: "= /usr/share/zoneinfo/" + zone, Pass: t.LocaltimeSame}
		switch {
		case t.LocaltimeSame:
			ch.Got = "same zone"
		case !t.Localtime:
			ch.Got = "missing"
			ch.Cause = fmt.Sprintf("/etc/localtime: missing: programs that ignore TZ run in UTC: copy %s's zone file to /etc/localtime", zone)
		case !t.ZoneFile:
			ch.Got = "present; zoneinfo file missing"
			ch.Cause = fmt.Sprintf("/etc/localtime: /usr/share/zoneinfo/%s is missing, so the two cannot agree: copy the zone file to both places", zone)
		default:
			ch.Got = "another zone"
			ch.Cause = fmt.Sprintf("/etc/localtime: holds another zone than /usr/share/zoneinfo/%s: copy the same zone file to both places", zone)
		}
		return ch
	})
}

// zoneList is what the probe must load: SLIMAGE_ZONES, every zone of the
// toolchain for "all".
func (r *run) zoneList() ([]string, error) {
	if !r.set.AllZones {
		return r.set.Zones, nil
	}
	goroot, err := r.goroot()
	if err != nil {
		return nil, err
	}
	return zoneinfo.Names(goroot)
}

// judgeZones proves each zone of SLIMAGE_ZONES loads in the image, as a
// service calling time.LoadLocation would; an image holding only TZ's zone
// fails for any other.
func judgeZones(ev evidence) []Check {
	set, pr := ev.set, ev.report
	if len(set.Zones) == 0 {
		return nil
	}
	ch := Check{Name: CheckZones, Expected: strings.Join(set.Zones, ", ") + " load"}
	if set.AllZones {
		ch.Expected = "every zone loads"
	}
	var missing, errs []string
	for _, z := range pr.Zones {
		if z.Error != "" {
			missing = append(missing, z.Name)
			errs = append(errs, z.Error)
		}
	}
	if len(missing) == 0 {
		ch.Got, ch.Pass = fmt.Sprintf("%d of %d load", len(pr.Zones), len(pr.Zones)), true
		return []Check{ch}
	}
	shown := missing
	if len(shown) > 5 {
		shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(missing)-5))
	}
	ch.Got = "missing " + strings.Join(shown, ", ")
	ch.Cause = fmt.Sprintf("zones: time.LoadLocation fails in the image for %s (%s): add them to SLIMAGE_ZONES, or SLIMAGE_ZONES=all for the whole zone database", strings.Join(shown, ", "), errs[0])
	return []Check{ch}
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
