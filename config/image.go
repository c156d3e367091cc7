package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/slimage/slimage/internal/zoneinfo"
)

// The image settings: the reference, the user, ports, the builder, the multistage mode, labels.

// resolveImage checks the image settings that need no files; the files
// they name are checked by CheckImageInputs, before the image's first work.
func (c *Config) resolveImage() error {
	for _, s := range c.Services {
		if err := c.resolveServiceImage(s); err != nil {
			return err
		}
	}
	if len(c.Services) == 1 {
		s := c.Services[0]
		c.Image, c.Ports = s.Image, s.Ports
	}
	switch c.User {
	case "nonroot", "":
		c.User = "65532:65532"
	case "root":
		c.User = "0:0"
	}
	if err := c.checkUser(); err != nil {
		return err
	}
	if err := c.checkLabels(); err != nil {
		return err
	}
	if err := c.resolveBuilder(); err != nil {
		return err
	}
	if err := c.resolveMultistage(); err != nil {
		return err
	}
	if c.Push != "" {
		if _, err := ParseImageRef(c.Push); err != nil {
			return fmt.Errorf("check SLIMAGE_PUSH: %q is not a registry/repository[:tag] (%v)", c.Push, err)
		}
	}
	if c.PushByDigest && c.Push == "" {
		return fmt.Errorf("check SLIMAGE_PUSH_BY_DIGEST: there is nothing to push: set SLIMAGE_PUSH to the repository too")
	}
	if err := c.checkSigning(); err != nil {
		return err
	}
	if c.TZ != "" {
		if strings.HasPrefix(c.TZ, "/") || strings.Contains(c.TZ, "..") {
			return fmt.Errorf("check SLIMAGE_TZ: %q is not an IANA zone name: write e.g. Asia/Shanghai", c.TZ)
		}
		// Checked here, once, so a misspelt zone stops the run before the build.
		if _, err := zoneinfo.Read(c.GoEnv.GOROOT, c.TZ); err != nil {
			return fmt.Errorf("check SLIMAGE_TZ: %v", err)
		}
	}
	if !c.AllZones() {
		for _, z := range c.Zones {
			if _, err := zoneinfo.Read(c.GoEnv.GOROOT, z); err != nil {
				return fmt.Errorf("check SLIMAGE_ZONES: %v", err)
			}
		}
	}
	if err := c.checkSettings(); err != nil {
		return err
	}
	c.resolved = true
	return nil
}

// resolveServiceImage checks one service's image reference (a missing tag
// gets the version), ports, run-time file entries and health path.
func (c *Config) resolveServiceImage(s *Service) error {
	setting := "SLIMAGE_IMAGE"
	if c.Several() {
		setting = "the image of service " + s.Name + " (SLIMAGE_REPO)"
	}
	ref, err := ParseImageRef(s.Image)
	if err != nil {
		return fmt.Errorf("check %s: %q is not an image reference (%v): write name[:tag], lower case, e.g. %s:v1.2.3", setting, s.Image, err, s.Name)
	}
	if ref.Digest != "" {
		return fmt.Errorf("check %s: %q has a digest: a build can only be tagged, write name:tag", setting, s.Image)
	}
	if ref.Tag == "" {
		s.Image += ":" + tagFrom(c.Version)
	}
	if s.Ports, err = checkPorts(s.Ports); err != nil {
		return err
	}
	for _, f := range s.Files {
		src, dst, ok := strings.Cut(f, ":")
		if !ok || src == "" || !strings.HasPrefix(dst, "/") {
			return fmt.Errorf("check SLIMAGE_FILES: %q is not src:dst: write e.g. conf.yaml:/app/conf.yaml (src in the module, dst absolute in the image)", f)
		}
	}
	if _, _, err := healthOf(s.VerifyHealth); err != nil {
		return err
	}
	return nil
}

// defaultDockerfileOut is <dist>/image/Dockerfile.multistage, relative to
// the module.
func (c *Config) defaultDockerfileOut() string {
	rel, err := filepath.Rel(c.Dir, filepath.Join(c.Dist, "image", "Dockerfile.multistage"))
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = filepath.Join("dist", "image", "Dockerfile.multistage")
	}
	return rel
}

// HostPlatform is the platform the go command runs on, which Docker's
// legacy builder can build.
func (c *Config) HostPlatform() Platform { return Platform{OS: "linux", Arch: c.GoEnv.GOHOSTARCH} }

