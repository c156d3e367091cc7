package build

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/provenance"
	"github.com/slimage/slimage/images/sbom"
	"github.com/slimage/slimage/images/stage"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/outdir"
	"github.com/slimage/slimage/manifests"
)

// defaultPath is the PATH Docker's builder gives a FROM scratch image; the
// OCI builder sets the same so both builders make the same config.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// OCIImage assembles, without a daemon, the image the Dockerfile in sc
// describes: the same layers (rootfs/, files/, the binary), the same config.
// Everything comes from the staged files and the spec, and every time is
// the image's created time, so the same context gives the same digest.
func OCIImage(sc *stage.Context, p config.Platform) (v1.Image, error) {
	img, _, err := ociImages(sc, p)
	return img, err
}

// ociImages is OCIImage and the same image as Docker's load takes it
// fastest: the same config (so the same image ID) over the layers' tars,
// loaded while the gzip the layout needs is still being made.
func ociImages(sc *stage.Context, p config.Platform) (img, load v1.Image, err error) {
	s := sc.Spec
	created := sc.Created()
	env := append([]string{defaultPath}, s.Env()...)
	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	ports := map[string]struct{}{}
	for _, port := range s.Ports {
		ports[port] = struct{}{}
	}
	cfg := &v1.ConfigFile{
		Architecture: p.Arch, OS: p.OS, Variant: p.Variant,
		Created: v1.Time{Time: created},
		Config: v1.Config{
			User: s.User, Env: env, Entrypoint: s.Entrypoint(), Cmd: s.Args,
			WorkingDir: s.WorkDir(), Labels: labels, ExposedPorts: ports,
		},
	}
	if len(ports) == 0 {
		cfg.Config.ExposedPorts = nil
	}
	img, err = mutate.ConfigFile(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), cfg)
	if err != nil {
		return nil, nil, err
	}
	load = img
	type step struct {
		src, dst, createdBy string
	}
	steps := []step{{"rootfs", "/", "COPY rootfs/ /"}}
	if len(s.Files) > 0 {
		steps = append(steps, step{"files", "/", "COPY files/ /"})
	}
	steps = append(steps, step{"bin/" + s.Binary, s.BinaryPath(), "COPY bin/" + s.Binary + " " + s.BinaryPath()})
	for _, st := range steps {
		data, err := layerTar(filepath.Join(sc.Dir, filepath.FromSlash(st.src)), st.dst, created)
		if err != nil {
			return nil, nil, fmt.Errorf("layer %s: %w", st.src, err)
		}
		layer := newMemLayer(data)
		history := v1.History{Created: v1.Time{Time: created}, CreatedBy: st.createdBy, Comment: "slimage"}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: history}); err != nil {
			return nil, nil, err
		}
		if load, err = mutate.Append(load, mutate.Addendum{Layer: tarLayer{layer}, MediaType: types.OCIUncompressedLayer, History: history}); err != nil {
			return nil, nil, err
		}
	}
	return img, load, nil
}

// layerTar writes what `COPY src dst` adds, as Docker's builder lays it
// out: a folder's entries below dst (not dst itself), or one file with its
// parent folders. Entries are sorted; owners are root; times are created.
func layerTar(src, dst string, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	header := func(name string, info fs.FileInfo) (*tar.Header, error) {
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return nil, err
		}
		h.Name, h.Uid, h.Gid, h.Uname, h.Gname = name, 0, 0, "", ""
		h.ModTime, h.AccessTime, h.ChangeTime = created, time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		h.PAXRecords = nil
		return h, nil
	}
	write := func(name, file string, info fs.FileInfo) error {
		h, err := header(name, info)
		if err != nil {
			return err
		}
		if info.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	}
	info, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		buf.Grow(int(info.Size()) + 16<<10) // the binary: one allocation, not a dozen doublings
		// Parent folders of a single file are created 0755, as Docker does.
		dir := strings.Trim(path.Dir(dst), "/")
		var parents []string
		for d := dir; d != "" && d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: created, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		if err := write(strings.TrimPrefix(dst, "/"), src, info); err != nil {
			return nil, err
		}
		// Close first: it writes the last entry's padding and the archive's end.
		err := tw.Close()
		return buf.Bytes(), err
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == src {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		return write(path.Join(strings.TrimPrefix(dst, "/"), filepath.ToSlash(rel)), p, info)
	})
	if err != nil {
		return nil, err
	}
	err = tw.Close()
	return buf.Bytes(), err
}

// OCIPlatformImage is one platform of an OCI build.
type OCIPlatformImage struct {
	Platform config.Platform
	Image    v1.Image
	Context  *stage.Context
	load     v1.Image // Image as Docker's load takes it fastest, when just assembled
}

