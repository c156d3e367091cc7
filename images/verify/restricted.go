package verify

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// restrictedUID is the user the restricted check runs the service as: an
// arbitrary uid the image never named, from the range OpenShift assigns to
// a project, in group 0 as OpenShift runs it.
const restrictedUID = "1000680000"

// restrictedProfile is how Kubernetes' "restricted" Pod Security Standard
// and OpenShift's default admission (restricted-v2) run a container: a
// non-root uid of the cluster's choosing in group 0, the root file system
// read-only (a service writes to the volumes it declares; /tmp is an
// emptyDir, here a tmpfs), all capabilities dropped, no new privileges.
var restrictedProfile = profile{
	User:            restrictedUID + ":0",
	ReadOnlyRoot:    true,
	Tmpfs:           map[string]string{"/tmp": "rw,nosuid,nodev,mode=1777"},
	CapDrop:         []string{"ALL"},
	NoNewPrivileges: true,
}

// restricted runs the image once more under restrictedProfile, beside the
// service as built, and proves it starts there too (as start judges it).
// A failure names what the service reported: a write to the read-only
// root file system, a file or folder only the image's own user may read,
// an operation a dropped capability allowed. SLIMAGE_VERIFY_RESTRICTED=false
// turns it off.
func restricted(ctx context.Context, s *subject) []Check {
	if !s.set.Restricted || s.set.Deployment != nil && len(s.set.Deployment.Containers) > 0 {
		return nil // off, or the manifests say how the cluster runs it
	}
	expected := "starts as uid " + restrictedUID + ":0, read-only root, no caps"
	t, err := s.t.RunAs(ctx, restrictedProfile)
	if err != nil {
		return []Check{{Name: CheckRestricted, Expected: expected, Got: "did not start",
			Cause: "restricted: start the service under the restricted profile: " + err.Error()}}
	}
	defer t.Remove(ctx)
	ch, _ := ready(ctx, s, t, CheckRestricted)
	ch.Expected = expected
	if !ch.Pass && ch.Got != gotCannotRun {
		ch.Cause = restrictedCause(ch, t.Logs(ctx))
	}
	return []Check{ch}
}

// pathError is an error Go's os package reports for a path (a PathError's
// text: "open /data/config.json: permission denied"), of the kinds the
// restricted profile causes.
var pathError = regexp.MustCompile(`\b([a-z]+) (/[^\s:]*): (read-only file system|permission denied|operation not permitted)`)

// restrictedCause explains a start that failed under the restricted
// profile (the service started as built) from what the service logged.
func restrictedCause(ch Check, logs string) string {
	what := strings.TrimPrefix(ch.Cause, CheckRestricted+": ")
	m := pathError.FindAllStringSubmatch(logs, -1)
	if m == nil {
		return fmt.Sprintf("restricted: as uid %s in group 0, with a read-only root file system and no capabilities, %s; it starts as built, so what Kubernetes' restricted profile or OpenShift changes stops it: see its log lines", restrictedUID, what)
	}
	last := m[len(m)-1]
	op, path, cause := last[1], last[2], last[3]
	switch cause {
	case "read-only file system":
		return fmt.Sprintf("restricted: the service writes to the image's file system (%s %s: read-only file system), which readOnlyRootFilesystem makes read-only: write under /tmp, or to a volume mounted there (an emptyDir), and say which in the manifest; %s", op, path, what)
	case "permission denied":
		return fmt.Sprintf("restricted: %s %s: permission denied as uid %s in group 0, the arbitrary uid OpenShift assigns: the image's files are its own user's only: make them group 0's too (COPY --chown=<uid>:0, and chmod g=u for what it reads or writes); %s", op, path, restrictedUID, what)
	}
	return fmt.Sprintf("restricted: %s %s: operation not permitted: the service needs a capability or privilege the restricted profile drops (all capabilities, no new privileges): do without it; %s", op, path, what)
}
