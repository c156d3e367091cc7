// Package stage writes a Docker build context to disk: the rendered
// Dockerfile and exactly the files it copies (binary, CA bundle, zone,
// passwd/group, run-time files), checked first and swapped in whole.
package stage

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/probe/report"
	"github.com/slimage/slimage/images/spec"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/zoneinfo"
)

// DataDir is the conventional folder, at the module root, whose contents
// are copied beside the binary (AppDir) with no configuration.
const DataDir = "slimage-data"

// Context is a Docker build context on disk: the Dockerfile and
// exactly the files it copies.
type Context struct {
	Dir        string // dist/image
	Dockerfile string // dist/image/Dockerfile
	Spec       spec.Spec
	BinarySize int64
	Digest     string // of every file's path, mode and content: see Digest
}

// Dir is where the context for p is staged: <dist>/image for a
// single-platform build, <dist>/image-<os>_<arch> for each of several.
func Dir(c *config.Config, p config.Platform) string {
	if len(c.Platforms) <= 1 {
		return filepath.Join(c.Dist, "image")
	}
	return filepath.Join(c.Dist, "image-"+p.DistDir())
}

// Write writes the build context for the binary the build step made for p
// into Dir. Everything is checked and written into a temp folder
// first, which replaces the old context only when complete: a bad input
// leaves the previous context as it was.
func Write(ctx context.Context, c *config.Config, p config.Platform) (*Context, error) {
	in, err := readStageInputs(ctx, c)
	if err != nil {
		return nil, err
	}
	return in.stage(ctx, c, p)
}

// WriteAll stages a context for every platform of c; what they share (CA
// bundle, zone, run-time files, labels) is read and checked once.
func WriteAll(ctx context.Context, c *config.Config) ([]*Context, error) {
	in, err := readStageInputs(ctx, c)
	if err != nil {
		return nil, err
	}
	contexts := make([]*Context, len(c.Platforms))
	for i, p := range c.Platforms {
		if contexts[i], err = in.stage(ctx, c, p); err != nil {
			return nil, err
		}
	}
	return contexts, nil
}

// stageInputs is what every platform's context holds alike.
type stageInputs struct {
	bundle, zone []byte
	zones        map[string][]byte // SLIMAGE_ZONES, by name
	zoneinfoZip  []byte            // SLIMAGE_ZONES=all
	files        []RuntimeFile
	labels       map[string]string
}

func readStageInputs(ctx context.Context, c *config.Config) (*stageInputs, error) {
	in := &stageInputs{labels: Labels(c)}
	var err error
	if in.bundle, err = caBundle(c.CABundle, c.ExtraCA); err != nil {
		return nil, err
	}
	if c.TZ != "" {
		if in.zone, err = zoneinfo.Read(c.GoEnv.GOROOT, c.TZ); err != nil {
			return nil, fmt.Errorf("stage image: SLIMAGE_TZ %w", err)
		}
	}
	if c.AllZones() {
		zip := filepath.Join(c.GoEnv.GOROOT, "lib", "time", "zoneinfo.zip")
		if in.zoneinfoZip, err = os.ReadFile(zip); err != nil {
			return nil, fmt.Errorf("stage image: SLIMAGE_ZONES=all: the Go toolchain's %s is unreadable (%v): reinstall Go, or list the zones", zip, err)
		}
	} else {
		in.zones = map[string][]byte{}
		for _, z := range c.Zones {
			if in.zones[z], err = zoneinfo.Read(c.GoEnv.GOROOT, z); err != nil {
				return nil, fmt.Errorf("stage image: SLIMAGE_ZONES %w", err)
			}
		}
	}
	if in.files, err = RuntimeFiles(c); err != nil {
		return nil, err
	}
	return in, nil
}