// forLoad is what LoadIntoDocker gets: the tars of a just assembled image,
// else the image itself (read back from the layout).
func (pi OCIPlatformImage) forLoad() v1.Image {
	if pi.load != nil {
		return pi.load
	}
	return pi.Image
}

// BuildOCIIndex stages a context per platform, puts them in place, and
// assembles each image and an OCI image index over them: the OCI builder's
// first steps, for tests and benchmarks.
func BuildOCIIndex(ctx context.Context, c *config.Config) (v1.ImageIndex, []OCIPlatformImage, error) {
	o, err := OptionsOf(c)
	if err != nil {
		return nil, nil, err
	}
	u := outdir.NewUpdate(o.Dist)
	defer u.Discard()
	contexts, err := stage.WriteAll(ctx, o.Stage, u)
	if err != nil {
		return nil, nil, err
	}
	if err := u.Commit(); err != nil {
		return nil, nil, err
	}
	for _, sc := range contexts {
		sc.Dir = sc.Final
	}
	return assembleIndex(o, contexts)
}

// ociResult is what the OCI builder's steps hand forward.
type ociResult struct {
	dir       string // dist/oci
	idx       v1.ImageIndex
	imgs      []OCIPlatformImage
	unchanged bool // the layout in place holds these images (and, once attested, these referrers)
	refs      []referrer
	digest    v1.Hash // the index's
}

// assembleImages is the step that makes each platform's image and their
// index from the staged contexts, unless the layout in place holds them.
func assembleImages(ctx context.Context, r *imageRun) (err error) {
	o := r.oci
	if o.idx, o.imgs, o.unchanged = reuseLayout(o.dir, r.o, r.contexts); !o.unchanged {
		o.idx, o.imgs, err = assembleIndex(r.o, r.contexts)
	}
	return err
}

// loadIntoDocker is the step that gives Docker each platform's image,
// without its tag (the commit tags it), unless its tag names it already.
func loadIntoDocker(ctx context.Context, r *imageRun) error {
	if r.cli == nil {
		return nil // no engine: the layout is still written and pushed
	}
	for i, t := range r.tags {
		img := r.oci.imgs[i].forLoad()
		id, err := img.ConfigName()
		if err != nil {
			return err
		}
		b := Built{Ref: t.Ref, Platform: t.Platform, ID: id.String()}
		if prev, err := r.cli.ImageInspect(ctx, t.Ref); err == nil && prev.ID == b.ID {
			b.Unchanged, b.Size = true, prev.Size
			r.built = append(r.built, b)
			continue
		}
		got, err := r.cli.ImageInspect(ctx, b.ID)
		if err != nil || got.ID != b.ID { // not in Docker yet, under any name
			if err := LoadIntoDocker(ctx, r.cli, img, ""); err != nil {
				return fmt.Errorf("load %s: %w", t.Ref, err)
			}
			b.loaded = true
			if got, err = r.cli.ImageInspect(ctx, b.ID); err != nil {
				return fmt.Errorf("load %s: Docker does not show image %s after loading it: %s", t.Ref, shortID(b.ID), daemon.FirstLine(err))
			}
		}
		b.Size = got.Size
		r.built = append(r.built, b)
	}
	return nil
}

// attest is the step that makes each platform's SBOM and provenance and
// the referrers that attach them to its manifest.
func attest(ctx context.Context, r *imageRun) error {
	o := r.oci
	for i, pi := range o.imgs {
		subject, err := partial.Descriptor(pi.Image)
		if err != nil {
			return err
		}
		docs, err := attestationDocs(r.o, pi.Platform, pi.Context, provenance.Artifact{Name: r.tags[i].Ref, SHA256: subject.Digest.Hex})
		if err != nil {
			return err
		}
		r.attestations = append(r.attestations, Attestation{Platform: pi.Platform, docs: docs})
		about := v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest}
		for _, d := range []struct {
			kind, artifactType string
			doc                []byte
		}{{"sbom", sbom.MediaType, docs.sbom}, {"provenance", provenance.MediaType, docs.provenance}} {
			ref, err := newReferrer(d.kind, d.artifactType, d.doc, about)
			if err != nil {
				return err
			}
			o.refs = append(o.refs, ref)
		}
	}
	return nil
}

