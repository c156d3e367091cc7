package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Setting is one SLIMAGE_* variable, declared once, here: ApplyEnv reads
// it, String prints it for mage -v, and docs/configuration.md's table is
// made from Doc and Default (a test fails when the page differs). The
// field of Config it sets is what Go code in a magefile sets instead.
type Setting struct {
	Env, Field string
	// EmptyMeans: set to "", the variable is a value ("none"), not unset.
	EmptyMeans   bool
	Doc, Default string // the manual's words: what it means, and its default
	value        value
	// check checks what needs no module (Resolve checks the rest), also
	// when Go code set the field.
	check func(*Config) error
}

// value is how a setting's variable is read into its field and printed
// back.
type value interface {
	set(c *Config, env, v string) error
	get(c *Config) string
}

// Settings are every SLIMAGE_* variable, in the manual's order.
var Settings = []Setting{
	{Env: "SLIMAGE_DIR", Field: "Dir",
		Doc:     "the module to build (the folder with go.mod)",
		Default: "`.` (this repository's magefile: `testdata/hello`)",
		value:   text(func(c *Config) *string { return &c.Dir })},
	{Env: "SLIMAGE_MAIN", Field: "Main",
		Doc:     "the main packages to build, each a service (one binary, one image, one verify): a comma list of `./cmd/api`, `cmd/api` or `example.com/shop/cmd/api`, and patterns such as `./cmd/...` (every main package below)",
		Default: "every main package at the module's root and under `cmd/`, else every main package of the module",
		value:   text(func(c *Config) *string { return &c.Main })},
	{Env: "SLIMAGE_SERVICES", Field: "Select",
		Doc:     "the services this run builds, images and verifies, by name (their binaries' names), comma list: a CI matrix gives one job each",
		Default: "all",
		value:   list(",", func(c *Config) *[]string { return &c.Select })},
	{Env: "SLIMAGE_REPO", Field: "Repo",
		Doc:     "with several services, the repository prefix of each one's image: `registry.example.com/shop/` makes `registry.example.com/shop/api:<version>` (as ko's `KO_DOCKER_REPO`)",
		Default: "none: `<service>:<version>`",
		value:   text(func(c *Config) *string { return &c.Repo })},
	{Env: "SLIMAGE_BINARY", Field: "Binary",
		Doc:     "the executable's name, for a module with one service (several: each binary is named after its folder, as the go command names it)",
		Default: "the main package's folder, or the module path's last element (without `/vN`) for a root main package",
		value:   text(func(c *Config) *string { return &c.Binary })},
	{Env: "SLIMAGE_PLATFORMS", Field: "Platforms",
		Doc:     "comma list of `os/arch[/variant]`, checked against `go tool dist list` (`linux/arm/v7`, `linux/amd64/v3`, …)",
		Default: "`linux/<host arch>`",
		value:   platformsValue{}},
	{Env: "SLIMAGE_DIST", Field: "Dist",
		Doc:     "output folder. Every folder slimage makes there holds a `.slimage-output` marker, and slimage writes into, replaces or deletes no folder without one: pointed at a folder of yours (say the module root, with an `image/` of its own) it refuses, naming the folder ([targets](targets.md#the-output-folder))",
		Default: "`dist`",
		value:   text(func(c *Config) *string { return &c.Dist })},
	{Env: "SLIMAGE_VERSION", Field: "Version",
		Doc:     "version stamped into the binary",
		Default: "`git describe --tags --always --dirty`, else `dev`",
		value:   text(func(c *Config) *string { return &c.Version })},
	{Env: "SLIMAGE_VERSION_VAR", Field: "VersionVar", EmptyMeans: true,
		Doc:     "what `build` stamps with `-X`: a comma list of `importpath.name` (stamped with the version) or `importpath.name=template`, where the template holds `{{version}}`, `{{commit}}` and `{{date}}` (the commit's, or `SOURCE_DATE_EPOCH`: never the clock's), e.g. `main.version={{version}},main.commit={{commit}},main.date={{date}}`; a target that names no string variable in the linked binary gets a `note:` (the go command ignores it); empty stamps nothing",
		Default: "`main.version`",
		value:   text(func(c *Config) *string { return &c.VersionVar })},
	{Env: "SLIMAGE_CGO_DROPPED", Field: "CgoDropped",
		Doc:     "what a linked package built without its cgo files (`CGO_ENABLED=0` leaves them out, and its fallback may be a stub) does to `build`: `warn` (a `note:` line naming the package and files; a known stub such as `github.com/mattn/go-sqlite3` still fails, with the fix), `fail`, or `allow` (nothing)",
		Default: "`warn`",
		value:   text(func(c *Config) *string { return &c.CgoDropped })},
	{Env: "SLIMAGE_DEPS_VERIFY", Field: "DepsVerify",
		Doc:     "`full`: `go mod verify` re-hashes every module folder; `fast`: only folders whose files changed (size, mtime, ctime or inode) since slimage last verified them, recorded in `<user cache>/slimage/verified/`",
		Default: "`full` when `CI` is set, else `fast`",
		value:   text(func(c *Config) *string { return &c.DepsVerify })},
	{Env: "SLIMAGE_IMAGE", Field: "Image",
		Doc:     "image reference to tag, for a module with one service (a missing tag gets the version); with several, see `SLIMAGE_REPO`",
		Default: "`<binary>:<version>`",
		value:   text(func(c *Config) *string { return &c.Image })},
	{Env: "SLIMAGE_TZ", Field: "TZ", EmptyMeans: true,
		Doc:     "IANA zone baked into the image and set as `TZ`; empty for none",
		Default: "`Asia/Shanghai`",
		value:   text(func(c *Config) *string { return &c.TZ })},
	{Env: "SLIMAGE_ZONES", Field: "Zones",
		Doc:     "more zones the service loads with `time.LoadLocation`, comma list (each copied to `/usr/share/zoneinfo/<zone>`), or `all`: the Go toolchain's `zoneinfo.zip` (399 KiB) at `/usr/local/go/lib/time/zoneinfo.zip` with `ZONEINFO` pointing at it, in the cached `rootfs` layer (`-tags timetzdata` would add 404 KiB to the binary instead, so to every code change's layer, and change the binary `build` makes)",
		Default: "none",
		value:   list(",", func(c *Config) *[]string { return &c.Zones }),
		check:   (*Config).checkZones},
	{Env: "SLIMAGE_CA_BUNDLE", Field: "CABundle",
		Doc:     "the image's CA bundle (PEM; a host file, by design)",
		Default: "the host's, found as Go finds it: `SSL_CERT_FILE`, else the first of `/etc/ssl/certs/ca-certificates.crt`, `/etc/pki/tls/certs/ca-bundle.crt`, …",
		value:   text(func(c *Config) *string { return &c.CABundle })},
	{Env: "SLIMAGE_EXTRA_CA", Field: "ExtraCA",
		Doc:     "PEM files, `:`-separated, appended to the bundle (corporate CAs: host files, by design, unlike `SLIMAGE_FILES`)",
		Default: "none",
		value:   list(":", func(c *Config) *[]string { return &c.ExtraCA })},
	{Env: "SLIMAGE_CA_STRICT", Field: "CAStrict",
		Doc:     "`true`: an expired certificate, or one that is not a CA, in `SLIMAGE_CA_BUNDLE` or `SLIMAGE_EXTRA_CA` fails the check before any work (either way it is reported)",
		Default: "`false`",
		value:   boolean(func(c *Config) *bool { return &c.CAStrict })},
	{Env: "SLIMAGE_USER", Field: "User",
		Doc:     "`nonroot` (65532:65532), `root`, or `uid:gid`",
		Default: "`nonroot`",
		value:   text(func(c *Config) *string { return &c.User })},
	{Env: "SLIMAGE_PORTS", Field: "Ports",
		Doc:     "exposed ports, comma list: `8080`, `8080/tcp`, `53/udp`",
		Default: "none (this repository's magefile: `8080`)",
		value:   list(",", func(c *Config) *[]string { return &c.Ports })},
	{Env: "SLIMAGE_ARGS", Field: "Args",
		Doc:     "default arguments (`CMD`), space-separated (use `Configure` for arguments with spaces)",
		Default: "none",
		value:   words(func(c *Config) *[]string { return &c.Args })},
	{Env: "SLIMAGE_FILES", Field: "Files",
		Doc:     "run-time files and folders, comma list of `src:dst` (src relative to the module, dst absolute): a folder is copied whole (`ui:/app/ui`). Links are followed, to files and folders, and what they lead to must be inside the module: a host path, `../` or a link leading out of it is refused, as are named pipes, devices and sockets. In the image every file is owned by root, mode 0644 (0755 if executable), dated like the image, so the same files give the same digest",
		Default: "none; everything under `slimage-data/` at the module root (folders and links too, under the same rules) is always copied beside the binary (`/app`)",
		value:   list(",", func(c *Config) *[]string { return &c.Files })},
	{Env: "SLIMAGE_LABELS", Field: "Labels",
		Doc:     "more image labels, comma list of `key=value` (`Configure` sets `Labels` for values with commas). A key slimage sets itself (`org.opencontainers.image.{title,version,revision,source,created}`) is refused unless written `key:=value`: yours wins",
		Default: "none",
		value:   labelsValue{}},
	{Env: "SLIMAGE_BUILDER", Field: "Builder",
		Doc:     "`oci` (slimage assembles the image `dist/image/Dockerfile` describes and loads it into Docker, see below) or `docker` (the daemon builds `dist/image/Dockerfile`; the host's platform only, no push)",
		Default: "`oci` (`docker` in the multistage mode)",
		value:   text(func(c *Config) *string { return &c.Builder })},
	{Env: "SLIMAGE_PUSH", Field: "Push",
		Doc:     "`registry/repository[:tag]` to push the OCI index and its images to (credentials from the Docker config, as `docker login` left them); with several services, a prefix ending in `/` that each service's name completes; needs the `oci` builder",
		Default: "none",
		value:   text(func(c *Config) *string { return &c.Push })},
	{Env: "SLIMAGE_PUSH_BY_DIGEST", Field: "PushByDigest",
		Doc:     "`true`: push the index by its digest and leave the tag alone, recording what was pushed in `<dist>/pushed.json`: each platform's job of a build split across machines, which `merge` then joins",
		Default: "`false`",
		value:   boolean(func(c *Config) *bool { return &c.PushByDigest })},
	{Env: "SLIMAGE_MERGE", Field: "Merge",
		Doc:     "`merge`: the output folders of the per-platform jobs (comma list, relative to the module), each holding the `pushed.json` its push wrote; the merged index goes to `SLIMAGE_PUSH`'s tag, its platforms in `SLIMAGE_PLATFORMS`' order",
		Default: "none",
		value:   list(",", func(c *Config) *[]string { return &c.Merge })},
	{Env: "SLIMAGE_SIGN_KEY", Field: "SignKey",
		Doc:     "a cosign key file (`cosign generate-key-pair`'s `cosign.key`, its password in `COSIGN_PASSWORD`) or an unencrypted PEM private key, relative to the module, or a key held in a KMS (`awskms://`, `gcpkms://`, `azurekms://`, `hashivault://`, or a KMS plugin's `<name>://`): `image` (with `SLIMAGE_PUSH`) and `merge` sign what they pushed, and its SBOM and provenance as attestations, in the formats `cosign verify` and `cosign verify-attestation` check",
		Default: "none: unsigned",
		value:   text(func(c *Config) *string { return &c.SignKey })},
	{Env: "SLIMAGE_VERIFY_KEY", Field: "VerifyKey",
		Doc:     "a public key (`cosign.pub`), or a KMS's key as `SLIMAGE_SIGN_KEY` names it: `verifyImage <registry/repository:tag>` then verifies what the registry serves: its signature and its SBOM and provenance attestations, about the digest the tag names, then every check on exactly those bytes, pulled by digest",
		Default: "none: `verifyImage` checks an image in the local Docker",
		value:   text(func(c *Config) *string { return &c.VerifyKey })},
	{Env: "SLIMAGE_SIGN", Field: "Sign",
		Doc:     "`keyless`: `image` (with `SLIMAGE_PUSH`) and `merge` sign as `SLIMAGE_SIGN_KEY` does, with a short-lived Fulcio certificate for the CI job's OIDC identity (`SIGSTORE_ID_TOKEN`, or GitHub Actions' own token with `id-token: write`), each signature logged in Rekor, stored as Sigstore bundles (OCI 1.1 referrers) that `cosign verify-attestation --new-bundle-format` checks",
		Default: "none: unsigned, or signed with `SLIMAGE_SIGN_KEY`",
		value:   text(func(c *Config) *string { return &c.Sign })},
	{Env: "SLIMAGE_FULCIO_URL", Field: "FulcioURL",
		Doc:     "the Fulcio that issues keyless signing certificates",
		Default: "`" + PublicFulcio + "` (Sigstore's public instance)",
		value:   text(func(c *Config) *string { return &c.FulcioURL })},
	{Env: "SLIMAGE_REKOR_URL", Field: "RekorURL",
		Doc:     "the Rekor that logs keyless signatures",
		Default: "`" + PublicRekor + "`",
		value:   text(func(c *Config) *string { return &c.RekorURL })},
	{Env: "SLIMAGE_VERIFY_IDENTITY", Field: "VerifyIdentity",
		Doc:     "the identity a keyless signature's certificate must name (cosign's `--certificate-identity`: a workflow's URL with its ref, an e-mail address): `verifyImage <registry ref>` then checks the signature and the SBOM and provenance attestations of the digest the reference names, as `SLIMAGE_VERIFY_KEY` does, against Sigstore's trusted root",
		Default: "none",
		value:   text(func(c *Config) *string { return &c.VerifyIdentity })},
	{Env: "SLIMAGE_VERIFY_IDENTITY_REGEXP", Field: "VerifyIdentityRegexp",
		Doc:     "instead of `SLIMAGE_VERIFY_IDENTITY`, a regular expression the identity must match (`^https://github.com/shop/api/.github/workflows/release.yml@refs/tags/`)",
		Default: "none",
		value:   text(func(c *Config) *string { return &c.VerifyIdentityRegexp })},
	{Env: "SLIMAGE_VERIFY_ISSUER", Field: "VerifyIssuer",
		Doc:     "the OIDC issuer that identity comes from (`https://token.actions.githubusercontent.com`, `https://gitlab.com`)",
		Default: "none; needed with `SLIMAGE_VERIFY_IDENTITY`",
		value:   text(func(c *Config) *string { return &c.VerifyIssuer })},
	{Env: "SLIMAGE_TRUSTED_ROOT", Field: "TrustedRoot",
		Doc:     "a Sigstore `trusted_root.json` (Fulcio's certificates, Rekor's and the CT logs' keys) that keyless signatures are checked against: a private Sigstore, or an offline copy; relative to the working directory, as `SLIMAGE_VERIFY_KEY` is (`verifyImage` needs no module)",
		Default: "Sigstore's public instance, fetched and checked through its TUF repository (cached in `~/.sigstore`)",
		value:   text(func(c *Config) *string { return &c.TrustedRoot })},
	{Env: "SLIMAGE_DOCKERFILE_MODE", Field: "DockerfileMode",
		Doc:     "`host` (the binary is built here and copied in) or `multistage` (a self-contained Dockerfile that builds inside Docker, see below)",
		Default: "`host`",
		value:   text(func(c *Config) *string { return &c.DockerfileMode })},
	{Env: "SLIMAGE_GO_IMAGE", Field: "GoImage",
		Doc:     "the multistage builder stage's image; a digest pins it (`golang:1.26@sha256:…`)",
		Default: "`golang:<version>` from go.mod's `toolchain` line, else its `go` line",
		value:   text(func(c *Config) *string { return &c.GoImage })},
	{Env: "SLIMAGE_DOCKERFILE_OUT", Field: "DockerfileOut",
		Doc:     "where the multistage Dockerfile is written, relative to the module (`Dockerfile` for the root)",
		Default: "`dist/image/Dockerfile.multistage`",
		value:   text(func(c *Config) *string { return &c.DockerfileOut })},
	{Env: "SLIMAGE_VERIFY_TLS", Field: "VerifyTLS",
		Doc:     "`https://` URLs, comma list, that the probe GETs from inside the container; every one must succeed. `off`: no live calls",
		Default: "unset: one public endpoint (`https://example.com/`); unreachable → reported as skipped, a certificate error fails (this repository's magefile: `off`)",
		value:   text(func(c *Config) *string { return &c.VerifyTLS }),
		check:   (*Config).checkVerifyTLS},
	{Env: "SLIMAGE_VERIFY_HEALTH", Field: "VerifyHealth",
		Doc:     "HTTP path that must answer 2xx before the service counts as started, and keep answering 2xx through the settle time; asked on the first port of `SLIMAGE_PORTS` as listed (else the lowest the image exposes), or on the port it names: `9898:/readyz`. A 4xx fails at once; a refused connection or a 5xx is asked again until the timeout",
		Default: "none (this repository's magefile: `/healthz`)",
		value:   text(func(c *Config) *string { return &c.VerifyHealth }),
		check:   func(c *Config) error { _, _, err := c.Health(); return err }},
	{Env: "SLIMAGE_VERIFY_TIMEOUT", Field: "VerifyTimeout",
		Doc:     "how long the service may take to answer on its port",
		Default: "`30s`",
		value:   duration(func(c *Config) *time.Duration { return &c.VerifyTimeout }),
		check:   positive("SLIMAGE_VERIFY_TIMEOUT", func(c *Config) *time.Duration { return &c.VerifyTimeout })},
	{Env: "SLIMAGE_VERIFY_GRACE", Field: "VerifyGrace",
		Doc:     "how long a service without exposed ports must stay up (or exit 0)",
		Default: "`2s`",
		value:   duration(func(c *Config) *time.Duration { return &c.VerifyGrace }),
		check:   positive("SLIMAGE_VERIFY_GRACE", func(c *Config) *time.Duration { return &c.VerifyGrace })},
	{Env: "SLIMAGE_VERIFY_MIN_ROOTS", Field: "VerifyMinRoots",
		Doc:     "fewest certificates the image's bundle may hold (1 when `SLIMAGE_CA_BUNDLE` is set)",
		Default: "`50`",
		value:   count(func(c *Config) *int { return &c.VerifyMinRoots })},
	{Env: "SLIMAGE_VERIFY_SETTLE", Field: "VerifySettle",
		Doc:     "how long the service must stay up after it first answers (the other checks run meanwhile)",
		Default: "`2s`",
		value:   duration(func(c *Config) *time.Duration { return &c.VerifySettle }),
		check:   positive("SLIMAGE_VERIFY_SETTLE", func(c *Config) *time.Duration { return &c.VerifySettle })},
	{Env: "SLIMAGE_VERIFY_STOP", Field: "VerifyStop",
		Doc:     "how long it may take to exit on SIGTERM, to the millisecond (`500ms`): a service that exits later fails, as production would kill it mid-shutdown",
		Default: "`10s` (Docker's and Kubernetes' grace)",
		value:   duration(func(c *Config) *time.Duration { return &c.VerifyStop }),
		check:   positive("SLIMAGE_VERIFY_STOP", func(c *Config) *time.Duration { return &c.VerifyStop })},
	{Env: "SLIMAGE_VERIFY_NONROOT", Field: "VerifyNonroot",
		Doc:     "`true`: `verifyImage` fails an image that runs as root (`verify` always holds an image to `SLIMAGE_USER`)",
		Default: "`false`",
		value:   boolean(func(c *Config) *bool { return &c.VerifyNonroot })},
	{Env: "SLIMAGE_VERIFY_RESTRICTED", Field: "VerifyRestricted",
		Doc:     "`false` skips the `restricted` check: the image run once more as Kubernetes' restricted profile and OpenShift's default admission would (an arbitrary uid in group 0, read-only root file system with `/tmp` as tmpfs, no capabilities, no new privileges)",
		Default: "`true`",
		value:   boolean(func(c *Config) *bool { return &c.VerifyRestricted })},
	{Env: "SLIMAGE_MANIFESTS", Field: "Manifests",
		Doc:     "the deployment's Kubernetes manifests, comma list of files or folders of YAML (multi-document; what `kustomize build` or `helm template` wrote works the same), relative to the module: `verify` runs each service as every container there that runs its image (`slimage://<service>`, or its repository), in place of the restricted profile (see docs/deployment.md); `resolve` replaces each `slimage://<service>` image in them with the digest `image` pushed",
		Default: "none",
		value:   list(",", func(c *Config) *[]string { return &c.Manifests })},
	{Env: "SLIMAGE_RESOLVE_STDOUT", Field: "ResolveStdout",
		Doc:     "`true`: `resolve` prints the resolved manifests on standard output (one YAML stream) instead of writing them to `<dist>/manifests/`",
		Default: "`false`",
		value:   boolean(func(c *Config) *bool { return &c.ResolveStdout })},
	{Env: "SLIMAGE_VERIFY_LABELS", Field: "VerifyLabels",
		Doc:     "labels put on every container verify starts, comma list of `key=value` (a CI job's ID, to find or remove them; verify removes its own anyway)",
		Default: "none",
		value:   keyValues(func(c *Config) *map[string]string { return &c.VerifyLabels }),
		check:   (*Config).checkVerifyLabels},
	{Env: "SLIMAGE_VULN_DB", Field: "VulnDB",
		Doc:     "the vulnerability database `vulncheck` reads: an `https://` mirror, or `file:///path` for an air-gapped copy",
		Default: "`https://vuln.go.dev`",
		value:   text(func(c *Config) *string { return &c.VulnDB }),
		check:   (*Config).checkVulnDB},
	{Env: "SLIMAGE_VULN_ALLOW", Field: "VulnAllow",
		Doc:     "advisory IDs `vulncheck` reports but does not fail on, comma list (`GO-2025-1234`)",
		Default: "none",
		value:   list(",", func(c *Config) *[]string { return &c.VulnAllow }),
		check:   (*Config).checkVulnAllow},
}

