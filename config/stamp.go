package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The build stamps what slimage knows of the commit into the binary with
// -X: SLIMAGE_VERSION_VAR is a comma list of targets, each importpath.name
// (the version, as before) or importpath.name=template, where the template
// holds {{version}}, {{commit}} and {{date}} (the commit's, never the
// clock's, so the build stays reproducible):
//
//	main.version={{version}},main.commit={{commit}},main.date={{date}}

// Stamp is one -X target and the template of its value.
type Stamp struct {
	Var      string // importpath.name
	Template string // "{{version}}" for a bare target
}

// stampFields are what a template may use: each field's value, and the
// multistage Dockerfile's build argument that carries it.
var stampFields = []struct{ name, arg string }{
	{"version", "VERSION"}, {"commit", "REVISION"}, {"date", "CREATED"},
}

// Stamps reads SLIMAGE_VERSION_VAR.
func (c *Config) Stamps() ([]Stamp, error) {
	var out []Stamp
	for _, item := range splitList(c.VersionVar, ",") {
		target, tmpl, ok := strings.Cut(item, "=")
		if !ok {
			tmpl = "{{version}}"
		}
		dot := strings.LastIndex(target, ".")
		if dot <= 0 || dot == len(target)-1 || strings.ContainsAny(target, " \t'\"") {
			return nil, fmt.Errorf("check SLIMAGE_VERSION_VAR: %q is not an -X target: write importpath.name, e.g. main.version, or importpath.name={{version}} with {{commit}} and {{date}} (or set it empty to stamp nothing)", target)
		}
		rest := tmpl
		for _, f := range stampFields {
			rest = strings.ReplaceAll(rest, "{{"+f.name+"}}", "")
		}
		if strings.ContainsAny(rest, "{} \t'\"") {
			return nil, fmt.Errorf("check SLIMAGE_VERSION_VAR: %s=%s: the value may hold {{version}}, {{commit}}, {{date}} and text without spaces or quotes", target, tmpl)
		}
		out = append(out, Stamp{Var: target, Template: tmpl})
	}
	return out, nil
}

// Value is the stamp's value for c: its template with the version, the
// commit and the commit's date filled in.
func (s Stamp) Value(c *Config) string {
	date := ""
	if t, ok := c.CommitTime(); ok {
		date = t.Format(time.RFC3339)
	}
	return strings.NewReplacer("{{version}}", c.Version, "{{commit}}", c.Git.Revision, "{{date}}", date).Replace(s.Template)
}

// BuildArgValue is the stamp's value in the multistage Dockerfile, where
// the build arguments VERSION, REVISION and CREATED carry the facts.
func (s Stamp) BuildArgValue() string {
	v := s.Template
	for _, f := range stampFields {
		v = strings.ReplaceAll(v, "{{"+f.name+"}}", "${"+f.arg+"}")
	}
	return v
}

// CommitTime is when the commit being built was made: SOURCE_DATE_EPOCH
// when set (reproducible builds' convention), else the commit's time; not
// known outside git. Never the clock's, so the same commit stamps the
// same bytes.
func (c *Config) CommitTime() (time.Time, bool) {
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		return time.Unix(sec, 0).UTC(), err == nil
	}
	return time.Unix(c.Git.CommitTime, 0).UTC(), c.Git.Revision != ""
}
