// Package config is slimage's one configuration value: defaults derived
// from the module's go.mod, then SLIMAGE_* environment variables, then Go
// code in an importing magefile. The user's word always wins over a default.
package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slimage/slimage/internal/gotool"
)

// Config says what to build and where. Fields left empty are derived by
// Resolve; fields a user set are only checked.
type Config struct {
	Dir        string     `json:"dir"`        // SLIMAGE_DIR: the module's root (holds go.mod)
	Main       string     `json:"main"`       // SLIMAGE_MAIN: main package, "./cmd/api" or an import path
	Binary     string     `json:"binary"`     // SLIMAGE_BINARY: executable name
	Platforms  []Platform `json:"platforms"`  // SLIMAGE_PLATFORMS: comma list of os/arch[/variant]
	Dist       string     `json:"dist"`       // SLIMAGE_DIST: output folder
	Version    string     `json:"version"`    // SLIMAGE_VERSION: stamped into the binary
	VersionVar string     `json:"versionVar"` // SLIMAGE_VERSION_VAR: -X targets, "main.version" or "main.commit={{commit}},…" (see Stamps); "" stamps nothing
	// SLIMAGE_CGO_DROPPED: what a linked package built without its cgo
	// files does to the build: warn (a note; a known stub still fails),
	// fail, or allow.
	CgoDropped string `json:"cgoDropped"`
	// SLIMAGE_DEPS_VERIFY: full (go mod verify re-hashes every module) or
	// fast (only module folders changed since slimage last verified them);
	// "" is full under CI=true, else fast.
	DepsVerify string `json:"depsVerify"`

	Image string `json:"image"` // SLIMAGE_IMAGE: reference to tag, default <binary>:<version>
	TZ    string `json:"tz"`    // SLIMAGE_TZ: IANA zone baked into the image
	// SLIMAGE_ZONES: more zones the service loads with time.LoadLocation,
	// comma-separated, each copied beside TZ's; or "all": the Go
	// toolchain's whole zoneinfo.zip, with ZONEINFO pointing at it.
	Zones    []string `json:"zones"`
	CABundle string   `json:"caBundle"` // SLIMAGE_CA_BUNDLE: the image's CA bundle; "" finds the host's
	ExtraCA  []string `json:"extraCA"`  // SLIMAGE_EXTRA_CA: PEM files appended to the bundle (":"-separated)
	// SLIMAGE_CA_STRICT: an expired certificate, or one that is not a CA,
	// in SLIMAGE_CA_BUNDLE or SLIMAGE_EXTRA_CA fails the check (it is
	// reported either way).
	CAStrict bool     `json:"caStrict"`
	User     string   `json:"user"`  // SLIMAGE_USER: nonroot (65532:65532), root, or uid:gid
	Ports    []string `json:"ports"` // SLIMAGE_PORTS: exposed ports, "8080" or "53/udp"
	Args     []string `json:"args"`  // SLIMAGE_ARGS: default arguments (CMD), space-separated
	Files    []string `json:"files"` // SLIMAGE_FILES: run-time files, "src:dst" (src in the module, dst absolute)
	// SLIMAGE_LABELS: more image labels, comma-separated key=value. A key
	// slimage sets itself (SlimageLabels) is refused there; key:=value (or
	// LabelOverrides) says that yours wins.
	Labels         map[string]string `json:"labels"`
	LabelOverrides map[string]string `json:"labelOverrides"`
	Builder        string            `json:"builder"` // SLIMAGE_BUILDER: oci (the default) or docker; "" chooses (see Resolve)
	// SLIMAGE_DOCKERFILE_MODE: host (the binary is built here and copied in)
	// or multistage (a self-contained Dockerfile that builds inside Docker).
	DockerfileMode string `json:"dockerfileMode"`
	GoImage        string `json:"goImage"`       // SLIMAGE_GO_IMAGE: the multistage builder image, default golang:<go.mod version>
	DockerfileOut  string `json:"dockerfileOut"` // SLIMAGE_DOCKERFILE_OUT: where the multistage Dockerfile goes, relative to the module
	Push           string `json:"push"`          // SLIMAGE_PUSH: registry/repo[:tag] the OCI index is pushed to
	// SLIMAGE_PUSH_BY_DIGEST: push by digest, the tag untouched (a
	// per-platform job); SLIMAGE_MERGE: those jobs' output folders.
	PushByDigest bool     `json:"pushByDigest"`
	Merge        []string `json:"merge"`
	SignKey      string   `json:"signKey"`   // SLIMAGE_SIGN_KEY: the key what is pushed is signed with
	VerifyKey    string   `json:"verifyKey"` // SLIMAGE_VERIFY_KEY: the public key verifyImage checks a registry's image with
	// SLIMAGE_SIGN=keyless: sign with a Fulcio certificate for the job's
	// OIDC identity, logged in Rekor; the two services' URLs.
	Sign      string `json:"sign"`
	FulcioURL string `json:"fulcioURL"`
	RekorURL  string `json:"rekorURL"`
	// What verifyImage accepts of a keyless signature: the certificate's
	// identity (exact, or a regular expression) and OIDC issuer, checked
	// against Sigstore's trusted root (the public instance's, or a file).
	VerifyIdentity       string `json:"verifyIdentity"`
	VerifyIdentityRegexp string `json:"verifyIdentityRegexp"`
	VerifyIssuer         string `json:"verifyIssuer"`
	TrustedRoot          string `json:"trustedRoot"`

	VerifyTLS      string        `json:"verifyTLS"`      // SLIMAGE_VERIFY_TLS: comma list of https:// URLs; "" the default endpoint; "off" none
	VerifyHealth   string        `json:"verifyHealth"`   // SLIMAGE_VERIFY_HEALTH: HTTP path that must answer 2xx, "/readyz" or "9898:/readyz"
	VerifyTimeout  time.Duration `json:"verifyTimeout"`  // SLIMAGE_VERIFY_TIMEOUT: how long the service may take to answer
	VerifyGrace    time.Duration `json:"verifyGrace"`    // SLIMAGE_VERIFY_GRACE: how long a service without ports must stay up
	VerifyMinRoots int           `json:"verifyMinRoots"` // SLIMAGE_VERIFY_MIN_ROOTS: fewest roots a bundle may hold
	VerifySettle   time.Duration `json:"verifySettle"`   // SLIMAGE_VERIFY_SETTLE: how long the service must stay up once it answers
	VerifyStop     time.Duration `json:"verifyStop"`     // SLIMAGE_VERIFY_STOP: how long it may take to exit on SIGTERM
	VerifyNonroot  bool          `json:"verifyNonroot"`  // SLIMAGE_VERIFY_NONROOT: verifyImage fails an image that runs as root
	// SLIMAGE_VERIFY_RESTRICTED: verify also runs the image as Kubernetes'
	// restricted profile and OpenShift's default admission would.
	VerifyRestricted bool `json:"verifyRestricted"`

	// SLIMAGE_MANIFESTS: the deployment's Kubernetes manifests, files or
	// folders of YAML relative to the module; SLIMAGE_RESOLVE_STDOUT:
	// resolve prints them instead of writing <dist>/manifests.
	Manifests     []string `json:"manifests"`
	ResolveStdout bool     `json:"resolveStdout"`
	// SLIMAGE_VERIFY_LABELS: labels put on every container verify starts,
	// comma-separated key=value (a CI job's ID, to find or remove them).
	VerifyLabels map[string]string `json:"verifyLabels"`

	VulnDB    string   `json:"vulnDB"`    // SLIMAGE_VULN_DB: the vulnerability database's URL (https://, or file:// for a local copy); "" the Go team's
	VulnAllow []string `json:"vulnAllow"` // SLIMAGE_VULN_ALLOW: advisory IDs vulncheck reports but does not fail on, comma-separated

	// SLIMAGE_SERVICES: the services this run builds, images and
	// verifies (a CI matrix: one job each); empty for all.
	Select []string `json:"select"`
	// SLIMAGE_REPO: the repository prefix of each service's image when
	// the module has several (registry.example.com/shop/ + the service).
	Repo string `json:"repo"`

	// Services are the module's main packages (see Service), filled by
	// Resolve; Go code configures one with Service.
	Services        []*Service `json:"services"`
	serviceSettings map[string]*Service
	// BuildDist is where the binaries are when it is not Dist: a
	// service's configuration (ForService), whose outputs are in a folder
	// of its own.
	BuildDist string `json:"buildDist"`

	// ModuleGoEnv (Go code only) is KEY=value pairs that the module's own
	// go commands (deps and build) get on top of the environment, such as
	// a GOPROXY that serves this module's dependencies alone. No other go
	// command gets them: the engine's build runs with the user's own.
	ModuleGoEnv []string `json:"moduleGoEnv"`

	// Facts are what Resolve found, kept apart from the settings above.
	Facts    `json:"facts"`
	resolved bool

	// Built are the binaries build made, filled by gobuild.Build: the
	// steps after it (staging, attestation, vulncheck) read them here,
	// and never work them out again.
	Built []Binary `json:"built"`
}