// stage writes p's context: the shared inputs plus p's binary.
func (in *stageInputs) stage(ctx context.Context, c *config.Config, p config.Platform) (*Context, error) {
	binary := gobuild.OutputPath(c, p)
	bi, err := os.Stat(binary)
	if err != nil {
		return nil, fmt.Errorf("stage image: binary %s: %w: run the build target first", binary, err)
	}
	sp := spec.Spec{
		Binary: filepath.Base(binary), Title: c.Binary, Version: c.Version, Zone: c.TZ,
		User: c.User, Ports: c.Ports, Args: c.Args, Labels: in.labels, AllZones: in.zoneinfoZip != nil,
	}
	for z := range in.zones {
		sp.Zones = append(sp.Zones, z)
	}
	sort.Strings(sp.Zones)
	for _, f := range in.files {
		sp.Files = append(sp.Files, f.Src+" -> "+f.Dst)
		if f.Dst == sp.BinaryPath() {
			return nil, fmt.Errorf("stage image: run-time file %s would replace the binary at %s: pick another destination", f.Src, f.Dst)
		}
	}
	dockerfile, err := spec.RenderDockerfile(sp)
	if err != nil {
		return nil, err
	}

	final := Dir(c, p)
	inputs := in.digest(dockerfile, binary, bi)
	if rec, ok := readStagedRecord(final); ok && rec.Inputs == inputs {
		if tree, err := treeStamp(final); err == nil && tree == rec.Tree {
			// Nothing that makes the context changed, nor the context:
			// no rewriting, no hashing.
			return &Context{Dir: final, Dockerfile: filepath.Join(final, "Dockerfile"), Spec: sp, BinarySize: bi.Size(), Digest: rec.Digest}, nil
		}
	}
	err = atomicfile.ReplaceDir(final, func(tmp string) error {
		w := stager{root: tmp}
		w.file("Dockerfile", dockerfile, 0o644)
		w.file("rootfs/etc/passwd", []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644)
		w.file("rootfs/etc/group", []byte("root:x:0:\nnonroot:x:65532:\n"), 0o644)
		w.dir("rootfs/tmp", 0o777|fs.ModeSticky)
		w.dir("rootfs"+spec.AppDir, 0o755) // so WORKDIR, before the binary, adds no layer
		w.file("rootfs/etc/ssl/certs/ca-certificates.crt", in.bundle, 0o644)
		if in.zone != nil {
			w.file("rootfs/usr/share/zoneinfo/"+c.TZ, in.zone, 0o644)
			w.file("rootfs/etc/localtime", in.zone, 0o644)
		}
		for z, data := range in.zones {
			w.file("rootfs/usr/share/zoneinfo/"+z, data, 0o644)
		}
		if in.zoneinfoZip != nil {
			w.file("rootfs"+spec.ZoneInfoZip, in.zoneinfoZip, 0o644)
		}
		for _, f := range in.files {
			w.copy(f.Abs, "files"+f.Dst)
		}
		w.link(binary, "bin/"+sp.Binary)
		if w.err != nil {
			return w.err
		}
		return ctx.Err()
	})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("stage image: %w", err)
	}
	digest, err := Digest(final)
	if err != nil {
		return nil, fmt.Errorf("stage image: %w", err)
	}
	if tree, err := treeStamp(final); err == nil {
		writeStagedRecord(final, stagedRecord{Inputs: inputs, Tree: tree, Digest: digest})
	}
	return &Context{Dir: final, Dockerfile: filepath.Join(final, "Dockerfile"), Spec: sp, BinarySize: bi.Size(), Digest: digest}, nil
}

// stagedRecord is what the last staging of a context left beside it: the
// digest of what made it, a stamp of the files it wrote, and its Digest.
type stagedRecord struct {
	Inputs, Tree, Digest string
}

func stagedRecordPath(dir string) string {
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".staged.json")
}

func readStagedRecord(dir string) (stagedRecord, bool) {
	var rec stagedRecord
	data, err := os.ReadFile(stagedRecordPath(dir))
	return rec, err == nil && json.Unmarshal(data, &rec) == nil
}

