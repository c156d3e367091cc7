// Package stage writes a Docker build context to disk: the rendered
// Dockerfile and exactly the files it copies (binary, CA bundle, zone,
// passwd/group, run-time files), checked first and swapped in whole.
package stage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/spec"
	"github.com/slimage/slimage/internal/outdir"
	"github.com/slimage/slimage/internal/trust"
	"github.com/slimage/slimage/internal/userfile"
	"github.com/slimage/slimage/internal/zoneinfo"
)

// Context is a Docker build context on disk: the Dockerfile and
// exactly the files it copies.
type Context struct {
	// Dir is where its files are now: Final, or, for a context this run
	// staged, a folder of the run's outputs.Update until it commits.
	Dir        string
	Final      string // where it is once the run commits: dist/image
	Dockerfile string // Final's Dockerfile, as the user finds it
	Spec       spec.Spec
	BinarySize int64
	Digest     string // of every file's path, mode and content: see Digest
	Staged     bool   // this run staged it (else it was Final already, unchanged)
}

// Dir is where the context for p is staged: <dist>/image for a
// single-platform build, <dist>/image-<os>_<arch> for each of several.
func Dir(c *config.Config, p config.Platform) string { return c.ContextDir(p) }

// Options are what staging reads, translated once from the configuration
// by OptionsOf: the image spec's settings, what goes into the image (the
// trust store's settings, the zones, the run-time files), each platform's
// binary and where its context goes.
type Options struct {
	Dist      string
	Platforms []config.Platform
	Contexts  map[config.Platform]string // where each platform's context goes (Dir)
	Binaries  map[config.Platform]string // what build made, as it said, else where it puts it
	// Spec is the spec's part every platform shares: its title, version,
	// zone, user, ports, arguments and labels.
	Spec     spec.Spec
	Trust    trust.Settings
	GOROOT   string // the toolchain zones are copied from
	Zones    []string
	AllZones bool
	Files    []config.RuntimeFile
}

// OptionsOf translates c's settings for staging.
func OptionsOf(c *config.Config) (Options, error) {
	files, err := c.RuntimeFiles()
	if err != nil {
		return Options{}, err
	}
	o := Options{
		Dist: c.Dist, Platforms: c.Platforms,
		Contexts: map[config.Platform]string{}, Binaries: map[config.Platform]string{},
		Spec: spec.Spec{Title: c.Binary, Version: c.Version, Zone: c.TZ, User: c.User,
			Ports: c.Ports, Args: c.Args, Labels: Labels(c)},
		Trust: c.Trust(), GOROOT: c.GoEnv.GOROOT, Zones: c.Zones, AllZones: c.AllZones(), Files: files,
	}
	for _, p := range c.Platforms {
		o.Contexts[p] = Dir(c, p)
		o.Binaries[p] = gobuild.Made(c, p).Path
	}
	return o, nil
}

// Write stages the context for p and puts it in place at once: for tests
// and tools that stage a context outside an image run.
func Write(ctx context.Context, c *config.Config, p config.Platform) (*Context, error) {
	o, err := OptionsOf(c)
	if err != nil {
		return nil, err
	}
	u := outdir.NewUpdate(o.Dist)
	defer u.Discard()
	in, err := readStageInputs(ctx, o)
	if err != nil {
		return nil, err
	}
	sc, err := in.stage(ctx, o, p, u)
	if err != nil {
		return nil, err
	}
	if err := u.Commit(); err != nil {
		return nil, fmt.Errorf("stage image: %w", err)
	}
	sc.Dir = sc.Final
	return sc, nil
}

// WriteAll stages a context for every platform of o as part of u, the
// image run's update of the output folder; what they share (CA bundle,
// zone, run-time files, labels) is read and checked once. A context whose
// inputs did not change since it was staged is not staged again. The
// contexts of platforms this run does not build (an earlier run's) are
// removed when u commits.
func WriteAll(ctx context.Context, o Options, u *outdir.Update) ([]*Context, error) {
	in, err := readStageInputs(ctx, o)
	if err != nil {
		return nil, err
	}
	contexts := make([]*Context, len(o.Platforms))
	keep := map[string]bool{}
	for i, p := range o.Platforms {
		if contexts[i], err = in.stage(ctx, o, p, u); err != nil {
			return nil, err
		}
		keep[filepath.Base(contexts[i].Final)] = true
	}
	entries, _ := os.ReadDir(o.Dist)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() && (name == "image" || strings.HasPrefix(name, "image-")) && !keep[name] && outdir.Owned(filepath.Join(o.Dist, name)) {
			if err := u.Remove(name); err != nil {
				return nil, err
			}
			u.RemoveFile(stagedRecordName(name))
		}
	}
	return contexts, nil
}

