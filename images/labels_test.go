package images_test

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/probe/report"
	"github.com/slimage/slimage/internal/testkit"
	"github.com/slimage/slimage/internal/trust"
)

// The user's labels land in the image in both paths, one that replaces
// slimage's included; in the OCI path the standard org.opencontainers.image
// keys are also the manifests' and the index's annotations, and the
// layout's entries carry org.opencontainers.image.ref.name.
func TestLabelsAndAnnotations(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	const source = "https://github.com/acme/hello"
	set := func(c *config.Config) {
		c.Labels = map[string]string{"com.example.team": "payments"}
		c.LabelOverrides = map[string]string{"org.opencontainers.image.source": source}
	}
	for _, builder := range []string{"docker", "oci"} {
		t.Run(builder, func(t *testing.T) {
			c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) { set(c); c.Builder = builder })
			if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
				t.Fatal(err)
			}
			if _, err := build.Build(context.Background(), c, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			img, err := cli.ImageInspect(context.Background(), c.Image)
			if err != nil {
				t.Fatal(err)
			}
			if l := img.Config.Labels; l["com.example.team"] != "payments" || l["org.opencontainers.image.source"] != source || l["org.opencontainers.image.title"] != "hello" {
				t.Errorf("labels %v", l)
			}
			if builder != "oci" {
				return
			}
			idx, err := build.LayoutIndex(filepath.Join(c.Dist, "oci"))
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if im.Annotations["org.opencontainers.image.source"] != source || im.Annotations["org.opencontainers.image.version"] != c.Version {
				t.Errorf("index annotations %v", im.Annotations)
			}
			root, err := layout.ImageIndexFromPath(filepath.Join(c.Dist, "oci"))
			if err != nil {
				t.Fatal(err)
			}
			rm, _ := root.IndexManifest()
			if _, tag, _ := strings.Cut(c.Image, ":"); rm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != tag {
				t.Errorf("the layout's index entry %+v, want ref.name %s", rm.Manifests[0], tag)
			}
			pimg, err := idx.Image(im.Manifests[0].Digest)
			if err != nil {
				t.Fatal(err)
			}
			m, err := pimg.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.Annotations["org.opencontainers.image.source"] != source || m.Annotations["com.example.team"] != "" {
				t.Errorf("manifest annotations %v: the standard keys, and only those", m.Annotations)
			}
		})
	}
}

// Staging finds the host's CA bundle where the probe looks for the image's:
// Go's own list, kept in two places because the probe builds alone.
func TestHostBundlesAreTheProbes(t *testing.T) {
	if !slices.Equal(trust.HostBundles, report.CertFiles) {
		t.Errorf("trust.HostBundles %v and report.CertFiles %v differ", trust.HostBundles, report.CertFiles)
	}
}
