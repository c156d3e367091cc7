package verify

import (
	"testing"
)

// TestJudgeUser: who the service runs as, and its temp dir,
// judged from the probe's report.
func TestJudgeUser(t *testing.T) {
	testJudge(t, []judgeCase{
		{"user as set", judgeUser, nil, true, []string{"uid 65532"}},
		{"user root, built here", judgeUser, func(e *evidence) { e.report.User.UID = 0 }, false, []string{"runs as root (uid 0)", "USER 65532:65532"}},
		{"user other, built here", judgeUser, func(e *evidence) { e.report.User.UID = 1000 }, false, []string{"uid 1000", "SLIMAGE_USER is 65532:65532"}},
		{"user root, built elsewhere, reported", judgeUser, func(e *evidence) { e.built, e.report.User.UID = false, 0 }, true, []string{"uid 0"}},
		{"user root, built elsewhere, nonroot asked", judgeUser, func(e *evidence) { e.built, e.set.Nonroot, e.report.User.UID = false, true, 0 }, false, []string{"runs as root"}},
		{"temp dir read-only", judgeTempDir, func(e *evidence) { e.report.User.TempError = "permission denied" }, false, []string{"/tmp not writable", "mode 1777"}},
	})
}
