package spec

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"text/template"
)

// MultistageSpec is what the self-contained Dockerfile says: the scratch
// image's Spec, plus how to build the binary inside Docker.
type MultistageSpec struct {
	Spec    Spec
	GoImage string   // the builder stage's image, golang:<version> by default
	Main    string   // ./cmd/api
	ModFlag string   // -mod=readonly or -mod=vendor
	Stamps  []string // -X var=value pairs, the values made of the build arguments VERSION, REVISION, CREATED
	NoGoSum bool     // the module has no go.sum (no dependencies): copy go.mod alone
	// Trust is the CA file slimage writes beside the Dockerfile (relative to
	// the module root) from SLIMAGE_CA_BUNDLE or SLIMAGE_EXTRA_CA; "" keeps
	// the builder image's bundle as it is. TrustReplaces: it is the whole
	// bundle (SLIMAGE_CA_BUNDLE), not certificates to add.
	Trust          string
	TrustReplaces  bool
	Copies         []string // run-time files, "src dst" from the build context
	DockerfilePath string   // relative to the module root, for the header
	IgnorePath     string
}

// Build arguments the multistage Dockerfile takes. The label values that
// change with every commit come in as arguments too, so the committed file
// does not.
var multistageLabelArgs = map[string]string{
	"org.opencontainers.image.version":  "${VERSION}",
	"org.opencontainers.image.revision": "${REVISION}",
	"org.opencontainers.image.created":  "${CREATED}",
}

//go:embed Dockerfile.multistage.tmpl
var multistageTemplate string

var multistage = template.Must(template.New("Dockerfile.multistage").Funcs(funcs).Parse(multistageTemplate))

// RenderMultistage writes the self-contained Dockerfile for s.
func RenderMultistage(s MultistageSpec) ([]byte, error) {
	if s.GoImage == "" || s.Main == "" || s.Spec.Binary == "" || s.Spec.User == "" {
		return nil, fmt.Errorf("render multistage Dockerfile: spec needs a Go image, a main package, a binary and a user")
	}
	labels := map[string]string{}
	for k, v := range s.Spec.Labels {
		labels[k] = v
	}
	for k, v := range multistageLabelArgs {
		if _, ok := labels[k]; ok { // as the host mode: no revision outside git
			labels[k] = v
		}
	}
	s.Spec.Labels = labels
	var b bytes.Buffer
	if err := multistage.Execute(&b, s); err != nil {
		return nil, fmt.Errorf("render multistage Dockerfile: %w", err)
	}
	return b.Bytes(), nil
}

// RenderDockerignore keeps the build context to what the build reads: no
// outputs, no VCS data, no test artefacts. The Dockerfile itself must stay
// in, even when it lives under an ignored folder.
func RenderDockerignore(dist, dockerfile string, keep ...string) []byte {
	lines := []string{
		"# Written by slimage: the build context is the module root minus these.",
		"/" + strings.TrimSuffix(dist, "/") + "/",
		".git/", ".github/", ".ci/", "**/testdata/", "**/*_test.go", "**/.DS_Store", "**/*.swp",
		".idea/", ".vscode/", "coverage.out", "*.test",
		"!" + dockerfile,
	}
	for _, k := range keep {
		lines = append(lines, "!"+k)
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}