// writeOCILayout is the step that writes the run's dist/oci, unless the
// layout in place holds this index and these referrers.
func writeOCILayout(ctx context.Context, r *imageRun) (err error) {
	o := r.oci
	if !o.unchanged || !sameReferrers(o.dir, o.refs) {
		o.unchanged = false
		dir, err := r.u.Dir(config.OCIFolder)
		if err != nil {
			return fmt.Errorf("write OCI layout: %w", r.u.Explain(err))
		}
		if err := WriteLayout(o.idx, dir, refTag(r.o.Image), o.refs...); err != nil {
			return fmt.Errorf("write OCI layout %s: %w", human.Path(o.dir), r.u.Explain(err))
		}
	}
	o.digest, err = o.idx.Digest()
	return err
}

// pushIndex is the step that pushes the index, its images and their
// referrers to SLIMAGE_PUSH.
func pushIndex(ctx context.Context, r *imageRun) error {
	o := r.oci
	to := r.o.Push
	if r.o.PushByDigest {
		// One platform's job of a split build: the tag is merge's to move.
		to = repositoryOf(r.o.Push) + "@" + o.digest.String()
	}
	if _, err := Push(ctx, o.idx, to); err != nil {
		return err
	}
	if r.o.PushByDigest {
		fmt.Fprintf(r.out, "push %s by digest (the tag %s is left to merge)\n", to, refTag(r.o.Push))
	} else {
		fmt.Fprintf(r.out, "push %s@%s\n", r.o.Push, o.digest)
	}
	if err := pushReferrers(ctx, r.o.Push, o.refs, r.out); err != nil {
		return err
	}
	// What resolve puts in the manifests, committed with the outputs.
	rec, err := r.u.File(config.PushedRecord)
	if err == nil {
		var data []byte
		var index []byte
		if index, err = o.idx.RawManifest(); err == nil {
			data, err = json.Marshal(manifests.Pushed{Ref: r.o.Push, Digest: o.digest.String(), ByDigest: r.o.PushByDigest, Index: index})
		}
		if err == nil {
			err = os.WriteFile(rec, append(data, '\n'), 0o644)
		}
	}
	if err != nil {
		return fmt.Errorf("record the push: %w", r.u.Explain(err))
	}
	r.pushed = true
	return nil
}

func assembleIndex(o Options, contexts []*stage.Context) (v1.ImageIndex, []OCIPlatformImage, error) {
	var imgs []OCIPlatformImage
	for i, p := range o.Platforms {
		sc := contexts[i]
		img, load, err := ociImages(sc, p)
		if err != nil {
			return nil, nil, fmt.Errorf("build image %s %s: %w", o.Image, p, err)
		}
		img = mutate.Annotations(img, standardAnnotations(sc.Spec.Labels)).(v1.Image)
		imgs = append(imgs, OCIPlatformImage{Platform: p, Image: img, Context: sc, load: load})
	}
	return indexOf(imgs), imgs, nil
}

// indexOf is the image index over imgs: each entry carries its platform
// and context digest, the index the standard labels as annotations.
func indexOf(imgs []OCIPlatformImage) v1.ImageIndex {
	entries := make([]indexEntry, len(imgs))
	for i, pi := range imgs {
		entries[i] = indexEntry{image: pi.Image, platform: pi.Platform, context: pi.Context.Digest}
	}
	return newIndex(entries, standardAnnotations(imgs[0].Context.Spec.Labels))
}

// indexEntry is one platform's image in an index, and the digest of the
// context it was built from.
type indexEntry struct {
	image    v1.Image
	platform config.Platform
	context  string
}

