package verify

import (
	"fmt"
	"strings"

	"github.com/slimage/slimage/images/probe/report"
)

// judgeTrustStore proves the image's trust store is where Go looks and
// holds enough roots.
func judgeTrustStore(ev evidence) []Check {
	tr := ev.report.Trust
	min := ev.set.MinRoots
	if ev.set.CustomBundle && min > 1 {
		min = 1 // a custom bundle may hold just the company's roots
	}
	store := Check{Name: CheckTrustStore, Expected: fmt.Sprintf(">= %d roots", min),
		Got: fmt.Sprintf("%d roots in %s", tr.Roots, orNone(tr.Source)), Pass: tr.Source != "" && tr.Roots >= min}
	switch {
	case tr.Source == "":
		store.Got = "no CA bundle"
		store.Cause = "trust store: the image has no CA bundle where Go looks (/etc/ssl/certs/ca-certificates.crt, …), so every HTTPS call fails with 'x509: certificate signed by unknown authority': copy a CA bundle into the image"
	case !store.Pass:
		store.Cause = fmt.Sprintf("trust store: %s holds %d roots, fewer than %d: use a complete bundle (or lower SLIMAGE_VERIFY_MIN_ROOTS for a deliberate one)", tr.Source, tr.Roots, min)
	}
	return []Check{store}
}

// judgeKnownRoots proves the widely used roots are in the bundle and
// valid, unless the user chose a bundle of their own.
func judgeKnownRoots(ev evidence) []Check {
	if ev.set.CustomBundle {
		return nil
	}
	tr := ev.report.Trust
	known := Check{Name: CheckKnownRoots, Expected: fmt.Sprintf("%d of %d valid", len(report.KnownRoots), len(report.KnownRoots)),
		Got: fmt.Sprintf("%d of %d valid", len(tr.Present), len(report.KnownRoots)), Pass: len(tr.Present) == len(report.KnownRoots)}
	if !known.Pass {
		known.Cause = fmt.Sprintf("well-known roots: the bundle lacks or has expired %d widely used roots (present: %s): use an up-to-date ca-certificates bundle", len(report.KnownRoots)-len(tr.Present), orNone(strings.Join(tr.Present, ", ")))
	}
	return []Check{known}
}

// judgeTLS proves live HTTPS calls from inside the image validate, with
// the standard client, as the service's own would.
func judgeTLS(ev evidence) []Check {
	var checks []Check
	explicit := ev.set.TLSExplicit
	for _, r := range ev.report.TLS {
		ch := Check{Name: CheckTLS + " " + r.URL, Expected: "verified response"}
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
	return checks
}

func rootCN(subject string) string {
	for _, part := range strings.Split(subject, ",") {
		if cn, ok := strings.CutPrefix(part, "CN="); ok {
			return cn
		}
	}
	return subject
}
