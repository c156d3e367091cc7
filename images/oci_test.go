package images_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/client"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/verify"
	"github.com/slimage/slimage/internal/testkit"
)

var twoPlatforms = []config.Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}}

func TestOCIIndexOfTwoPlatformsPassesVerify(t *testing.T) {
	cli := docker(t)
	testkit.NeedEmulation(t)
	testkit.HermeticGo(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.Platforms = twoPlatforms
		c.VerifyHealth, c.VerifyTLS = "/healthz", "off"
	})
	if c.Builder != "oci" {
		t.Fatalf("builder %q for two platforms, want oci", c.Builder)
	}
	built := buildAll(t, cli, c)
	// Nothing changed: the layout and the loaded images are reused.
	var again bytes.Buffer
	if _, err := build.Build(context.Background(), c, io.Discard, &again); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(again.String(), "(unchanged)"); n != 3 {
		t.Errorf("a no-op OCI build said %d times it was unchanged, want 3 (index, two images):\n%s", n, again.String())
	}

	idx, err := build.LayoutIndex(filepath.Join(c.Dist, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range manifest.Manifests {
		got = append(got, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	if strings.Join(got, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("index platforms %v", got)
	}

	for _, b := range built {
		rep, err := verify.Verify(context.Background(), c, b.Ref, io.Discard, io.Discard)
		if err != nil {
			t.Errorf("%s: %v", b.Platform, err)
			continue
		}
		if rep.Platform != b.Platform.String() {
			t.Errorf("verified %s, want %s", rep.Platform, b.Platform)
		}
	}
}

// Two builds from clean dist/ folders in two checkout paths: the same
// index digest, the same image digests.
func TestOCIBuildIsReproducible(t *testing.T) {
	testkit.HermeticGo(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	var digests [][]string
	for range 2 {
		dir := testkit.CopySample(t, "hello")
		c, err := config.Load(context.Background(), []func(*config.Config){func(c *config.Config) {
			c.Dir, c.Dist, c.Version, c.Platforms = dir, filepath.Join(dir, "dist"), "v1.0.0", twoPlatforms
		}}, nil, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
			t.Fatal(err)
		}
		idx, imgs, err := build.BuildOCIIndex(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := idx.Digest()
		ds := []string{d.String()}
		for _, pi := range imgs {
			d, _ := pi.Image.Digest()
			ds = append(ds, d.String())
			layersAreCompleteArchives(t, pi.Image)
		}
		digests = append(digests, ds)
	}
	if !reflect.DeepEqual(digests[0], digests[1]) {
		t.Errorf("digests differ between checkouts:\n%v\n%v", digests[0], digests[1])
	}
}

// layersAreCompleteArchives checks that each layer of img, as a registry
// or a tool would read it, is a whole tar archive (its entries padded and
// the two zero blocks at the end that strict readers require), and that
// its gzip holds exactly its tar.
func layersAreCompleteArchives(t *testing.T, img v1.Image) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(data)%512 != 0 || len(data) < 1024 || !bytes.Equal(data[len(data)-1024:], make([]byte, 1024)) {
			t.Errorf("layer %d (%d bytes) is not a complete tar archive: no end-of-archive blocks", i, len(data))
		}
		zrc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(zrc)
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		zrc.Close()
		if err != nil || !bytes.Equal(unzipped, data) {
			t.Errorf("layer %d: its gzip does not hold its tar (%v)", i, err)
		}
	}
}

// For the host platform, Docker's build and the OCI build of the same
// context hold the same files (modes, owners) and the same config.
func TestDockerAndOCIBuildsAreEquivalent(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	dir := testkit.CopySample(t, "hello")
	dockerCfg := sampleConfig(t, cli, dir, func(c *config.Config) { c.Builder = "docker" })
	buildSample(t, dockerCfg)
	ociCfg := sampleConfig(t, cli, dir, func(c *config.Config) {
		c.Builder = "oci"
		c.Image = dockerCfg.Image + "-oci"
	})
	t.Cleanup(func() { removeImage(cli, ociCfg.Image) })
	if _, err := build.Build(context.Background(), ociCfg, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}

	dockerFiles, ociFiles := imageFiles(t, cli, dockerCfg.Image), imageFiles(t, cli, ociCfg.Image)
	if strings.Join(dockerFiles, "\n") != strings.Join(ociFiles, "\n") {
		t.Errorf("files differ:\ndocker:\n%s\noci:\n%s", strings.Join(dockerFiles, "\n"), strings.Join(ociFiles, "\n"))
	}
	d, err := cli.ImageInspect(context.Background(), dockerCfg.Image)
	if err != nil {
		t.Fatal(err)
	}
	o, err := cli.ImageInspect(context.Background(), ociCfg.Image)
	if err != nil {
		t.Fatal(err)
	}
	dc, oc := d.Config, o.Config
	same := func(what string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: docker %v, oci %v", what, a, b)
		}
	}
	same("user", dc.User, oc.User)
	same("env", dc.Env, oc.Env)
	same("entrypoint", dc.Entrypoint, oc.Entrypoint)
	same("cmd", dc.Cmd, oc.Cmd)
	same("workdir", dc.WorkingDir, oc.WorkingDir)
	same("ports", dc.ExposedPorts, oc.ExposedPorts)
	same("labels", dc.Labels, oc.Labels)
	same("platform", d.Os+"/"+d.Architecture, o.Os+"/"+o.Architecture)
}

// Push to a registry served in-process on 127.0.0.1, then pull by digest.
func TestPushThenPullByDigest(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	host := loopbackRegistry(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.Push = host + "/slimage/hello:test"
		c.Platforms = twoPlatforms
	})
	buildAll(t, cli, c)
	local, err := build.LayoutIndex(filepath.Join(c.Dist, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := local.Digest()
	ref, err := name.ParseReference(host + "/slimage/hello@" + want.String())
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := pulled.Digest()
	if got != want {
		t.Errorf("pulled index %s, pushed %s", got, want)
	}
	m, _ := pulled.IndexManifest()
	for _, desc := range m.Manifests {
		img, err := pulled.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := img.Layers(); err != nil {
			t.Errorf("%s: %v", desc.Platform, err)
		}
	}

	// Each platform's SBOM and provenance are referrers of its manifest: in
	// the registry, through its referrers API; in the layout, as entries of
	// index.json whose subject is that manifest, holding the files of
	// dist/sbom.
	inLayout := layoutReferrers(t, filepath.Join(c.Dist, "oci"))
	wantTypes := []string{"application/vnd.cyclonedx+json", "application/vnd.in-toto+json"}
	for _, desc := range m.Manifests {
		refs, err := remote.Referrers(ref.Context().Digest(desc.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		rm, err := refs.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rm.Manifests {
			got = append(got, r.ArtifactType)
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(wantTypes, " ") {
			t.Errorf("%s: the registry's referrers are %v, want %v", desc.Platform, got, wantTypes)
		}
		p := config.Platform{OS: desc.Platform.OS, Arch: desc.Platform.Architecture}
		sbomPath, provPath := build.AttestationPaths(c, p)
		for _, f := range []struct{ artifactType, path string }{{wantTypes[0], sbomPath}, {wantTypes[1], provPath}} {
			onDisk, _ := os.ReadFile(f.path)
			if layer := inLayout[desc.Digest.String()+" "+f.artifactType]; len(onDisk) == 0 || !bytes.Equal(layer, onDisk) {
				t.Errorf("%s: the layout's %s referrer does not hold %s", desc.Platform, f.artifactType, f.path)
			}
		}
	}
}

// layoutReferrers reads the referrers in the layout at dir: their one
// layer's bytes by "<subject digest> <artifact type>".
func layoutReferrers(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	rm, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, d := range rm.Manifests {
		if d.ArtifactType == "" {
			continue
		}
		raw, err := p.Bytes(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil || m.Subject == nil || len(m.Layers) != 1 {
			t.Fatalf("referrer %s: %v %s", d.Digest, err, raw)
		}
		layer, err := p.Bytes(m.Layers[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		out[m.Subject.Digest.String()+" "+m.ArtifactType] = layer
	}
	return out
}

// buildAll builds the binaries and images of c, removed when the test ends.
func buildAll(t testing.TB, cli *client.Client, c *config.Config) []build.Built {
	t.Helper()
	if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
		t.Fatal(err)
	}
	built, err := build.Build(context.Background(), c, io.Discard, io.Discard)
	for _, b := range build.Tags(c) {
		t.Cleanup(func() { removeImage(cli, b.Ref) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return built
}

// loopbackRegistry serves a registry in-process on 127.0.0.1 for the
// test, and returns its host:port.
func loopbackRegistry(t testing.TB) string {
	t.Helper()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	return strings.TrimPrefix(reg.URL, "http://")
}
