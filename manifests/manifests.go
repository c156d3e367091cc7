// Package manifests finds slimage's image references (slimage://<service>)
// in Kubernetes manifests and resolves them to the digests the image step
// pushed, changing no other byte: comments, order, quoting and the rest of
// the YAML stay as they were. It is text, not a YAML round trip, so what
// `kustomize build` or `helm template` wrote comes out as it went in.
package manifests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/outdir"
)

// Scheme starts a manifest's reference to a service's image:
// `image: slimage://api`.
const Scheme = "slimage://"

// Pushed is what an image run pushed.
type Pushed struct {
	Ref    string `json:"ref"`    // registry/repository[:tag], as SLIMAGE_PUSH said
	Digest string `json:"digest"` // the index's: sha256:…
	// ByDigest: the tag was left alone (SLIMAGE_PUSH_BY_DIGEST); Index is
	// the index manifest as pushed, which merge joins with others.
	ByDigest bool            `json:"byDigest,omitempty"`
	Index    json.RawMessage `json:"index,omitempty"`
}

// DigestRef is the reference that names exactly what was pushed:
// registry/repository@sha256:… (the tag dropped: the digest says it all).
func (p Pushed) DigestRef() string {
	repo := p.Ref
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if slash, colon := strings.LastIndex(repo, "/"), strings.LastIndex(repo, ":"); colon > slash {
		repo = repo[:colon]
	}
	return repo + "@" + p.Digest
}

// ReadPushed reads the record of what the image step pushed
// (config.PushedRecord) from dist, a service's output folder.
func ReadPushed(dist string) (Pushed, error) {
	var p Pushed
	data, err := os.ReadFile(filepath.Join(dist, config.PushedRecord))
	if err == nil {
		err = json.Unmarshal(data, &p)
	}
	if err == nil && (p.Ref == "" || !strings.HasPrefix(p.Digest, "sha256:")) {
		err = fmt.Errorf("%s holds no reference and digest", config.PushedRecord)
	}
	return p, err
}

// Pushes are the services of a module, each with the output folder its
// image run recorded its push in.
type Pushes map[string]string

// Lookup is the digest reference of what service's image run pushed.
func (p Pushes) Lookup(service string) (string, error) {
	dist, ok := p[service]
	if !ok {
		var names []string
		for n := range p {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", fmt.Errorf("no service %s here (there are %s): name one of those", service, strings.Join(names, ", "))
	}
	pushed, err := ReadPushed(dist)
	if err != nil {
		return "", fmt.Errorf("service %s has no pushed image (%s: %v): set SLIMAGE_PUSH (or SLIMAGE_REPO) so that mage image pushes it", service, filepath.Join(dist, config.PushedRecord), err)
	}
	return pushed.DigestRef(), nil
}

// Write resolves files with lookup and writes them: to stdout as one YAML
// stream when it is not nil, else into <dist>/manifests/ in their layout,
// written whole and then put in place (never half of them), saying so on
// log.
func Write(files []File, lookup func(string) (string, error), dist string, stdout, log io.Writer) error {
	resolved := make([][]byte, len(files))
	for i, f := range files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", human.Path(f.Path), err)
		}
		if resolved[i], _, err = Resolve(human.Path(f.Path), data, lookup); err != nil {
			return err
		}
	}
	if stdout != nil {
		for i, data := range resolved {
			if i > 0 {
				io.WriteString(stdout, "---\n")
			}
			stdout.Write(data)
			if len(data) > 0 && data[len(data)-1] != '\n' {
				io.WriteString(stdout, "\n")
			}
		}
		return nil
	}
	u := outdir.NewUpdate(dist)
	defer u.Discard()
	dir, err := u.Dir(config.ManifestsFolder)
	if err != nil {
		return fmt.Errorf("resolve: %w", u.Explain(err))
	}
	for i, f := range files {
		out := filepath.Join(dir, f.Rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
			err = os.WriteFile(out, resolved[i], 0o644)
		}
		if err != nil {
			return fmt.Errorf("resolve: %w", u.Explain(err))
		}
	}
	if err := u.Commit(); err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	fmt.Fprintf(log, "resolve %d manifest%s  %s\n", len(files), human.Plural(len(files)), human.Path(filepath.Join(dist, config.ManifestsFolder)))
	return nil
}

// File is one manifest: where it is, and its path under its root (a file
// given itself: its name), which is where the resolved copy goes.
type File struct {
	Path, Rel string
}

// Find lists the YAML files (.yaml, .yml) of paths, files or folders
// (walked), in a stable order. A path that does not exist, or a folder
// without one, is an error naming it.
func Find(paths []string) ([]File, error) {
	var files []File
	seen := map[string]bool{}
	for _, root := range paths {
		fi, err := os.Stat(root)
		if err != nil {
			why := err.Error()
			var pe *fs.PathError
			switch {
			case errors.Is(err, fs.ErrNotExist):
				why = "no such file or folder"
			case errors.As(err, &pe):
				why = pe.Err.Error()
			}
			return nil, fmt.Errorf("read manifests %s: %s: list files or folders of YAML in SLIMAGE_MANIFESTS", human.Path(root), why)
		}
		if !fi.IsDir() {
			if !seen[filepath.Base(root)] {
				seen[filepath.Base(root)] = true
				files = append(files, File{Path: root, Rel: filepath.Base(root)})
				continue
			}
			return nil, fmt.Errorf("read manifests %s: another manifest is named %s too: their resolved copies would collide: list their folder instead", root, filepath.Base(root))
		}
		n := len(files)
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isYAML(p) {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if seen[rel] {
				return fmt.Errorf("read manifests %s: another manifest is at %s under its root too: list one folder that holds both", p, rel)
			}
			seen[rel] = true
			files = append(files, File{Path: p, Rel: rel})
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == n {
			return nil, fmt.Errorf("read manifests %s: no .yaml or .yml file in it", root)
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Rel < files[j].Rel })
	return files, nil
}

func isYAML(p string) bool {
	ext := strings.ToLower(filepath.Ext(p))
	return ext == ".yaml" || ext == ".yml"
}

// reference is a slimage reference's service name: what a binary, and so
// a service, may be called.
var reference = regexp.MustCompile(regexp.QuoteMeta(Scheme) + `([A-Za-z0-9][A-Za-z0-9._-]*)`)

// Resolve returns data, the manifest named name, with every slimage
// reference outside a comment replaced by what lookup gives for its
// service, and the services it named (once each, in order). lookup's
// error fails it, naming the line.
func Resolve(name string, data []byte, lookup func(service string) (string, error)) ([]byte, []string, error) {
	var out strings.Builder
	var named []string
	lines := strings.SplitAfter(string(data), "\n")
	for i, line := range lines {
		code, comment := splitComment(line)
		var err error
		code = reference.ReplaceAllStringFunc(code, func(m string) string {
			svc := strings.TrimPrefix(m, Scheme)
			ref, lerr := lookup(svc)
			if lerr != nil {
				if err == nil {
					err = fmt.Errorf("resolve %s:%d: %s: %w", name, i+1, m, lerr)
				}
				return m
			}
			if !slices.Contains(named, svc) {
				named = append(named, svc)
			}
			return ref
		})
		if err != nil {
			return nil, nil, err
		}
		out.WriteString(code)
		out.WriteString(comment)
	}
	return []byte(out.String()), named, nil
}

// splitComment splits a YAML line where its comment starts: a # at the
// line's start or after white space, outside quotes.
func splitComment(line string) (code, comment string) {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i], line[i:]
		}
	}
	return line, ""
}
