package config

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slimage/slimage/internal/trust"
)

// The checks here run before any work (Resolve, and CheckImageInputs for
// the targets that make or run an image): each reads only what a setting
// names, so a run that cannot succeed stops at once, with one line naming
// the setting and the fix.

// MaxID is the largest uid or gid a container runtime and Kubernetes take
// (runAsUser is an int64, but the kernel's IDs and Docker's are 31 bits).
const MaxID = 1<<31 - 1

// checkPorts checks SLIMAGE_PORTS: numbers from 1 to 65535, tcp or udp (the
// protocols verify can reach; sctp is neither exposed nor proved).
func (c *Config) checkPorts() error {
	for i, p := range c.Ports {
		m := portForm.FindStringSubmatch(p)
		if m == nil {
			return fmt.Errorf("check SLIMAGE_PORTS: %q is not a port: write 8080, 8080/tcp or 53/udp", p)
		}
		if n, err := strconv.Atoi(m[1]); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("check SLIMAGE_PORTS: %s is not a port number (1 to 65535)", m[1])
		}
		if m[3] == "" {
			c.Ports[i] = m[1] + "/tcp"
		} else if m[3] != "tcp" && m[3] != "udp" {
			return fmt.Errorf("check SLIMAGE_PORTS: %q: slimage exposes and verifies tcp and udp ports, not %s: write %s/tcp or %s/udp", p, m[3], m[1], m[1])
		}
	}
	return nil
}

// checkUser checks SLIMAGE_USER's uid:gid (nonroot and root are resolved
// before) against the range a container runtime takes.
func (c *Config) checkUser() error {
	uid, gid, ok := strings.Cut(c.User, ":")
	if !ok || !userForm.MatchString(c.User) {
		return fmt.Errorf("check SLIMAGE_USER: %q is not nonroot, root or uid:gid: the image has no other users", c.User)
	}
	for _, id := range []struct{ name, v string }{{"uid", uid}, {"gid", gid}} {
		if n, err := strconv.ParseInt(id.v, 10, 64); err != nil || n > MaxID {
			return fmt.Errorf("check SLIMAGE_USER: %s %s is out of range (0 to %d)", id.name, id.v, MaxID)
		}
	}
	return nil
}

// vulnID is the form of the Go vulnerability database's IDs, which is what
// vulncheck reports and SLIMAGE_VULN_ALLOW is compared with.
var vulnID = regexp.MustCompile(`^GO-\d{4}-\d{4,}$`)

// checkVuln checks SLIMAGE_VULN_DB (https://, or file:// for a local copy;
// a database read over plain http could be altered on the way) and the
// IDs of SLIMAGE_VULN_ALLOW.
func (c *Config) checkVuln() error {
	if c.VulnDB != "" {
		scheme, rest, ok := strings.Cut(c.VulnDB, "://")
		if !ok || (scheme != "https" && scheme != "file") || rest == "" {
			return fmt.Errorf("check SLIMAGE_VULN_DB: %q is not an https:// or file:// URL: point it at a vulnerability database (a mirror of https://vuln.go.dev, or file:///path/to/a/copy)", c.VulnDB)
		}
	}
	for _, id := range c.VulnAllow {
		if !vulnID.MatchString(id) {
			return fmt.Errorf("check SLIMAGE_VULN_ALLOW: %q is not a Go vulnerability ID: list the IDs vulncheck prints, such as GO-2025-1234 (not CVE or GHSA aliases)", id)
		}
	}
	return nil
}

// CheckImageInputs checks, before any work, what only a step that makes
// or runs an image reads: the run-time files (inside the module, regular),
// the CA bundle and extra CAs (readable PEM; certificates that will not
// anchor a chain are noted, or refused under SLIMAGE_CA_STRICT), and the
// settings that choose the container engine. It returns the notes, one
// line each, for the caller to print.
func (c *Config) CheckImageInputs(ctx context.Context) (notes []string, err error) {
	if _, err := c.RuntimeFiles(); err != nil {
		return nil, err
	}
	if err := c.checkImageOutputs(); err != nil {
		return nil, fmt.Errorf("check SLIMAGE_DIST: %w", err)
	}
	if c.DockerfileMode == "multistage" && c.CABundle == "" {
		b, err := trust.ReadExtra(ctx, c.Trust(), time.Now())
		if err != nil {
			return nil, err
		}
		notes = b.Notes
	} else {
		b, err := trust.Read(ctx, c.Trust(), time.Now())
		if err != nil {
			return nil, err
		}
		notes = b.Notes
	}
	if err := CheckContainerEngine(os.Getenv); err != nil {
		return nil, err
	}
	return notes, nil
}

// Trust is what the trust settings say, for package trust.
func (c *Config) Trust() trust.Settings {
	return trust.Settings{Bundle: c.CABundle, Extra: c.ExtraCA, Strict: c.CAStrict}
}

// Health is what SLIMAGE_VERIFY_HEALTH asks: the HTTP path that must answer
// 2xx, and the port to ask it on (as 9898/tcp) when the setting names one
// ("9898:/readyz"); "" leaves the port to verify: the first of
// SLIMAGE_PORTS, as listed.
func (c *Config) Health() (port, path string, err error) {
	v := c.VerifyHealth
	if v == "" || strings.HasPrefix(v, "/") {
		return "", v, nil
	}
	p, path, ok := strings.Cut(v, ":")
	n, nerr := strconv.Atoi(p)
	if !ok || !strings.HasPrefix(path, "/") || nerr != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("check SLIMAGE_VERIFY_HEALTH: %q is not a path or port:path: write e.g. /healthz, or 9898:/readyz for a port other than the first of SLIMAGE_PORTS", v)
	}
	return strconv.Itoa(n) + "/tcp", path, nil
}
