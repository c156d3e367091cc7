package verify

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/deploy"
)

// Settings are what verify reads of the configuration, translated once by
// SettingsOf: what the image must have (its user, zones and trust store),
// how the service must start, answer and stop, and where the reports go.
type Settings struct {
	// User is the uid:gid an image built here must run as; Nonroot fails
	// any image (built elsewhere too) that runs as root.
	User    string
	Nonroot bool
	// TZ is the zone the program must see ("" for none); Zones the zones
	// it must load, AllZones every zone of the toolchain in GOROOT ("":
	// asked of the go command when needed).
	TZ       string
	Zones    []string
	AllZones bool
	GOROOT   string
	// MinRoots is the fewest roots the bundle may hold; CustomBundle says
	// it is the user's own (the well-known roots are then not required).
	MinRoots     int
	CustomBundle bool
	// TLSURLs are called from inside the image; TLSExplicit says the user
	// listed them, so an unreachable one fails instead of being skipped.
	TLSURLs     []string
	TLSExplicit bool
	// Ports as the user listed them (the image's exposed ports have no
	// order); HealthPort and HealthPath as SLIMAGE_VERIFY_HEALTH gives them.
	Ports                  []string
	HealthPort, HealthPath string
	Timeout, Grace, Settle time.Duration
	Stop                   time.Duration
	// Restricted runs the restricted check (see restricted.go), where
	// Deployment names no container.
	Restricted bool
	// Deployment is how the manifests run the service (see deployed.go):
	// nil without SLIMAGE_MANIFESTS.
	Deployment *deploy.Plan
	Labels     map[string]string // put on every container verify starts
	// Reports is the folder of the JSON reports, inside Dist.
	Reports, Dist string
}

// SettingsOf translates c's settings for verify.
func SettingsOf(c *config.Config) Settings {
	port, path, _ := c.Health() // checked when the settings were read
	return Settings{
		User: c.User, Nonroot: c.VerifyNonroot,
		TZ: c.TZ, Zones: c.Zones, AllZones: c.AllZones(), GOROOT: c.GoEnv.GOROOT,
		MinRoots: c.VerifyMinRoots, CustomBundle: c.CABundle != "",
		TLSURLs: tlsURLs(c.VerifyTLS), TLSExplicit: strings.TrimSpace(c.VerifyTLS) != "",
		Ports: c.Ports, HealthPort: port, HealthPath: path,
		Timeout: c.VerifyTimeout, Grace: c.VerifyGrace, Settle: c.VerifySettle, Stop: c.VerifyStop,
		Restricted: c.VerifyRestricted,
		Labels:     c.VerifyLabels,
		Reports:    c.Output(config.VerifyFolder), Dist: c.Dist,
	}
}

// reportPath is where the report of p goes.
func (s Settings) reportPath(p config.Platform) string {
	return filepath.Join(s.Reports, p.DistDir()+".json")
}

// tlsURLs reads SLIMAGE_VERIFY_TLS: "" the default endpoint, "off" none.
func tlsURLs(setting string) []string {
	switch strings.TrimSpace(setting) {
	case "":
		return []string{DefaultTLSURL}
	case "off":
		return nil
	}
	var urls []string
	for _, u := range strings.Split(setting, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}