// Facts are what Resolve reads from go.mod, git and the go command: not
// settings, and never set by a user.
type Facts struct {
	Git    Git        `json:"git"` // the checkout's facts, read once for the image's labels
	Module Module     `json:"module"`
	Vendor bool       `json:"vendor"` // vendor/modules.txt exists: build with -mod=vendor
	GoEnv  gotool.Env `json:"goEnv"`
}

// Binary is one binary build made: whose, for which platform, where, its
// digest, and how it was made.
type Binary struct {
	Service  string   `json:"service"`
	Platform Platform `json:"platform"`
	Path     string   `json:"path"`
	SHA256   string   `json:"shA256"`
	Flags    []string `json:"flags"` // the go build flags and package
	Env      []string `json:"env"`   // the environment the build set (CGO_ENABLED, GOOS, GOARCH, …)
}

// BuiltBinary is the binary build made for p of c's service (c's one
// service, or the one a ForService configuration is about).
func (c *Config) BuiltBinary(p Platform) (Binary, bool) {
	for _, b := range c.Built {
		if b.Service == c.Binary && b.Platform == p {
			return b, true
		}
	}
	return Binary{}, false
}

// RecordBuilt keeps b in Built, in place of an earlier one of the same
// service and platform.
func (c *Config) RecordBuilt(b Binary) {
	for i, o := range c.Built {
		if o.Service == b.Service && o.Platform == b.Platform {
			c.Built[i] = b
			return
		}
	}
	c.Built = append(c.Built, b)
}