// resolveBuilder picks the OCI builder unless told otherwise (the
// multistage mode is Docker's builder by nature), and refuses an explicit
// choice of Docker's builder for what it cannot do (another platform than
// the host's, more than one, a push).
//
// The OCI builder is the default for the host's platform too, by
// measurement (README: Speed): it makes the image the Dockerfile describes,
// layer for layer, and after a code change it compresses and loads one
// layer, where Docker's legacy builder creates and commits a container for
// the binary's COPY (0.2 s to 1.2 s here, whatever the layer's size).
func (c *Config) resolveBuilder() error {
	host := c.HostPlatform()
	native := len(c.Platforms) == 1 && c.Platforms[0] == host
	switch c.Builder {
	case "":
		c.Builder = "oci"
		if c.DockerfileMode == "multistage" && native && c.Push == "" {
			c.Builder = "docker" // else resolveMultistage names what it cannot honour
		}
	case "docker":
		if !native {
			return fmt.Errorf("check SLIMAGE_BUILDER: docker builds only the host platform %s, one at a time, and SLIMAGE_PLATFORMS asks for %s: set SLIMAGE_BUILDER=oci", host, platformList(c.Platforms))
		}
		if c.Push != "" {
			return errors.New("check SLIMAGE_PUSH: pushing needs SLIMAGE_BUILDER=oci (the index is built without the daemon)")
		}
	case "oci":
	default:
		return fmt.Errorf("check SLIMAGE_BUILDER: %q is not docker or oci", c.Builder)
	}
	return nil
}

// resolveMultistage checks the Dockerfile mode and derives the builder
// image from go.mod: the toolchain line's version if any, else the go line's.
func (c *Config) resolveMultistage() error {
	switch c.DockerfileMode {
	case "host", "":
		c.DockerfileMode = "host"
		return nil
	case "multistage":
	default:
		return fmt.Errorf("check SLIMAGE_DOCKERFILE_MODE: %q is not host or multistage", c.DockerfileMode)
	}
	if c.Builder != "docker" {
		// Name what multistage cannot honour, never drop it silently.
		var cannot []string
		if len(c.Platforms) != 1 || c.Platforms[0] != c.HostPlatform() {
			cannot = append(cannot, "SLIMAGE_PLATFORMS="+platformList(c.Platforms))
		}
		if c.Push != "" {
			cannot = append(cannot, "SLIMAGE_PUSH="+c.Push)
		}
		if len(cannot) == 0 {
			cannot = append(cannot, "SLIMAGE_BUILDER="+c.Builder)
		}
		return fmt.Errorf("check SLIMAGE_DOCKERFILE_MODE: multistage cannot honour %s (it builds with Docker's builder, for the host platform %s only): drop %s, or use the host mode", strings.Join(cannot, " and "), c.HostPlatform(), itOrThem(len(cannot)))
	}
	if c.GoImage == "" {
		v := strings.TrimPrefix(c.Module.Toolchain, "go")
		if v == "" {
			v = c.Module.Go
		}
		c.GoImage = "golang:" + v
	}
	if _, err := ParseImageRef(c.GoImage); err != nil {
		return fmt.Errorf("check SLIMAGE_GO_IMAGE: %q is not an image reference (%v): write e.g. golang:1.26 or golang:1.26@sha256:<digest>", c.GoImage, err)
	}
	if c.Several() {
		if c.DockerfileOut != "" {
			return fmt.Errorf("check SLIMAGE_DOCKERFILE_OUT: %s is one Dockerfile, and the multistage mode writes one per service (%s): leave it unset (each goes to its service's folder in the output folder)", c.DockerfileOut, strings.Join(serviceNames(c.Services), ", "))
		}
		return nil // ForService names each service's
	}
	if c.DockerfileOut == "" {
		c.DockerfileOut = c.defaultDockerfileOut()
	}
	out := c.DockerfileOut
	if !filepath.IsAbs(out) {
		out = filepath.Join(c.Dir, out)
	}
	if rel, err := filepath.Rel(c.Dir, out); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("check SLIMAGE_DOCKERFILE_OUT: %s is outside the module %s: the Dockerfile must be inside the build context (the module)", out, c.Dir)
	}
	return nil
}

func itOrThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

var (
	userForm = regexp.MustCompile(`^[0-9]+:[0-9]+$`)
	portForm = regexp.MustCompile(`^([0-9]+)(/([a-z]+))?$`)
	badTag   = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
)

