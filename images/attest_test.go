package images_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/internal/testkit"
)

// Every image gets an SBOM of what its binary links (exactly the modules
// `go version -m` prints) and a provenance that names the commit; the same
// commit built in another folder gives the same index digest and the same
// bytes of both.
func TestSBOMAndProvenance(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=slimage", "-c", "user.email=test@slimage.invalid"}, args...)...)
		cmd.Dir = dir
		return strings.TrimSpace(testkit.Run(t, cmd))
	}
	first := testkit.CopySample(t, "hello")
	testkit.WriteFiles(t, first, map[string]string{".gitignore": "dist/\n"})
	git(first, "init", "-q")
	git(first, "add", "-A")
	git(first, "commit", "-q", "-m", "the sample")
	git(first, "remote", "add", "origin", "https://example.com/hello.git")
	commit := git(first, "rev-parse", "HEAD")
	second := filepath.Join(t.TempDir(), "elsewhere", "hello")
	git(first, "clone", "-q", first, second)
	git(second, "remote", "set-url", "origin", "https://example.com/hello.git") // two checkouts of one repository

	var sboms, provenances [][]byte
	var indexes []string
	var bin string
	for _, dir := range []string{first, second} {
		c := sampleConfig(t, cli, dir, func(c *config.Config) { c.Builder = "oci" })
		if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := build.Build(context.Background(), c, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		bin = gobuild.OutputPath(c, c.Platforms[0])
		idx, err := build.LayoutIndex(filepath.Join(c.Dist, "oci"))
		if err != nil {
			t.Fatal(err)
		}
		digest, _ := idx.Digest()
		indexes = append(indexes, digest.String())
		sbomPath, provPath := build.AttestationPaths(c, c.Platforms[0])
		for path, into := range map[string]*[][]byte{sbomPath: &sboms, provPath: &provenances} {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			*into = append(*into, data)
		}
	}
	if indexes[0] != indexes[1] {
		t.Errorf("the same commit in two folders gave index digests %s and %s", indexes[0], indexes[1])
	}
	if !bytes.Equal(sboms[0], sboms[1]) || !bytes.Equal(provenances[0], provenances[1]) {
		t.Errorf("the same commit in two folders gave different documents:\n%s\n%s", provenances[0], provenances[1])
	}

	var doc struct {
		SpecVersion string `json:"specVersion"`
		Metadata    struct {
			Component struct{ Name string } `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name, Version string
			Hashes        []struct{ Alg, Content string }
		} `json:"components"`
	}
	if err := json.Unmarshal(sboms[0], &doc); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, c := range doc.Components {
		listed = append(listed, c.Name+"@"+c.Version)
		if len(c.Hashes) != 1 || c.Hashes[0].Alg != "SHA-256" || len(c.Hashes[0].Content) != 64 {
			t.Errorf("%s: hashes %+v", c.Name, c.Hashes)
		}
	}
	var linked []string
	for _, l := range strings.Split(testkit.Go(t, first, "version", "-m", bin), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "=>": // the replacement is what was linked
			linked[len(linked)-1] = f[1] + "@" + f[2]
		case len(f) >= 3 && f[0] == "dep":
			linked = append(linked, f[1]+"@"+f[2])
		}
	}
	sort.Strings(listed)
	sort.Strings(linked)
	if strings.Join(listed, " ") != strings.Join(linked, " ") || len(linked) == 0 {
		t.Errorf("the SBOM lists %v, go version -m %v", listed, linked)
	}
	if doc.SpecVersion != "1.6" || doc.Metadata.Component.Name != "example.com/hello" {
		t.Errorf("SBOM header: %s, main component %q", doc.SpecVersion, doc.Metadata.Component.Name)
	}

	var st struct {
		Type      string `json:"_type"`
		Predicate struct {
			BuildDefinition struct {
				ExternalParameters struct {
					Source struct {
						Commit string
						Dirty  bool
					}
					Platform string
				} `json:"externalParameters"`
			} `json:"buildDefinition"`
		}
	}
	if err := json.Unmarshal(provenances[0], &st); err != nil {
		t.Fatal(err)
	}
	src := st.Predicate.BuildDefinition.ExternalParameters
	if st.Type != "https://in-toto.io/Statement/v1" || src.Source.Commit != commit || src.Source.Dirty || src.Platform == "" {
		t.Errorf("the provenance does not name the clean commit %s:\n%s", commit, provenances[0])
	}
}