func writeStagedRecord(dir string, rec stagedRecord) {
	if data, err := json.Marshal(rec); err == nil {
		_ = atomicfile.Write(stagedRecordPath(dir), data, 0o644) // a missing record only costs a restaging
	}
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
		data, _ := os.ReadFile(f.Abs)
		put("file "+f.Src+" "+f.Dst, data)
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

// caBundle reads the image's CA bundle: SLIMAGE_CA_BUNDLE, or the host's
// found the way Go finds it (SSL_CERT_FILE, else the first existing file of
// report.CertFiles), with each SLIMAGE_EXTRA_CA file appended.
func caBundle(explicit string, extra []string) ([]byte, error) {
	var candidates []string
	setting := "SLIMAGE_CA_BUNDLE"
	switch {
	case explicit != "":
		candidates = []string{explicit}
	case os.Getenv("SSL_CERT_FILE") != "":
		candidates, setting = []string{os.Getenv("SSL_CERT_FILE")}, "SSL_CERT_FILE"
	default:
		candidates, setting = report.CertFiles, ""
	}
	var bundle []byte
	var from string
	for _, p := range candidates {
		data, err := os.ReadFile(p)
		if err == nil {
			bundle, from = data, p
			break
		}
		if setting != "" {
			return nil, fmt.Errorf("stage image: %s %s: %v: point it at a PEM CA bundle", setting, p, errors.Unwrap(err))
		}
	}
	if bundle == nil {
		return nil, fmt.Errorf("stage image: no CA bundle found (looked at %s): install your distribution's ca-certificates, or set SLIMAGE_CA_BUNDLE to a PEM bundle", strings.Join(candidates, ", "))
	}
	if n := countCerts(bundle); n == 0 {
		return nil, fmt.Errorf("stage image: CA bundle %s holds no PEM certificate: set SLIMAGE_CA_BUNDLE to a PEM bundle", from)
	}
	more, err := extraCerts(extra)
	if err != nil {
		return nil, err
	}
	return appendPEM(bundle, more), nil
}

// appendPEM appends PEM text to a bundle, on a line of its own.
func appendPEM(bundle, more []byte) []byte {
	if len(more) > 0 && len(bundle) > 0 && bundle[len(bundle)-1] != '\n' {
		bundle = append(bundle, '\n')
	}
	return append(bundle, more...)
}

// extraCerts reads and checks the SLIMAGE_EXTRA_CA files, one after another.
func extraCerts(extra []string) ([]byte, error) {
	var certs []byte
	for _, p := range extra {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("stage image: SLIMAGE_EXTRA_CA %s: %v: give readable PEM files, ':'-separated", p, errors.Unwrap(err))
		}
		if err := checkPEMCerts(data); err != nil {
			return nil, fmt.Errorf("stage image: SLIMAGE_EXTRA_CA %s: %v: give PEM-encoded CA certificates (-----BEGIN CERTIFICATE-----)", p, err)
		}
		certs = appendPEM(certs, data)
	}
	return certs, nil
}

// MultistageTrust is what the settings give the multistage image's CA
// bundle, which otherwise is the builder image's: with SLIMAGE_CA_BUNDLE
// the whole bundle (its extra certificates appended), replacing the
// builder's; with SLIMAGE_EXTRA_CA alone, the certificates to append to the
// builder's; nil when neither is set.
func MultistageTrust(c *config.Config) (certs []byte, replaces bool, err error) {
	switch {
	case c.CABundle != "":
		certs, err = caBundle(c.CABundle, c.ExtraCA)
		return certs, true, err
	case len(c.ExtraCA) > 0:
		certs, err = extraCerts(c.ExtraCA)
		return certs, false, err
	}
	return nil, false, nil
}

func countCerts(data []byte) int {
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return n
		}
		if b.Type == "CERTIFICATE" {
			n++
		}
	}
}

// checkPEMCerts accepts only PEM CERTIFICATE blocks that parse as X.509.
func checkPEMCerts(data []byte) error {
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a %s block, not a certificate", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("no PEM certificate in it")
	}
	return nil
}

// RuntimeFile is one file copied into the image: its source as the user
// named it, its absolute path, and its destination in the image.
type RuntimeFile struct{ Src, Abs, Dst string }

// RuntimeFiles lists SLIMAGE_FILES and the slimage-data/ folder's files,
// checking each source exists.
func RuntimeFiles(c *config.Config) ([]RuntimeFile, error) {
	var out []RuntimeFile
	for _, f := range c.Files {
		src, dst, _ := strings.Cut(f, ":")
		abs := src
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(c.Dir, src)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("stage image: SLIMAGE_FILES source %s (%s) does not exist: fix the path, relative to %s", src, abs, c.Dir)
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("stage image: SLIMAGE_FILES source %s is a folder: list its files, or put them in %s/", src, DataDir)
		}
		out = append(out, RuntimeFile{Src: src, Abs: abs, Dst: path.Clean(dst)})
	}
	data := filepath.Join(c.Dir, DataDir)
	err := filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(data, p)
		out = append(out, RuntimeFile{Src: filepath.ToSlash(filepath.Join(DataDir, rel)), Abs: p, Dst: path.Join(spec.AppDir, filepath.ToSlash(rel))})
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stage image: read %s: %w", data, err)
	}
	return out, nil
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
	created, ok := c.Git.CommitTime, c.Git.Revision != ""
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		created, ok = sec, err == nil
	}
	if ok {
		l["org.opencontainers.image.created"] = time.Unix(created, 0).UTC().Format(time.RFC3339)
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
