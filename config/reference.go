package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ImageRef is an image reference split the way Docker reads it:
// [domain[:port]/]path[:tag][@digest].
type ImageRef struct {
	Domain string // "" when the reference names none (Docker Hub)
	Path   string
	Tag    string
	Digest string
}

// The grammar of Docker's reference package (distribution/reference),
// written out here so that checking SLIMAGE_IMAGE costs an importer's
// module nothing: the engine, which talks to registries, uses the package
// itself.
var (
	pathComponent   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	domainAndPort   = regexp.MustCompile(`^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)
	tagForm         = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestForm      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$`)
	errNameTooLong  = errors.New("the repository name is longer than 255 characters")
	errNameNotLower = errors.New("the repository name must be lower case")
)

// ParseImageRef checks s against Docker's reference grammar. The first
// path element is a registry when it has a dot or a port, or is localhost,
// as Docker decides.
func ParseImageRef(s string) (ImageRef, error) {
	var r ImageRef
	rest := s
	if i := strings.Index(rest, "@"); i >= 0 {
		rest, r.Digest = rest[:i], rest[i+1:]
		if !digestForm.MatchString(r.Digest) {
			return r, fmt.Errorf("digest %q is not algorithm:hex", r.Digest)
		}
	}
	// A tag follows the last colon, unless that colon is a registry's port.
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		rest, r.Tag = rest[:i], rest[i+1:]
		if !tagForm.MatchString(r.Tag) {
			return r, fmt.Errorf("tag %q is not a valid tag (letters, digits, _ . -, at most 128)", r.Tag)
		}
	}
	if rest == "" {
		return r, errors.New("no repository name")
	}
	if len(rest) > 255 {
		return r, errNameTooLong
	}
	parts := strings.Split(rest, "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		r.Domain, parts = parts[0], parts[1:]
		if !domainAndPort.MatchString(r.Domain) {
			return r, fmt.Errorf("registry %q is not a host[:port]", r.Domain)
		}
	}
	for _, p := range parts {
		if !pathComponent.MatchString(p) {
			if strings.ToLower(p) != p && pathComponent.MatchString(strings.ToLower(p)) {
				return r, errNameNotLower
			}
			return r, fmt.Errorf("path element %q is not lower-case letters and digits joined by . _ __ or -", p)
		}
	}
	r.Path = strings.Join(parts, "/")
	return r, nil
}