// stageInputs is what every platform's context holds alike.
type stageInputs struct {
	bundle, zone []byte
	zones        map[string][]byte // SLIMAGE_ZONES, by name
	zoneinfoZip  []byte            // SLIMAGE_ZONES=all
	files        []runtimeFile
}

// runtimeFile is a run-time file as read: once, so that what is hashed is
// what is copied.
type runtimeFile struct {
	config.RuntimeFile
	data []byte
	mode fs.FileMode
}

func readStageInputs(ctx context.Context, o Options) (*stageInputs, error) {
	in := &stageInputs{}
	b, err := trust.Read(ctx, o.Trust, time.Now())
	if err != nil {
		return nil, err
	}
	in.bundle = b.PEM
	if o.Spec.Zone != "" {
		if in.zone, err = zoneinfo.Read(o.GOROOT, o.Spec.Zone); err != nil {
			return nil, fmt.Errorf("stage image: SLIMAGE_TZ %w", err)
		}
	}
	if o.AllZones {
		zip := filepath.Join(o.GOROOT, "lib", "time", "zoneinfo.zip")
		if in.zoneinfoZip, err = os.ReadFile(zip); err != nil {
			return nil, fmt.Errorf("stage image: SLIMAGE_ZONES=all: the Go toolchain's %s is unreadable (%v): reinstall Go, or list the zones", zip, err)
		}
	} else {
		in.zones = map[string][]byte{}
		for _, z := range o.Zones {
			if in.zones[z], err = zoneinfo.Read(o.GOROOT, z); err != nil {
				return nil, fmt.Errorf("stage image: SLIMAGE_ZONES %w", err)
			}
		}
	}
	for _, f := range o.Files {
		data, err := userfile.Read(ctx, f.Abs)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("stage image: run-time file %s: %v", f.Src, err)
		}
		mode := fs.FileMode(0o644)
		if fi, err := os.Stat(f.Abs); err == nil && fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		in.files = append(in.files, runtimeFile{RuntimeFile: f, data: data, mode: mode})
	}
	return in, nil
}

