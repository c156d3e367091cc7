package verify

import (
	"testing"

	"github.com/slimage/slimage/images/probe/report"
)

// TestJudgeTrust: the trust store and live TLS calls,
// judged from the probe's report.
func TestJudgeTrust(t *testing.T) {
	testJudge(t, []judgeCase{
		{"no CA bundle", judgeTrustStore, func(e *evidence) { e.report.Trust = report.Trust{} }, false, []string{"no CA bundle", "x509: certificate signed by unknown authority"}},
		{"a short bundle", judgeTrustStore, func(e *evidence) { e.report.Trust.Roots = 3 }, false, []string{"fewer than 100"}},
		{"a custom bundle of one root", judgeTrustStore, func(e *evidence) { e.set.CustomBundle, e.report.Trust.Roots = true, 1 }, true, []string{"1 roots"}},
		{"a custom bundle: no well-known roots asked", judgeKnownRoots, func(e *evidence) { e.set.CustomBundle = true }, true, nil},
		{"known roots missing", judgeKnownRoots, func(e *evidence) { e.report.Trust.Present = e.report.Trust.Present[:2] }, false, []string{"2 of 8 valid", "up-to-date ca-certificates"}},
		{"TLS certificate error", judgeTLS, func(e *evidence) {
			e.report.TLS = []report.TLS{{URL: "https://127.0.0.1:8443/", Kind: "certificate", Error: "x509: certificate signed by unknown authority"}}
		}, false, []string{"certificate", "SLIMAGE_EXTRA_CA"}},
		{"TLS unreachable, default URL: skipped", judgeTLS, func(e *evidence) {
			e.set.TLSExplicit = false
			e.report.TLS = []report.TLS{{URL: DefaultTLSURL, Kind: "network", Error: "dial tcp: network is unreachable"}}
		}, true, []string{"skipped"}},
		{"TLS unreachable, listed URL: fails", judgeTLS, func(e *evidence) {
			e.report.TLS = []report.TLS{{URL: "https://127.0.0.1:8443/", Kind: "network", Error: "connection refused"}}
		}, false, []string{"network", "SLIMAGE_VERIFY_TLS"}},
	})
}
