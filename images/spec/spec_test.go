package spec_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slimage/slimage/images/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestRenderDockerfile(t *testing.T) {
	tests := []struct {
		golden string
		spec   spec.Spec
	}{
		{"default.Dockerfile", spec.Spec{Binary: "hello", Title: "hello", Version: "v1.0.0",
			Zone: "Asia/Shanghai", User: "65532:65532"}},
		{"all-zones.Dockerfile", spec.Spec{Binary: "hello", Title: "hello", Version: "v1.0.0",
			Zone: "Asia/Shanghai", AllZones: true, User: "65532:65532"}},
		{"full.Dockerfile", spec.Spec{Binary: "api", Title: "api", Version: "v2.3.4-5-gabcdef0",
			Zone: "Europe/Berlin", Zones: []string{"America/New_York", "Asia/Tokyo"}, User: "0:0", Ports: []string{"8080/tcp", "9090/tcp", "53/udp"},
			Args:  []string{"-addr", ":8080", "--config=conf.yaml"},
			Files: []string{"conf.yaml -> /app/conf.yaml", "slimage-data/templates/index.html -> /app/templates/index.html"},
			Labels: map[string]string{
				"org.opencontainers.image.title":    "api",
				"org.opencontainers.image.version":  "v2.3.4-5-gabcdef0",
				"org.opencontainers.image.source":   "https://example.com/shop/api",
				"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
				"org.opencontainers.image.created":  "2026-01-02T03:04:05Z",
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := spec.RenderDockerfile(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, got)
		})
	}
}

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./images -run Render -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (-update to accept):\n%s", name, path, got)
	}
}

func TestRenderDockerfileRejectsBadLabels(t *testing.T) {
	_, err := spec.RenderDockerfile(spec.Spec{Binary: "a", User: "0:0", Labels: map[string]string{"x": "line\nbreak"}})
	if err == nil {
		t.Fatal("a label with a line break was rendered")
	}
}

func TestRenderMultistage(t *testing.T) {
	ms := spec.MultistageSpec{
		Spec: spec.Spec{Binary: "hello", Title: "hello", Zone: "Asia/Shanghai", User: "65532:65532",
			Ports: []string{"8080/tcp"}, Labels: map[string]string{
				"org.opencontainers.image.title":    "hello",
				"org.opencontainers.image.source":   "https://example.com/hello",
				"org.opencontainers.image.version":  "v1.0.0",
				"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
				"org.opencontainers.image.created":  "2026-01-02T03:04:05Z",
			}},
		GoImage: "golang:1.24", Main: ".", ModFlag: "-mod=readonly", Stamps: []string{"main.version=${VERSION}", "main.commit=${REVISION}", "main.date=${CREATED}"},
		Copies:         []string{"conf.yaml /app/conf.yaml"},
		DockerfilePath: "dist/image/Dockerfile.multistage", IgnorePath: "dist/image/Dockerfile.multistage.dockerignore",
	}
	got, err := spec.RenderMultistage(ms)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "multistage.Dockerfile", got)
	golden(t, "multistage.dockerignore", spec.RenderDockerignore("dist", ms.DockerfilePath))

	// The CA settings: a file beside the Dockerfile, the whole bundle or
	// certificates added to the builder's; a module without go.sum.
	ms.Trust, ms.TrustReplaces, ms.NoGoSum = ms.DockerfilePath+".ca.pem", false, true
	if got, err = spec.RenderMultistage(ms); err != nil {
		t.Fatal(err)
	}
	golden(t, "multistage-extra-ca.Dockerfile", got)
	golden(t, "multistage-extra-ca.dockerignore", spec.RenderDockerignore("dist", ms.DockerfilePath, ms.Trust))
	ms.TrustReplaces = true
	if got, err = spec.RenderMultistage(ms); err != nil {
		t.Fatal(err)
	}
	if want := "\nCOPY dist/image/Dockerfile.multistage.ca.pem /rootfs/etc/ssl/certs/ca-certificates.crt\nWORKDIR /src\n"; !strings.Contains(string(got), want) {
		t.Errorf("SLIMAGE_CA_BUNDLE does not replace the builder's bundle; want %q in:\n%s", want, got)
	}
}