// stage writes p's context (the shared inputs plus p's binary) into a
// folder of u, unless the context in place was made of the same inputs.
func (in *stageInputs) stage(ctx context.Context, o Options, p config.Platform, u *outdir.Update) (*Context, error) {
	binary := o.Binaries[p]
	bi, err := os.Stat(binary)
	if err != nil {
		return nil, fmt.Errorf("stage image: binary %s: %w: run the build target first", binary, err)
	}
	sp := o.Spec
	sp.Binary, sp.AllZones, sp.Zones, sp.Files = filepath.Base(binary), in.zoneinfoZip != nil, nil, nil
	for z := range in.zones {
		sp.Zones = append(sp.Zones, z)
	}
	sort.Strings(sp.Zones)
	for _, f := range in.files {
		if !slices.Contains(sp.Files, f.Entry) {
			sp.Files = append(sp.Files, f.Entry)
		}
	}
	dockerfile, err := spec.RenderDockerfile(sp)
	if err != nil {
		return nil, err
	}

	final := o.Contexts[p]
	sc := &Context{Dir: final, Final: final, Dockerfile: filepath.Join(final, "Dockerfile"), Spec: sp, BinarySize: bi.Size()}
	inputs := in.digest(dockerfile, binary, bi)
	if rec, ok := readStagedRecord(final); ok && rec.Inputs == inputs {
		if tree, err := treeStamp(final); err == nil && tree == rec.Tree {
			// Nothing that makes the context changed, nor the context:
			// no rewriting, no hashing.
			sc.Digest = rec.Digest
			return sc, nil
		}
	}
	dir, err := u.Dir(filepath.Base(final))
	if err != nil {
		return nil, fmt.Errorf("stage image: %w", u.Explain(err))
	}
	w := stager{root: dir}
	w.file("Dockerfile", dockerfile, 0o644)
	w.file("rootfs/etc/passwd", []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644)
	w.file("rootfs/etc/group", []byte("root:x:0:\nnonroot:x:65532:\n"), 0o644)
	w.dir("rootfs/tmp", 0o777|fs.ModeSticky)
	w.dir("rootfs"+config.AppDir, 0o755) // so WORKDIR, before the binary, adds no layer
	w.file("rootfs/etc/ssl/certs/ca-certificates.crt", in.bundle, 0o644)
	if in.zone != nil {
		w.file("rootfs/usr/share/zoneinfo/"+sp.Zone, in.zone, 0o644)
		w.file("rootfs/etc/localtime", in.zone, 0o644)
	}
	for z, data := range in.zones {
		w.file("rootfs/usr/share/zoneinfo/"+z, data, 0o644)
	}
	if in.zoneinfoZip != nil {
		w.file("rootfs"+spec.ZoneInfoZip, in.zoneinfoZip, 0o644)
	}
	for _, f := range in.files {
		w.file("files"+f.Dst, f.data, f.mode)
	}
	w.link(binary, "bin/"+sp.Binary)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if w.err != nil {
		return nil, fmt.Errorf("stage image: %w", u.Explain(w.err))
	}
	if sc.Digest, err = Digest(dir); err != nil {
		return nil, fmt.Errorf("stage image: %w", u.Explain(err))
	}
	sc.Dir, sc.Staged = dir, true
	// The record goes in place with the context: a stamp of the files as
	// written (renaming the folder changes none of them).
	if tree, err := treeStamp(dir); err == nil {
		if data, err := json.Marshal(stagedRecord{Inputs: inputs, Tree: tree, Digest: sc.Digest}); err == nil {
			if rec, err := u.File(stagedRecordName(filepath.Base(final))); err == nil {
				_ = os.WriteFile(rec, data, 0o644) // a missing record only costs a restaging
			}
		}
	}
	return sc, nil
}

// stagedRecord is what the last staging of a context left beside it: the
// digest of what made it, a stamp of the files it wrote, and its Digest.
type stagedRecord struct {
	Inputs, Tree, Digest string
}

// stagedRecordName is the record's name beside the context name.
func stagedRecordName(name string) string { return "." + name + ".staged.json" }

func readStagedRecord(dir string) (stagedRecord, bool) {
	var rec stagedRecord
	data, err := os.ReadFile(filepath.Join(filepath.Dir(dir), stagedRecordName(filepath.Base(dir))))
	return rec, err == nil && json.Unmarshal(data, &rec) == nil
}

// digest hashes everything a context is made of: the Dockerfile, the
// shared inputs' bytes, the run-time files' contents, and the binary's
// identity (build keeps an unchanged binary's file, so its size and time
// change only when the binary does).
func (in *stageInputs) digest(dockerfile []byte, binary string, bi fs.FileInfo) string {
	h := sha256.New()
	put := func(name string, data []byte) { fmt.Fprintf(h, "%s %d\n", name, len(data)); h.Write(data) }
	put("Dockerfile", dockerfile)
	put("bundle", in.bundle)
	put("zone", in.zone)
	names := make([]string, 0, len(in.zones))
	for z := range in.zones {
		names = append(names, z)
	}
	sort.Strings(names)
	for _, z := range names {
		put("zone "+z, in.zones[z])
	}
	put("zoneinfo.zip", in.zoneinfoZip)
	for _, f := range in.files {
		put(fmt.Sprintf("file %s %s %v", f.Src, f.Dst, f.mode), f.data)
	}
	fmt.Fprintf(h, "binary %s %d %d\n", binary, bi.Size(), bi.ModTime().UnixNano())
	return hex.EncodeToString(h.Sum(nil))
}

