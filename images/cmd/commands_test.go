package cmd_test

import (
	"os/exec"
	"strings"
	"testing"
)

// Each engine command links what its steps use and no more: the image
// engine, which every image and verify needs built, has nothing of
// golang.org/x/vuln or golang.org/x/tools, which only vulncheck uses, nor
// the Kubernetes API types, which only the deploy step uses, nor cosign's
// and sigstore's libraries, which only signing uses; and signing links the
// clouds' KMS SDKs only in slimage-sign-kms, for keys held there.
func TestCommandsLinkOnlyWhatTheyUse(t *testing.T) {
	tests := []struct {
		cmd      string
		want     []string
		mustLack []string
	}{
		{"./slimage-engine", []string{"github.com/google/go-containerregistry/", "github.com/testcontainers/testcontainers-go"},
			[]string{"golang.org/x/vuln/", "golang.org/x/tools/", "golang.org/x/telemetry", "k8s.io/", "sigs.k8s.io/", "github.com/sigstore/"}},
		{"./slimage-vulncheck", []string{"golang.org/x/vuln/scan"},
			[]string{"github.com/testcontainers/", "github.com/google/go-containerregistry/", "github.com/moby/", "k8s.io/"}},
		{"./slimage-deploy", []string{"k8s.io/api/core/v1", "k8s.io/api/apps/v1", "k8s.io/api/batch/v1"},
			[]string{"github.com/testcontainers/", "github.com/moby/", "github.com/docker/", "golang.org/x/vuln/", "github.com/sigstore/"}},
		{"./slimage-sign", []string{"github.com/sigstore/cosign/v2/pkg/oci/remote", "github.com/sigstore/sigstore/pkg/signature/dsse",
			"github.com/sigstore/sigstore-go/pkg/sign", "github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"},
			[]string{"github.com/testcontainers/", "github.com/moby/moby/", "k8s.io/api/", "golang.org/x/vuln/",
				"github.com/aws/", "cloud.google.com/", "github.com/Azure/azure-sdk-for-go/", "github.com/hashicorp/vault/"}},
		{"./slimage-sign-kms", []string{"github.com/sigstore/sigstore/pkg/signature/kms/aws", "github.com/sigstore/sigstore/pkg/signature/kms/gcp",
			"github.com/sigstore/sigstore/pkg/signature/kms/azure", "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"},
			[]string{"github.com/testcontainers/", "github.com/moby/moby/", "k8s.io/api/", "golang.org/x/vuln/"}},
	}
	for _, tt := range tests {
		cmd := exec.Command("go", "list", "-deps", tt.cmd)
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tt.cmd, err)
		}
		deps := string(out)
		for _, w := range tt.want {
			if !strings.Contains(deps, w) {
				t.Errorf("%s does not link %s", tt.cmd, w)
			}
		}
		for _, p := range strings.Fields(deps) {
			for _, bad := range tt.mustLack {
				if strings.HasPrefix(p, bad) {
					t.Errorf("%s links %s", tt.cmd, p)
				}
			}
		}
	}
}