// Module is what go.mod says about the module being built.
type Module struct {
	Path      string `json:"path"`      // module path
	GoMod     string `json:"goMod"`     // absolute path of go.mod
	Go        string `json:"go"`        // the go line
	Toolchain string `json:"toolchain"` // the toolchain line, if any
	Requires  int    `json:"requires"`  // number of require lines
	// Replaces are the folders that replace directives point at (absolute):
	// their files are part of the build like the module's own.
	Replaces []string `json:"replaces"`
}

// Git is what the module's checkout says of the commit being built; empty
// outside a git repository.
type Git struct {
	Revision   string `json:"revision"`   // the commit (git rev-parse HEAD)
	CommitTime int64  `json:"commitTime"` // its committer time, Unix seconds
	Origin     string `json:"origin"`     // remote.origin.url
}

// Default returns the settings that need no module to derive.
func Default() *Config {
	return &Config{Dir: ".", Dist: "dist", VersionVar: "main.version", CgoDropped: "warn", TZ: "Asia/Shanghai", User: "nonroot", DockerfileMode: "host",
		VerifyTimeout: 30 * time.Second, VerifyGrace: 2 * time.Second, VerifyMinRoots: 50,
		VerifySettle: 2 * time.Second, VerifyStop: 10 * time.Second, VerifyRestricted: true,
		FulcioURL: PublicFulcio, RekorURL: PublicRekor}
}