// treeStamp digests the names, modes, sizes and times of the files under
// dir: a context someone changed after staging is staged again.
func treeStamp(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%v %d %d\n", p[len(dir):], fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// Digest hashes what a build context means to the builder: each
// entry's path, type and mode, and each file's content, in path order.
// Times and owners are left out: the staged files are rewritten on every
// run, and the legacy builder ignores both for caching.
func Digest(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\x00%v\x00%d\x00", filepath.ToSlash(rel), info.Mode(), info.Size())
		if d.Type().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// stager writes files under root and keeps the first error.
type stager struct {
	root string
	err  error
}

// Modes are set explicitly (not left to the umask): the legacy builder
// copies them into the image as they are.
func (s *stager) dir(rel string, mode fs.FileMode) {
	p := filepath.Join(s.root, filepath.FromSlash(rel))
	if s.err == nil {
		s.err = os.MkdirAll(p, 0o755)
	}
	if s.err == nil {
		s.err = os.Chmod(p, mode)
	}
}

func (s *stager) file(rel string, data []byte, mode fs.FileMode) {
	p := filepath.Join(s.root, filepath.FromSlash(rel))
	if s.err == nil {
		s.err = os.MkdirAll(filepath.Dir(p), 0o755)
	}
	if s.err == nil {
		s.err = os.WriteFile(p, data, mode)
	}
	if s.err == nil {
		s.err = os.Chmod(p, mode)
	}
}

// link hardlinks src into the context (the binary is large and is replaced,
// never rewritten in place, by the build), copying where a link fails.
func (s *stager) link(src, rel string) {
	p := filepath.Join(s.root, filepath.FromSlash(rel))
	if s.err == nil {
		s.err = os.MkdirAll(filepath.Dir(p), 0o755)
	}
	if s.err == nil && os.Link(src, p) != nil {
		s.copy(src, rel)
	}
}

func (s *stager) copy(src, rel string) {
	if s.err != nil {
		return
	}
	fi, err := os.Stat(src)
	if err != nil {
		s.err = err
		return
	}
	data, err := os.ReadFile(src)
	if err != nil {
		s.err = err
		return
	}
	mode := fs.FileMode(0o644)
	if fi.Mode()&0o111 != 0 {
		mode = 0o755
	}
	s.file(rel, data, mode)
}

// MultistageTrust is what the settings give the multistage image's CA
// bundle, which otherwise is the builder image's: with SLIMAGE_CA_BUNDLE
// the whole bundle (its extra certificates appended), replacing the
// builder's; with SLIMAGE_EXTRA_CA alone, the certificates to append to the
// builder's; nil when neither is set.
func MultistageTrust(ctx context.Context, c *config.Config) (certs []byte, replaces bool, err error) {
	var b *trust.Bundle
	switch {
	case c.CABundle != "":
		b, err = trust.Read(ctx, c.Trust(), time.Now())
		replaces = true
	case len(c.ExtraCA) > 0:
		b, err = trust.ReadExtra(ctx, c.Trust(), time.Now())
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b.PEM, replaces, nil
}

// Labels are the OCI annotations, from the module and the git facts config
// read. "created" is the commit time (or SOURCE_DATE_EPOCH), never "now":
// the same commit gives the same labels, and the image stays cacheable.
func Labels(c *config.Config) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":   c.Binary,
		"org.opencontainers.image.version": c.Version,
	}
	if src := c.Git.Origin; src != "" {
		l["org.opencontainers.image.source"] = src
	} else if first, _, _ := strings.Cut(c.Module.Path, "/"); strings.Contains(first, ".") {
		l["org.opencontainers.image.source"] = "https://" + c.Module.Path
	}
	if c.Git.Revision != "" {
		l["org.opencontainers.image.revision"] = c.Git.Revision
	}
	if created, ok := c.CommitTime(); ok {
		l["org.opencontainers.image.created"] = created.Format(time.RFC3339)
	}
	// The user's: config refused any key of slimage's they did not say
	// should win.
	for _, m := range []map[string]string{c.Labels, c.LabelOverrides} {
		for k, v := range m {
			l[k] = v
		}
	}
	return l
}

// Created is the image's creation time: its created label (the commit time
// or SOURCE_DATE_EPOCH), else the Unix epoch, never "now".
func (sc *Context) Created() time.Time {
	if t, err := time.Parse(time.RFC3339, sc.Spec.Labels["org.opencontainers.image.created"]); err == nil {
		return t.UTC()
	}
	return time.Unix(0, 0).UTC()
}
