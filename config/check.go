package config

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slimage/slimage/internal/outdir"
	"github.com/slimage/slimage/internal/trust"
)

// The checks here run before any work (Resolve, and CheckImageInputs for
// the targets that make or run an image): each reads only what a setting
// names, so a run that cannot succeed stops at once, with one line naming
// the setting and the fix.

// MaxID is the largest uid or gid a container runtime and Kubernetes take
// (runAsUser is an int64, but the kernel's IDs and Docker's are 31 bits).
const MaxID = 1<<31 - 1

// checkPorts checks a service's ports (SLIMAGE_PORTS): numbers from 1 to
// 65535, tcp or udp (the protocols verify can reach; sctp is neither
// exposed nor proved), and returns them as port/proto.
func checkPorts(ports []string) ([]string, error) {
	var out []string
	for _, p := range ports {
		m := portForm.FindStringSubmatch(p)
		if m == nil {
			return nil, fmt.Errorf("check SLIMAGE_PORTS: %q is not a port: write 8080, 8080/tcp or 53/udp", p)
		}
		if n, err := strconv.Atoi(m[1]); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("check SLIMAGE_PORTS: %s is not a port number (1 to 65535)", m[1])
		}
		switch m[3] {
		case "":
			out = append(out, m[1]+"/tcp")
		case "tcp", "udp":
			out = append(out, p)
		default:
			return nil, fmt.Errorf("check SLIMAGE_PORTS: %q: slimage exposes and verifies tcp and udp ports, not %s: write %s/tcp or %s/udp", p, m[3], m[1], m[1])
		}
	}
	return out, nil
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

// checkVulnDB checks SLIMAGE_VULN_DB: https://, or file:// for a local
// copy (a database read over plain http could be altered on the way).
func (c *Config) checkVulnDB() error {
	if c.VulnDB != "" {
		scheme, rest, ok := strings.Cut(c.VulnDB, "://")
		if !ok || (scheme != "https" && scheme != "file") || rest == "" {
			return fmt.Errorf("check SLIMAGE_VULN_DB: %q is not an https:// or file:// URL: point it at a vulnerability database (a mirror of https://vuln.go.dev, or file:///path/to/a/copy)", c.VulnDB)
		}
	}
	return nil
}

// checkVulnAllow checks the IDs of SLIMAGE_VULN_ALLOW.
func (c *Config) checkVulnAllow() error {
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
	for _, s := range c.Selected() {
		sc := c.ForService(s)
		if _, err := sc.RuntimeFiles(); err != nil {
			return nil, err
		}
		if c.Several() {
			if err := outdir.Check(sc.Dist); err != nil {
				return nil, fmt.Errorf("check SLIMAGE_DIST: %w", err)
			}
		}
		if err := sc.checkImageOutputs(); err != nil {
			return nil, fmt.Errorf("check SLIMAGE_DIST: %w", err)
		}
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
func (c *Config) Health() (port, path string, err error) { return healthOf(c.VerifyHealth) }

func healthOf(v string) (port, path string, err error) {
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

// resolveDepsVerify chooses how deps checks the module cache: CI runners
// start from a fresh cache, so they get the full check unless told.
func (c *Config) resolveDepsVerify(ci bool) error {
	switch c.DepsVerify {
	case "":
		c.DepsVerify = "fast"
		if ci {
			c.DepsVerify = "full"
		}
	case "full", "fast":
	default:
		return fmt.Errorf("check SLIMAGE_DEPS_VERIFY: %q is not full or fast", c.DepsVerify)
	}
	return nil
}

func validatePlatforms(ctx context.Context, ps []Platform) error {
	for _, p := range ps {
		if err := p.validate(ctx); err != nil {
			return fmt.Errorf("check SLIMAGE_PLATFORMS: %w", err)
		}
	}
	return nil
}

// checkSettings runs the checks the settings declare (Setting.check):
// those that need no module, so a wrong value stops the run before
// anything is read, built or started.
func (c *Config) checkSettings() error {
	for _, s := range Settings {
		if s.check == nil {
			continue
		}
		if err := s.check(c); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) checkVerifyTLS() error {
	if t := strings.TrimSpace(c.VerifyTLS); t != "" && t != "off" {
		for _, u := range strings.Split(t, ",") {
			u = strings.TrimSpace(u)
			p, err := url.Parse(u)
			if err != nil || p.Scheme != "https" || p.Host == "" {
				return fmt.Errorf("check SLIMAGE_VERIFY_TLS: %q is not an https:// URL: list https:// URLs, comma-separated, or write off", u)
			}
		}
	}
	return nil
}

func (c *Config) checkZones() error {
	for _, z := range c.Zones {
		if z == "all" && len(c.Zones) > 1 {
			return errors.New("check SLIMAGE_ZONES: all already holds every zone: write all alone, or list zones")
		}
		if strings.HasPrefix(z, "/") || strings.Contains(z, "..") {
			return fmt.Errorf("check SLIMAGE_ZONES: %q is not an IANA zone name: write e.g. Europe/Berlin,America/New_York, or all", z)
		}
	}
	return nil
}

func (c *Config) checkVerifyLabels() error {
	for k := range c.VerifyLabels {
		if k == "" || strings.ContainsAny(k, " \t=,") || strings.HasPrefix(k, "com.github.slimage.verify") {
			return fmt.Errorf("check SLIMAGE_VERIFY_LABELS: %q is not a label key of yours: write a reverse-DNS name such as com.example.ci-job", k)
		}
	}
	return nil
}

// positive checks a duration Go code set (the variable's is checked when
// it is read).
func positive(env string, field func(*Config) *time.Duration) func(*Config) error {
	return func(c *Config) error {
		if d := *field(c); d <= 0 {
			return fmt.Errorf("check %s: %s is not a positive duration: write e.g. 2s", env, d)
		}
		return nil
	}
}

// parseKeyValues reads a comma list of key=value.
func parseKeyValues(setting, v string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range splitList(v, ",") {
		k, val, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("check %s: %q is not key=value: write e.g. com.example.ci-job=1234", setting, item)
		}
		out[strings.TrimSpace(k)] = val
	}
	return out, nil
}
