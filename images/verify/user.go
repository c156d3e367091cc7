package verify

import (
	"fmt"
	"strconv"
	"strings"
)

// judgeUser reports who the service runs as. An image slimage built must
// run as SLIMAGE_USER (nonroot by default); an image built elsewhere must
// not run as root when SLIMAGE_VERIFY_NONROOT is set, and is only reported
// otherwise.
func judgeUser(ev evidence) []Check {
	u, set := ev.report.User, ev.set
	got := fmt.Sprintf("uid %d, gid %d", u.UID, u.GID)
	ch := Check{Name: CheckUser, Expected: "any (reported)", Got: got, Pass: true}
	switch {
	case ev.built:
		want, _, _ := strings.Cut(set.User, ":")
		ch.Expected = "uid " + want
		if want == "0" {
			ch.Expected = "uid 0 (SLIMAGE_USER=root)"
		}
		if strconv.Itoa(u.UID) != want {
			ch.Pass = false
			ch.Cause = fmt.Sprintf("user: the service runs as uid %d, but SLIMAGE_USER is %s: set USER %s in the image", u.UID, set.User, set.User)
		}
	case set.Nonroot:
		ch.Expected = "not root"
		ch.Pass = u.UID != 0
	}
	if !ch.Pass && u.UID == 0 {
		ch.Cause = "user: the service runs as root (uid 0), so a process that escapes the container is root on the node: set USER 65532:65532 in the image (slimage's SLIMAGE_USER=nonroot)"
	}
	return []Check{ch}
}

// judgeTempDir proves the service can write where Go puts temporary files.
func judgeTempDir(ev evidence) []Check {
	u := ev.report.User
	tmp := Check{Name: CheckTempDir, Expected: "writable", Got: u.TempDir + " writable", Pass: u.TempError == ""}
	if !tmp.Pass {
		tmp.Got = u.TempDir + " not writable"
		tmp.Cause = fmt.Sprintf("temp dir: os.TempDir() (%s) is not writable by uid %d (%s), so os.CreateTemp and uploads fail: add %s with mode 1777 to the image (slimage's images have it), or set TMPDIR to a writable folder", u.TempDir, u.UID, u.TempError, u.TempDir)
	}
	return []Check{tmp}
}
