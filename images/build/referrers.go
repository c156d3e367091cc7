package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// referrer is an OCI 1.1 artifact about an image: a manifest whose
// subject is the image's manifest, whose artifactType says what it holds
// (an SBOM, a provenance), with the document as its one layer and the empty
// config. Registries list it under the image's referrers; in a layout it is
// an entry of index.json.
type referrer struct {
	kind     string // "sbom" or "provenance", for the output
	manifest []byte
	desc     v1.Descriptor
	subject  v1.Hash
	blobs    []blob
}

type blob struct {
	mediaType types.MediaType
	data      []byte
}

var emptyConfig = []byte("{}")

func newReferrer(kind, artifactType string, doc []byte, subject v1.Descriptor) (referrer, error) {
	cfg := descriptorOf(types.OCIEmptyJSON, emptyConfig)
	layer := descriptorOf(types.MediaType(artifactType), doc)
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: artifactType,
		Config: cfg, Layers: []v1.Descriptor{layer}, Subject: &subject}
	raw, err := json.Marshal(m)
	if err != nil {
		return referrer{}, err
	}
	desc := descriptorOf(types.OCIManifestSchema1, raw)
	desc.ArtifactType = artifactType
	return referrer{kind: kind, manifest: raw, desc: desc, subject: subject.Digest,
		blobs: []blob{{types.OCIEmptyJSON, emptyConfig}, {types.MediaType(artifactType), doc}}}, nil
}

func descriptorOf(mt types.MediaType, data []byte) v1.Descriptor {
	sum := sha256.Sum256(data)
	return v1.Descriptor{MediaType: mt, Size: int64(len(data)), Digest: sha256Hash(sum[:])}
}

// addReferrers writes the referrers' blobs into the layout at dir and lists
// their manifests in its index.json.
func addReferrers(dir string, refs []referrer) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		return err
	}
	for _, r := range refs {
		for _, b := range r.blobs {
			if err := p.WriteBlob(descriptorOf(b.mediaType, b.data).Digest, io.NopCloser(bytes.NewReader(b.data))); err != nil {
				return err
			}
		}
		if err := p.WriteBlob(r.desc.Digest, io.NopCloser(bytes.NewReader(r.manifest))); err != nil {
			return err
		}
		if err := p.AppendDescriptor(r.desc); err != nil {
			return err
		}
	}
	return nil
}

// layoutReferrers are the artifact entries of the layout's index.json.
func layoutReferrers(dir string) map[v1.Hash]bool {
	out := map[v1.Hash]bool{}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return out
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return out
	}
	for _, d := range m.Manifests {
		if d.ArtifactType != "" {
			out[d.Digest] = true
		}
	}
	return out
}

// sameReferrers says whether the layout at dir lists exactly refs.
func sameReferrers(dir string, refs []referrer) bool {
	have := layoutReferrers(dir)
	if len(have) != len(refs) {
		return false
	}
	for _, r := range refs {
		if !have[r.desc.Digest] {
			return false
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", r.desc.Digest.Hex)); err != nil {
			return false
		}
	}
	return true
}

// pushReferrers uploads the referrers to the repository of ref, after the
// images they are about, and prints each one's digest.
func pushReferrers(ctx context.Context, ref string, refs []referrer, out io.Writer) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("push %s: %v", ref, err)
	}
	opts := pushOptions(ctx)
	for _, rf := range refs {
		for _, b := range rf.blobs {
			if err := remote.WriteLayer(r.Context(), static.NewLayer(b.data, b.mediaType), opts...); err != nil {
				return pushError(ctx, r, "'s "+rf.kind, err)
			}
		}
		at := r.Context().Digest(rf.desc.Digest.String())
		if err := remote.Put(at, rawManifest{rf.manifest, rf.desc.MediaType}, opts...); err != nil {
			return pushError(ctx, r, "'s "+rf.kind, err)
		}
		fmt.Fprintf(out, "push %s %s@%s (referrer of %s)\n", rf.kind, r.Context(), rf.desc.Digest, rf.subject)
	}
	return nil
}

// rawManifest is a manifest remote.Put can upload as it is.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }
