package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/internal/step"
	"github.com/slimage/slimage/images/provenance"
	"github.com/slimage/slimage/images/sbom"
	"github.com/slimage/slimage/images/stage"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/outdir"
)

// AttestationPaths are where an image run puts p's SBOM and provenance:
// <dist>/sbom/<os>_<arch>.cdx.json and .provenance.json.
func AttestationPaths(c *config.Config, p config.Platform) (sbomPath, provenancePath string) {
	return attestationPaths(c.Output(config.SBOMFolder), p)
}

func attestationPaths(dir string, p config.Platform) (sbomPath, provenancePath string) {
	base := filepath.Join(dir, p.DistDir())
	return base + ".cdx.json", base + ".provenance.json"
}

// Attest makes the SBOM of b's binary and the provenance of b, the image
// built from sc, the context staged for its platform, naming the image by
// its ID. Both depend only on the sources and settings (their time is the
// image's created time), so the same commit gives the same bytes.
func Attest(c *config.Config, b Built, sc *stage.Context) (Attestation, error) {
	o, err := OptionsOf(c)
	if err != nil {
		return Attestation{}, err
	}
	return attestOne(o, b, sc)
}

func attestOne(o Options, b Built, sc *stage.Context) (Attestation, error) {
	docs, err := attestationDocs(o, b.Platform, sc, provenance.Artifact{Name: b.Ref, SHA256: strings.TrimPrefix(b.ID, "sha256:")})
	return Attestation{Platform: b.Platform, docs: docs}, err
}

// Attestation is one platform's SBOM and provenance, encoded.
type Attestation struct {
	Platform config.Platform
	docs     attestationPair
}

// attestBuilt is the step that attests what Docker's builder built.
func attestBuilt(ctx context.Context, r *imageRun) error {
	a, err := attestOne(r.o, r.built[0], r.contexts[0])
	r.attestations = append(r.attestations, a)
	return err
}

// writeSBOMs is the step that writes every platform's SBOM and provenance
// into the run's new <dist>/sbom, unless the folder in place holds exactly
// these documents already.
func writeSBOMs(ctx context.Context, r *imageRun) error {
	want := map[string][]byte{}
	for _, a := range r.attestations {
		sbomPath, provenancePath := attestationPaths(r.o.sboms(), a.Platform)
		want[filepath.Base(sbomPath)], want[filepath.Base(provenancePath)] = a.docs.sbom, a.docs.provenance
	}
	if holds(r.o.sboms(), want) {
		return nil
	}
	dir, err := r.u.Dir(config.SBOMFolder)
	if err != nil {
		return fmt.Errorf("write the SBOMs: %w", r.u.Explain(err))
	}
	for name, data := range want {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write the SBOMs: %w", r.u.Explain(err))
		}
	}
	return nil
}

// holds says whether dir holds exactly the files want (its marker aside).
func holds(dir string, want map[string][]byte) bool {
	entries, err := os.ReadDir(dir)
	if err != nil || !outdir.Owned(dir) {
		return false
	}
	n := 0
	for _, e := range entries {
		if e.Name() == outdir.Marker {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || !bytes.Equal(data, want[e.Name()]) {
			return false
		}
		n++
	}
	return n == len(want)
}

// attestationPair is one platform's SBOM and provenance, encoded.
type attestationPair struct{ sbom, provenance []byte }

// attestationDocs makes p's SBOM and the provenance of image, the image
// built for p from sc (the OCI path names it by its manifest's digest, the
// Docker path by its ID).
func attestationDocs(o Options, p config.Platform, sc *stage.Context, image provenance.Artifact) (attestationPair, error) {
	pv := o.Build
	made := pv.Binaries[p]
	bin := made.Path
	created := sc.Created()
	version := step.SlimageVersion()
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return attestationPair{}, fmt.Errorf("sbom %s: read the build information of %s: %v: rebuild it (mage build)", p, human.Path(bin), err)
	}
	bom := sbom.New(bi, p, created, "slimage "+version)
	bomJSON, err := sbom.Encode(bom)
	if err != nil {
		return attestationPair{}, fmt.Errorf("sbom %s: %w", p, err)
	}
	binSum := made.SHA256
	if binSum == "" {
		if binSum, err = fileSHA256(bin); err != nil {
			return attestationPair{}, fmt.Errorf("provenance %s: %w", p, err)
		}
	}
	materials, err := materials(pv.Dir, sc.Dir)
	if err != nil {
		return attestationPair{}, fmt.Errorf("provenance %s: %w", p, err)
	}
	pb := provenance.Build{
		Subjects: []provenance.Artifact{image, {Name: "/app/" + filepath.Base(bin), SHA256: binSum}},
		Builder:  version, Repository: pv.Repository, Commit: pv.Commit, Dirty: dirty(pv, bi),
		Module: pv.Module, Main: pv.Main, Platform: p.String(),
		Flags: made.Flags, Env: made.Env,
		GoVersion: bi.GoVersion, Materials: materials,
	}
	provJSON, err := provenance.Statement(pb)
	if err != nil {
		return attestationPair{}, fmt.Errorf("provenance %s: %w", p, err)
	}
	return attestationPair{sbom: bomJSON, provenance: provJSON}, nil
}

// printAttestations says where each platform's documents are, and
// whether they are attached to the image.
func printAttestations(out io.Writer, o Options, attached bool) {
	note := "  (attached to the image as referrers)"
	if !attached {
		note = "  (files only: the default builder, oci, attaches them to the image)"
	}
	for _, p := range o.Platforms {
		sbomPath, provenancePath := attestationPaths(o.sboms(), p)
		fmt.Fprintf(out, "sbom %s  %s  provenance %s%s\n", p, human.Path(sbomPath), human.Path(provenancePath), note)
	}
}

// materials are what went into the image besides the binary: go.sum (which
// pins every module the binary links) and each file of the staged root
// file system (the CA bundle, the zones, the users, the run-time files).
func materials(module, contextDir string) ([]provenance.Artifact, error) {
	var out []provenance.Artifact
	if sum, err := fileSHA256(filepath.Join(module, "go.sum")); err == nil {
		out = append(out, provenance.Artifact{Name: "go.sum", SHA256: sum})
	}
	rootfs := filepath.Join(contextDir, "rootfs")
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		sum, err := fileSHA256(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(rootfs, p)
		out = append(out, provenance.Artifact{Name: "/" + filepath.ToSlash(rel), SHA256: sum})
		return nil
	})
	return out, err
}

// dirty says whether the checkout had changes not committed: the go
// command's own stamp when it made one, else git's status; nil outside git.
func dirty(pv Provenance, bi *debug.BuildInfo) *bool {
	for _, s := range bi.Settings {
		if s.Key == "vcs.modified" {
			d := s.Value == "true"
			return &d
		}
	}
	if pv.Commit == "" {
		return nil
	}
	out, err := exec.Command("git", "-C", pv.Dir, "status", "--porcelain").Output()
	if err != nil {
		return nil
	}
	d := len(strings.TrimSpace(string(out))) > 0
	return &d
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