// Resolve derives what is left empty from go.mod and the go command, then
// checks everything, so no work starts on a configuration that cannot
// succeed. Each error names the setting at fault and how to fix it.
func (c *Config) Resolve(ctx context.Context) error {
	if c.resolved {
		return nil
	}
	// git answers while the go command starts: a no-op build waits for
	// neither twice.
	type gitFacts struct {
		Git
		describe string
	}
	git := make(chan gitFacts, 1)
	go func(dir string, describe bool) {
		g, d := readGit(ctx, dir, describe)
		git <- gitFacts{g, d}
	}(c.Dir, c.Version == "")
	env, err := gotool.ReadEnv(ctx)
	if err != nil {
		return fmt.Errorf("read go env: %w", err)
	}
	c.GoEnv = env
	if err := c.readModule(); err != nil {
		return err
	}
	if err := c.checkGoVersion(); err != nil {
		return err
	}
	_, err = os.Stat(filepath.Join(c.Dir, "vendor", "modules.txt"))
	c.Vendor = err == nil
	mains, err := c.resolveMains()
	if err != nil {
		return err
	}
	if c.Binary != "" && (strings.ContainsAny(c.Binary, `/\`) || c.Binary == "." || c.Binary == "..") {
		return fmt.Errorf("check SLIMAGE_BINARY: %q is not a file name: give a plain name such as %q", c.Binary, path.Base(c.Binary))
	}
	if len(c.Platforms) == 0 {
		// The host's own platform needs no check (and no go tool dist list).
		c.Platforms = []Platform{{OS: "linux", Arch: env.GOHOSTARCH}}
	} else if err := validatePlatforms(ctx, c.Platforms); err != nil {
		return err
	}
	if c.Dist == "" {
		return errors.New("check SLIMAGE_DIST: empty: name an output folder such as dist")
	}
	if c.Dist, err = filepath.Abs(c.Dist); err != nil {
		return fmt.Errorf("check SLIMAGE_DIST: %w", err)
	}
	if err := c.checkBuildOutputs(); err != nil {
		return fmt.Errorf("check SLIMAGE_DIST: %w", err)
	}
	if _, err := c.Stamps(); err != nil {
		return err
	}
	facts := <-git
	c.Git = facts.Git
	if c.Version == "" {
		c.Version = facts.describe
	}
	if err := c.resolveDepsVerify(isCI()); err != nil {
		return err
	}
	switch c.CgoDropped {
	case "warn", "fail", "allow":
	default:
		return fmt.Errorf("check SLIMAGE_CGO_DROPPED: %q is not warn, fail or allow", c.CgoDropped)
	}
	if strings.ContainsAny(c.Version, " \t\n'\"") {
		return fmt.Errorf("check SLIMAGE_VERSION: %q has spaces or quotes: use a tag-like value such as v1.2.3", c.Version)
	}
	if err := c.resolveServices(mains); err != nil {
		return err
	}
	return c.resolveImage()
}

// Resolved says whether Resolve made c (a configuration for verifyImage
// needs no module, and is not).
func (c *Config) Resolved() bool { return c.resolved }

// MarkResolved says c comes resolved (from the front, through the
// contract): the engine never resolves it again.
func (c *Config) MarkResolved() { c.resolved = true }

// isCI reads CI as CI systems set it (true, or 1).
func isCI() bool { v := os.Getenv("CI"); return v != "" && v != "false" && v != "0" }

// String prints the effective configuration, one setting a line in the
// manual's order, for mage -v; after SLIMAGE_DIR, the module and the go
// command it found.
func (c *Config) String() string {
	var b strings.Builder
	row := func(name, val, note string) {
		fmt.Fprintf(&b, "  %-24s %s", name, val)
		if note != "" {
			fmt.Fprintf(&b, "  (%s)", note)
		}
		b.WriteByte('\n')
	}
	b.WriteString("slimage configuration:\n")
	for _, s := range Settings {
		note := ""
		switch s.Env {
		case "SLIMAGE_DIR":
			note = "module " + c.Module.Path + ", go " + c.Module.Go + optional(", toolchain ", c.Module.Toolchain)
		case "SLIMAGE_VERSION_VAR":
			if c.VersionVar == "" {
				note = "no version stamp"
			}
		}
		row(s.Env, s.Value(c), note)
		if s.Env == "SLIMAGE_MAIN" && c.Several() {
			for _, sv := range c.Services {
				note := "ports " + or(strings.Join(sv.Ports, ","), "none") + optional(", health ", sv.VerifyHealth)
				if !slices.Contains(c.Selected(), sv) {
					note += ", not selected"
				}
				row("  service "+sv.Name, sv.Main+"  "+sv.Image, note)
			}
		}
		if s.Env == "SLIMAGE_DIR" {
			goNote := "GOTOOLCHAIN=" + c.GoEnv.GOTOOLCHAIN + optional(", GOFLAGS=", c.GoEnv.GOFLAGS)
			if c.Vendor {
				goNote += ", vendor/ found: -mod=vendor"
			}
			if len(c.ModuleGoEnv) > 0 {
				goNote += ", the module's go commands also get " + strings.Join(c.ModuleGoEnv, " ")
			}
			row("go", c.GoEnv.GOVERSION, goNote)
		}
	}
	return b.String()
}

func optional(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}

// Load builds the effective configuration: LoadSettings, then Resolve for
// whatever is still empty.
func Load(ctx context.Context, defaults, overrides []func(*Config), lookup func(string) (string, bool)) (*Config, error) {
	c, err := LoadSettings(defaults, overrides, lookup)
	if err != nil {
		return nil, err
	}
	if err := c.Resolve(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadSettings applies Default, then each of defaults, then the environment
// as lookup reports it (os.LookupEnv in real use), then each of overrides.
// It needs no Go module: verifying an image built elsewhere starts here.
func LoadSettings(defaults, overrides []func(*Config), lookup func(string) (string, bool)) (*Config, error) {
	c := Default()
	for _, fn := range defaults {
		fn(c)
	}
	if err := c.ApplyEnv(lookup); err != nil {
		return nil, err
	}
	for _, fn := range overrides {
		fn(c)
	}
	if err := c.checkSettings(); err != nil {
		return nil, err
	}
	return c, nil
}

func platformList(ps []Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func splitList(v, sep string) []string {
	var out []string
	for _, f := range strings.Split(v, sep) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