// EnvNames lists every SLIMAGE_* variable, in the order the manual
// (docs/configuration.md) documents them.
func EnvNames() []string {
	names := make([]string, len(Settings))
	for i, s := range Settings {
		names[i] = s.Env
	}
	return names
}

// ApplyEnv overrides c with the SLIMAGE_* variables that lookup finds
// (os.LookupEnv in real use). A variable set to "" counts only where its
// setting says "" means something.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	for _, s := range Settings {
		v, ok := lookup(s.Env)
		if !ok || (v == "" && !s.EmptyMeans) {
			continue
		}
		if err := s.value.set(c, s.Env, v); err != nil {
			return err
		}
	}
	return nil
}

// Value is the setting's effective value in c, as the variable would
// spell it.
func (s Setting) Value(c *Config) string { return s.value.get(c) }

type text func(*Config) *string

func (f text) set(c *Config, _, v string) error { *f(c) = v; return nil }
func (f text) get(c *Config) string             { return *f(c) }

// listValue is a list the variable separates by sep (spaces around items
// dropped, empty items skipped).
type listValue struct {
	sep   string
	field func(*Config) *[]string
}

func list(sep string, field func(*Config) *[]string) listValue { return listValue{sep, field} }

func (l listValue) set(c *Config, _, v string) error { *l.field(c) = splitList(v, l.sep); return nil }
func (l listValue) get(c *Config) string             { return strings.Join(*l.field(c), l.sep) }