// newIndex is the one way slimage makes an index, whether one machine
// built every platform or merge joins what several pushed: the same
// images and annotations give the same bytes, so the same digest.
func newIndex(entries []indexEntry, annotations map[string]string) v1.ImageIndex {
	var adds []mutate.IndexAddendum
	for _, e := range entries {
		p := e.platform
		adds = append(adds, mutate.IndexAddendum{Add: e.image, Descriptor: v1.Descriptor{
			MediaType:   types.OCIManifestSchema1,
			Platform:    &v1.Platform{OS: p.OS, Architecture: p.Arch, Variant: p.Variant},
			Annotations: map[string]string{ContextLabel: e.context},
		}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	return mutate.Annotations(idx, annotations).(v1.ImageIndex)
}

// repositoryOf is ref without its tag or digest: registry/repository.
func repositoryOf(ref string) string {
	if r, err := name.ParseReference(ref); err == nil {
		return r.Context().String()
	}
	return ref
}

// standardAnnotations are the labels under org.opencontainers.image.*,
// which the OCI path also sets as annotations on each manifest and on the
// index, where registries and tools look for them.
func standardAnnotations(labels map[string]string) map[string]string {
	a := map[string]string{}
	for k, v := range labels {
		if strings.HasPrefix(k, "org.opencontainers.image.") {
			a[k] = v
		}
	}
	return a
}

// refTag is the tag of an image reference ("v1.2.3" of "acme/api:v1.2.3"),
// the org.opencontainers.image.ref.name of the layout's index entry.
func refTag(ref string) string {
	if t, err := name.NewTag(ref); err == nil {
		return t.TagStr()
	}
	return ""
}

// reuseLayout returns the index at dir when it holds, platform for
// platform and nothing else, the images of exactly these contexts (the
// index's entries carry the context digests): then nothing needs
// assembling.
func reuseLayout(dir string, o Options, contexts []*stage.Context) (v1.ImageIndex, []OCIPlatformImage, bool) {
	idx, err := LayoutIndex(dir)
	if err != nil {
		return nil, nil, false
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != len(contexts) {
		return nil, nil, false
	}
	var imgs []OCIPlatformImage
	for i, desc := range m.Manifests {
		p := o.Platforms[i]
		if desc.Platform == nil || desc.Platform.OS != p.OS || desc.Platform.Architecture != p.Arch || desc.Platform.Variant != p.Variant {
			return nil, nil, false
		}
		if desc.Annotations[ContextLabel] != contexts[i].Digest {
			return nil, nil, false
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return nil, nil, false
		}
		imgs = append(imgs, OCIPlatformImage{Platform: p, Image: img, Context: contexts[i]})
	}
	return idx, imgs, true
}

// LayoutIndex is the image index in the OCI layout at dir: the entry of
// its index.json that is an image index (the others are the referrers).
func LayoutIndex(dir string) (v1.ImageIndex, error) {
	root, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	m, err := root.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.MediaType == types.OCIImageIndex && d.ArtifactType == "" {
			return root.ImageIndex(d.Digest)
		}
	}
	return nil, fmt.Errorf("read OCI layout %s: its index.json lists no image index: delete the folder, the next mage image writes it again", dir)
}

// WriteLayout writes an OCI image layout into dir (missing or empty)
// whose index.json lists idx (named tag by its
// org.opencontainers.image.ref.name) and the referrers.
func WriteLayout(idx v1.ImageIndex, dir, tag string, refs ...referrer) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	var opts []layout.Option
	if tag != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
	}
	if err := p.AppendIndex(idx, opts...); err != nil {
		return err
	}
	return addReferrers(dir, refs)
}

// PlatformTag is the local Docker tag of platform p of an OCI build: the
// configured reference for the host platform, <ref>-<os>_<arch> for others.
func PlatformTag(ref string, p config.Platform, host string) string {
	if p.OS+"/"+p.Arch == host && p.Variant == "" {
		return ref
	}
	return ref + "-" + p.DistDir()
}

// LoadIntoDocker loads img into the daemon (docker load's format,
// streamed), as tag, or with no tag for "" (it is then known by its ID).
func LoadIntoDocker(ctx context.Context, cli *client.Client, img v1.Image, tag string) error {
	var ref name.Reference
	if tag != "" {
		t, err := name.NewTag(tag)
		if err != nil {
			return fmt.Errorf("load %s: %w", tag, err)
		}
		ref = t
	} else {
		// A digest reference writes no RepoTags: Docker loads the image
		// by its ID alone.
		d, err := img.Digest()
		if err != nil {
			return err
		}
		ref, _ = name.NewDigest("slimage.invalid/untagged@" + d.String())
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(ref, img, pw)) }()
	defer pr.Close()
	res, err := cli.ImageLoad(ctx, pr, client.ImageLoadWithQuiet(true))
	if err == nil {
		defer res.Close()
		// A load that fails part way still answers 200: its error is in
		// the stream.
		err = jsonmessage.DisplayJSONMessagesStream(res, io.Discard, 0, false, nil)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("load into Docker: %s", daemon.FirstLine(err))
	}
	return nil
}

// Push writes the index and its images to ref, with credentials from the
// Docker config (as docker login left them), and returns the index digest.
func Push(ctx context.Context, idx v1.ImageIndex, ref string) (v1.Hash, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %v: write registry/repository[:tag]", ref, err)
	}
	if err := remote.WriteIndex(r, idx, pushOptions(ctx)...); err != nil {
		return v1.Hash{}, pushError(ctx, r, "", err)
	}
	return idx.Digest()
}

// pushOptions are how every upload reaches the registry: with the
// credentials docker login left (credential helpers included).
func pushOptions(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
}

// pushError is a failed upload to r (of what, if not the index), with the
// usual fixes.
func pushError(ctx context.Context, r name.Reference, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("push %s%s: %s: check that the registry %s answers and that you may push there (docker login %s)",
		r, what, daemon.FirstLine(err), r.Context().RegistryStr(), r.Context().RegistryStr())
}
