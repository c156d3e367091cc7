package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/manifests"
)

// MergeOptions are what merge reads: where the index goes, its platforms
// in order, and the per-platform jobs' output folders.
type MergeOptions struct {
	Push      string // registry/repository:tag
	Platforms []config.Platform
	Folders   []string
	Dist      string // where the merged push is recorded
}

// MergeOptionsOf translates c's settings for merge.
func MergeOptionsOf(c *config.Config) MergeOptions {
	o := MergeOptions{Push: c.Push, Platforms: c.Platforms, Dist: c.Dist}
	for _, f := range c.Merge {
		if !filepath.IsAbs(f) {
			f = filepath.Join(c.Dir, f)
		}
		o.Folders = append(o.Folders, f)
	}
	return o
}

// part is what one per-platform job pushed: its folder, and its index's
// entries.
type part struct {
	folder  string
	pushed  manifests.Pushed
	entries []v1.Descriptor
	index   *v1.IndexManifest
}

// Merge joins the images that per-platform jobs pushed by digest (each
// recorded in its folder's pushed.json) into one index, made as a
// one-machine build of those platforms makes it (newIndex), so its digest
// is the same; pushes it to o.Push's tag (the images are in the registry
// already: only the index is uploaded); and records the push in o.Dist for
// resolve.
func Merge(ctx context.Context, o MergeOptions, out io.Writer) (v1.Hash, error) {
	if len(o.Folders) == 0 {
		return v1.Hash{}, fmt.Errorf("merge: SLIMAGE_MERGE names no folders: list the output folders of the per-platform jobs")
	}
	if o.Push == "" {
		return v1.Hash{}, fmt.Errorf("merge: SLIMAGE_PUSH is not set: name the repository and tag of the merged index")
	}
	repo := repositoryOf(o.Push)
	var parts []part
	for _, f := range o.Folders {
		p, err := readPart(f, repo)
		if err != nil {
			return v1.Hash{}, err
		}
		parts = append(parts, p)
	}
	byPlatform := map[string]v1.Descriptor{}
	from := map[string]string{}
	for _, p := range parts {
		if !maps.Equal(p.index.Annotations, parts[0].index.Annotations) {
			return v1.Hash{}, fmt.Errorf("merge: %s and %s come from different builds (their indexes' annotations differ: %s): merge the jobs of one commit", human.Path(parts[0].folder), human.Path(p.folder), annotationDiff(parts[0].index.Annotations, p.index.Annotations))
		}
		for _, d := range p.entries {
			key := platformOf(d)
			if other, dup := from[key]; dup {
				return v1.Hash{}, fmt.Errorf("merge: %s and %s both pushed %s: give each platform one job", human.Path(other), human.Path(p.folder), key)
			}
			byPlatform[key], from[key] = d, p.folder
		}
	}
	var entries []indexEntry
	var platforms []string
	for _, pl := range o.Platforms {
		d, ok := byPlatform[pl.String()]
		if !ok {
			return v1.Hash{}, fmt.Errorf("merge: no job pushed %s, which SLIMAGE_PLATFORMS lists: add its job's folder to SLIMAGE_MERGE, or drop it from SLIMAGE_PLATFORMS", pl)
		}
		delete(byPlatform, pl.String())
		ref, err := name.NewDigest(repo + "@" + d.Digest.String())
		if err != nil {
			return v1.Hash{}, err
		}
		img, err := remote.Image(ref, pushOptions(ctx)...)
		if err != nil {
			return v1.Hash{}, pushError(ctx, ref, "", err)
		}
		entries = append(entries, indexEntry{image: img, platform: pl, context: d.Annotations[ContextLabel]})
		platforms = append(platforms, pl.String())
	}
	if len(byPlatform) > 0 {
		extra := slices.Sorted(maps.Keys(byPlatform))
		return v1.Hash{}, fmt.Errorf("merge: %s pushed %s, which SLIMAGE_PLATFORMS does not list: list every platform of the release there, in the order of the index", human.Path(from[extra[0]]), strings.Join(extra, ", "))
	}
	idx := newIndex(entries, parts[0].index.Annotations)
	digest, err := Push(ctx, idx, o.Push)
	if err != nil {
		return v1.Hash{}, err
	}
	index, err := idx.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	data, err := json.Marshal(manifests.Pushed{Ref: o.Push, Digest: digest.String(), Index: index})
	if err != nil {
		return v1.Hash{}, err
	}
	if err := os.MkdirAll(o.Dist, 0o755); err != nil {
		return v1.Hash{}, err
	}
	record := filepath.Join(o.Dist, config.PushedRecord)
	if err := atomicfile.Write(record, append(data, '\n'), 0o644); err != nil {
		return v1.Hash{}, fmt.Errorf("merge: record the push in %s: %w", human.Path(record), err)
	}
	fmt.Fprintf(out, "merge %s@%s  %s, from %d jobs\n", o.Push, digest, strings.Join(platforms, ", "), len(parts))
	return digest, nil
}

// readPart reads what the job whose output folder is f pushed, and checks
// that it is a by-digest push to repo, whole.
func readPart(f, repo string) (part, error) {
	p := part{folder: f}
	var err error
	if p.pushed, err = manifests.ReadPushed(f); err != nil {
		return p, fmt.Errorf("merge: read %s: %v: name the output folder of a job that pushed with SLIMAGE_PUSH_BY_DIGEST=true", human.Path(filepath.Join(f, config.PushedRecord)), err)
	}
	switch {
	case len(p.pushed.Index) == 0:
		return p, fmt.Errorf("merge: %s records no index: push that job again with this slimage", human.Path(f))
	case !p.pushed.ByDigest:
		return p, fmt.Errorf("merge: %s's job pushed to the tag %s, not by digest: set SLIMAGE_PUSH_BY_DIGEST=true in the per-platform jobs", human.Path(f), p.pushed.Ref)
	case repositoryOf(p.pushed.Ref) != repo:
		return p, fmt.Errorf("merge: %s's job pushed to %s, and the merged index goes to %s: push every platform to the repository the index goes to", human.Path(f), repositoryOf(p.pushed.Ref), repo)
	}
	if h, _, err := v1.SHA256(bytes.NewReader(p.pushed.Index)); err != nil || h.String() != p.pushed.Digest {
		return p, fmt.Errorf("merge: %s: its index is not the digest it records (%s): the record was edited; push that job again", human.Path(f), p.pushed.Digest)
	}
	if p.index, err = v1.ParseIndexManifest(bytes.NewReader(p.pushed.Index)); err != nil {
		return p, fmt.Errorf("merge: %s: %v", human.Path(f), err)
	}
	p.entries = p.index.Manifests
	return p, nil
}

// platformOf is an index entry's platform as SLIMAGE_PLATFORMS writes it.
func platformOf(d v1.Descriptor) string {
	if d.Platform == nil {
		return "(no platform)"
	}
	return config.Platform{OS: d.Platform.OS, Arch: d.Platform.Architecture, Variant: d.Platform.Variant}.String()
}

// annotationDiff names the first annotation a and b disagree on.
func annotationDiff(a, b map[string]string) string {
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if a[k] != b[k] {
			return fmt.Sprintf("%s %q against %q", k, a[k], b[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			return fmt.Sprintf("%s only in the second", k)
		}
	}
	return "none"
}
