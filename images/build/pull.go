package build

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/client"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/daemon"
)

// Pulled is one platform's image of a pulled digest, loaded into Docker
// under Tag for verify.
type Pulled struct {
	Platform config.Platform
	Digest   v1.Hash // the platform image's manifest
	Tag      string
}

// PullIntoDocker pulls exactly the bytes at d (an index: each platform's
// image; or one image) and loads each into Docker under a tag of its own,
// which the caller removes (RemovePulled).
func PullIntoDocker(ctx context.Context, cli *client.Client, d name.Digest) ([]Pulled, error) {
	opts := pushOptions(ctx)
	desc, err := remote.Get(d, opts...)
	if err != nil {
		return nil, pullError(ctx, d, err)
	}
	var imgs []v1.Image
	var descs []v1.Descriptor
	switch desc.MediaType {
	case types.OCIImageIndex, types.DockerManifestList:
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, m := range im.Manifests {
			if m.Platform == nil || m.Platform.OS == "unknown" {
				continue // an attestation manifest, not a platform's image
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				return nil, pullError(ctx, d, err)
			}
			imgs, descs = append(imgs, img), append(descs, m)
		}
	default:
		img, err := desc.Image()
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, pullError(ctx, d, err)
		}
		imgs = append(imgs, img)
		descs = append(descs, v1.Descriptor{Digest: desc.Digest, Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}})
	}
	var pulled []Pulled
	for i, img := range imgs {
		p := config.Platform{OS: descs[i].Platform.OS, Arch: descs[i].Platform.Architecture, Variant: descs[i].Platform.Variant}
		tag := fmt.Sprintf("slimage-verify.invalid/pulled:%s-%s", p.DistDir(), strings.TrimPrefix(descs[i].Digest.String(), "sha256:")[:12])
		if err := LoadIntoDocker(ctx, cli, img, tag); err != nil {
			RemovePulled(cli, pulled)
			return nil, fmt.Errorf("load %s %s into Docker: %w", d, p, err)
		}
		pulled = append(pulled, Pulled{Platform: p, Digest: descs[i].Digest, Tag: tag})
	}
	return pulled, nil
}

// RemovePulled removes the tags PullIntoDocker made, and their images.
func RemovePulled(cli *client.Client, pulled []Pulled) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	for _, p := range pulled {
		_, _ = cli.ImageRemove(ctx, p.Tag, client.ImageRemoveOptions{Force: true})
	}
}

// Resolve is the digest ref names in its registry now.
func Resolve(ctx context.Context, ref string) (v1.Hash, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	desc, err := remote.Head(r, pushOptions(ctx)...)
	if err != nil {
		return v1.Hash{}, pullError(ctx, r, err)
	}
	return desc.Digest, nil
}

// pullError is a failed download from r, with the usual fixes.
func pullError(ctx context.Context, r name.Reference, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("pull %s: %s: check that the registry %s answers and that you may pull from it (docker login %s)",
		r, daemon.FirstLine(err), r.Context().RegistryStr(), r.Context().RegistryStr())
}