// tagFrom makes a version usable as an image tag (git describe can print
// '+' or '/', which tags do not take).
func tagFrom(v string) string {
	t := badTag.ReplaceAllString(v, "-")
	if t == "" || t[0] == '.' || t[0] == '-' {
		t = "v" + t
	}
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

// AllZones reports whether SLIMAGE_ZONES asks for every zone.
func (c *Config) AllZones() bool { return len(c.Zones) == 1 && c.Zones[0] == "all" }

// SlimageLabels are the labels slimage sets on every image (see the
// README); com.github.slimage.* keys are slimage's too.
var SlimageLabels = map[string]string{
	"org.opencontainers.image.title":    "the binary's name",
	"org.opencontainers.image.version":  "SLIMAGE_VERSION",
	"org.opencontainers.image.revision": "the commit",
	"org.opencontainers.image.source":   "git's origin, or the module path",
	"org.opencontainers.image.created":  "the commit time, or SOURCE_DATE_EPOCH",
}

// parseLabels reads SLIMAGE_LABELS: key=value adds a label, key:=value
// replaces one slimage sets.
func (c *Config) parseLabels(v string) error {
	for _, item := range splitList(v, ",") {
		into := &c.Labels
		k, val, ok := strings.Cut(item, ":=")
		if ok {
			into = &c.LabelOverrides
		} else if k, val, ok = strings.Cut(item, "="); !ok {
			return fmt.Errorf("check SLIMAGE_LABELS: %q is not key=value: write e.g. com.example.team=payments", item)
		}
		if *into == nil {
			*into = map[string]string{}
		}
		(*into)[strings.TrimSpace(k)] = val
	}
	return nil
}

// checkLabels refuses an empty or spaced key, and a key slimage sets itself
// unless the user said theirs wins.
func (c *Config) checkLabels() error {
	for _, m := range []map[string]string{c.Labels, c.LabelOverrides} {
		for k := range m {
			if k == "" || strings.ContainsAny(k, " \t=,") {
				return fmt.Errorf("check SLIMAGE_LABELS: %q is not a label key: write a reverse-DNS name such as com.example.team", k)
			}
			if strings.HasPrefix(k, "com.github.slimage.") {
				return fmt.Errorf("check SLIMAGE_LABELS: %s is slimage's own (com.github.slimage.*): choose another key", k)
			}
		}
	}
	for k, v := range c.Labels {
		if from, ok := SlimageLabels[k]; ok {
			return fmt.Errorf("check SLIMAGE_LABELS: slimage sets %s itself (from %s): write %s:=%s to have yours win, or drop it", k, from, k, v)
		}
	}
	return nil
}

// Sigstore's public instance: where keyless signing gets its certificate
// and logs its signatures unless SLIMAGE_FULCIO_URL and SLIMAGE_REKOR_URL
// name another.
const (
	PublicFulcio = "https://fulcio.sigstore.dev"
	PublicRekor  = "https://rekor.sigstore.dev"
)

// KMSSchemes begin the key URIs of the KMSs sigstore has providers for, as
// cosign writes them: SLIMAGE_SIGN_KEY or SLIMAGE_VERIFY_KEY so written
// name a key held there, which slimage-sign-kms (slimage-sign with those
// providers linked in) signs and checks with.
var KMSSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://"}

// KeyURI says whether key names a key held in a KMS, or in a KMS plugin
// (`<name>://…`, the program sigstore-kms-<name> on PATH, in sigstore's
// plugin protocol), rather than a file.
func KeyURI(key string) bool { return strings.Contains(key, "://") }

// BuiltinKMS says whether key names a key in one of KMSSchemes.
func BuiltinKMS(key string) bool {
	for _, s := range KMSSchemes {
		if strings.HasPrefix(key, s) {
			return true
		}
	}
	return false
}

// checkKeyURI checks that a KMS plugin's key has its plugin on PATH,
// before any work: the signing comes after the push.
func checkKeyURI(env, key string) error {
	if !KeyURI(key) || BuiltinKMS(key) {
		return nil
	}
	scheme, _, _ := strings.Cut(key, "://")
	if _, err := exec.LookPath("sigstore-kms-" + scheme); err != nil {
		return fmt.Errorf("check %s: %s names a key of the KMS plugin sigstore-kms-%s, which is not on PATH: install it, or write a key file or a URI beginning %s", env, key, scheme, strings.Join(KMSSchemes, ", "))
	}
	return nil
}

// Signs says whether what is pushed is signed: with a key, or keyless.
func (c *Config) Signs() bool { return c.SignKey != "" || c.Sign == "keyless" }

// Keyless says whether verifyImage checks keyless signatures: an identity
// and its issuer rather than a public key.
func (c *Config) Keyless() bool {
	return c.VerifyIdentity != "" || c.VerifyIdentityRegexp != "" || c.VerifyIssuer != ""
}

// checkSigning checks the signing and keyless verification settings
// against each other.
func (c *Config) checkSigning() error {
	switch c.Sign {
	case "", "keyless":
	default:
		return fmt.Errorf("check SLIMAGE_SIGN: %q is not a signing mode: write keyless, or leave it empty and set SLIMAGE_SIGN_KEY to sign with a key", c.Sign)
	}
	if c.Sign == "keyless" && c.SignKey != "" {
		return fmt.Errorf("check SLIMAGE_SIGN: keyless and SLIMAGE_SIGN_KEY both ask to sign: keep one")
	}
	if c.Sign == "keyless" && c.Push == "" {
		return fmt.Errorf("check SLIMAGE_SIGN: slimage signs what it pushes, and nothing is pushed: set SLIMAGE_PUSH too")
	}
	if c.SignKey != "" && c.Push == "" {
		return fmt.Errorf("check SLIMAGE_SIGN_KEY: slimage signs what it pushes, and nothing is pushed: set SLIMAGE_PUSH too")
	}
	if err := checkKeyURI("SLIMAGE_SIGN_KEY", c.SignKey); err != nil {
		return err
	}
	if key := c.SignKeyPath(); key != "" && !KeyURI(key) {
		if data, err := os.ReadFile(key); err != nil {
			return fmt.Errorf("check SLIMAGE_SIGN_KEY: %v: name cosign's cosign.key or a PEM private key", err)
		} else if !bytes.Contains(data, []byte("-----BEGIN ")) {
			return fmt.Errorf("check SLIMAGE_SIGN_KEY: %s is not a PEM key: name cosign's cosign.key or a PEM private key", key)
		}
	}
	for _, u := range []struct{ env, url string }{{"SLIMAGE_FULCIO_URL", c.FulcioURL}, {"SLIMAGE_REKOR_URL", c.RekorURL}} {
		if p, err := url.Parse(u.url); u.url != "" && (err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "") {
			return fmt.Errorf("check %s: %q is not an http(s) URL: write e.g. https://host", u.env, u.url)
		}
	}
	return c.CheckVerifyTrust()
}

// CheckVerifyTrust checks what verifyImage trusts: a key, or an identity
// with its issuer.
func (c *Config) CheckVerifyTrust() error {
	if err := checkKeyURI("SLIMAGE_VERIFY_KEY", c.VerifyKey); err != nil {
		return err
	}
	if !c.Keyless() {
		return nil
	}
	switch {
	case c.VerifyKey != "":
		return fmt.Errorf("check SLIMAGE_VERIFY_KEY: it and SLIMAGE_VERIFY_IDENTITY both say what to trust: keep the key, or the identity and issuer")
	case c.VerifyIdentity != "" && c.VerifyIdentityRegexp != "":
		return fmt.Errorf("check SLIMAGE_VERIFY_IDENTITY_REGEXP: it and SLIMAGE_VERIFY_IDENTITY both name the identity: keep one")
	case c.VerifyIdentity == "" && c.VerifyIdentityRegexp == "":
		return fmt.Errorf("check SLIMAGE_VERIFY_ISSUER: it needs the identity it issued: set SLIMAGE_VERIFY_IDENTITY (or SLIMAGE_VERIFY_IDENTITY_REGEXP)")
	case c.VerifyIssuer == "":
		return fmt.Errorf("check SLIMAGE_VERIFY_IDENTITY: an identity is only as good as its issuer: set SLIMAGE_VERIFY_ISSUER (https://token.actions.githubusercontent.com, https://gitlab.com, ...)")
	}
	if c.VerifyIdentityRegexp != "" {
		if _, err := regexp.Compile(c.VerifyIdentityRegexp); err != nil {
			return fmt.Errorf("check SLIMAGE_VERIFY_IDENTITY_REGEXP: %v", err)
		}
	}
	if c.TrustedRoot != "" {
		if _, err := os.Stat(c.TrustedRoot); err != nil {
			return fmt.Errorf("check SLIMAGE_TRUSTED_ROOT: %v: name Sigstore's trusted_root.json", err)
		}
	}
	return nil
}

// SignKeyPath is SLIMAGE_SIGN_KEY as signing reads it: a file relative to
// the module made absolute, a KMS's key URI as written.
func (c *Config) SignKeyPath() string {
	if c.SignKey == "" || filepath.IsAbs(c.SignKey) || KeyURI(c.SignKey) {
		return c.SignKey
	}
	return filepath.Join(c.Dir, c.SignKey)
}