// words is a list separated by white space (SLIMAGE_ARGS).
type words func(*Config) *[]string

func (f words) set(c *Config, _, v string) error { *f(c) = strings.Fields(v); return nil }
func (f words) get(c *Config) string             { return strings.Join(*f(c), " ") }

type boolean func(*Config) *bool

func (f boolean) set(c *Config, env, v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("read %s: %q is not true or false", env, v)
	}
	*f(c) = b
	return nil
}
func (f boolean) get(c *Config) string { return strconv.FormatBool(*f(c)) }

// duration is a positive duration: a limit to the millisecond.
type duration func(*Config) *time.Duration

func (f duration) set(c *Config, env, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("read %s: %q is not a duration: write e.g. 30s, 2m or 500ms", env, v)
	}
	if d <= 0 {
		return fmt.Errorf("read %s: %q is not a positive duration: write e.g. 30s, 2m or 500ms", env, v)
	}
	*f(c) = d
	return nil
}
func (f duration) get(c *Config) string { return f(c).String() }

type count func(*Config) *int

func (f count) set(c *Config, env, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("read %s: %q is not a count: write e.g. 50", env, v)
	}
	*f(c) = n
	return nil
}
func (f count) get(c *Config) string { return strconv.Itoa(*f(c)) }

// keyValues is a comma list of key=value.
type keyValues func(*Config) *map[string]string

func (f keyValues) set(c *Config, env, v string) error {
	m, err := parseKeyValues(env, v)
	*f(c) = m
	return err
}
func (f keyValues) get(c *Config) string { return labelList(*f(c), "=") }

type platformsValue struct{}

func (platformsValue) set(c *Config, env, v string) error {
	ps, err := ParsePlatforms(v)
	if err != nil {
		return fmt.Errorf("read %s: %w", env, err)
	}
	c.Platforms = ps
	return nil
}
func (platformsValue) get(c *Config) string { return platformList(c.Platforms) }

// labelsValue is SLIMAGE_LABELS: key=value adds a label, key:=value
// replaces one slimage sets (Labels and LabelOverrides in Go code).
type labelsValue struct{}

func (labelsValue) set(c *Config, _, v string) error { return c.parseLabels(v) }
func (labelsValue) get(c *Config) string {
	return strings.Trim(labelList(c.Labels, "=")+","+labelList(c.LabelOverrides, ":="), ",")
}

// labelList shows labels as the variables spell them, sorted.
func labelList(m map[string]string, sep string) string {
	var items []string
	for k, v := range m {
		items = append(items, k+sep+v)
	}
	sort.Strings(items)
	return strings.Join(items, ",")
}
