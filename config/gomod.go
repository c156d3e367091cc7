package config

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"
)

// parseGoMod reads what slimage needs of a go.mod: the module path, the go
// and toolchain lines, the number of requirements, and the folders that
// replace directives point at (absolute, against dir).
//
// golang.org/x/mod's strict parser knows the directives of the Go releases
// before it, and the front requires the oldest x/mod that has what it uses
// (so a service's own pin stays): a go.mod with a directive that x/mod does
// not know yet (tool, ignore, or a newer one) is read leniently instead,
// and toolchain and replace, which the lenient parser leaves to the main
// module, are taken from its syntax tree.
func parseGoMod(path, dir string, data []byte) (Module, error) {
	m := Module{GoMod: path}
	f, err := modfile.Parse(path, data, nil)
	if err != nil && unknownDirectiveOnly(err) {
		f, err = modfile.ParseLax(path, data, nil)
	}
	if err != nil {
		return m, err
	}
	if f.Module == nil || f.Module.Mod.Path == "" {
		return m, errNoModuleLine
	}
	m.Path, m.Requires = f.Module.Mod.Path, len(f.Require)
	if f.Go != nil {
		m.Go = f.Go.Version
	}
	var replaced []string
	for _, stmt := range f.Syntax.Stmt {
		switch x := stmt.(type) {
		case *modfile.Line:
			switch verb(x.Token) {
			case "toolchain":
				if len(x.Token) == 2 {
					m.Toolchain = x.Token[1]
				}
			case "replace":
				replaced = append(replaced, replacement(x.Token[1:]))
			}
		case *modfile.LineBlock:
			if verb(x.Token) == "replace" {
				for _, l := range x.Line {
					replaced = append(replaced, replacement(l.Token))
				}
			}
		}
	}
	for _, r := range replaced {
		if r != "" && modfile.IsDirectoryPath(r) {
			if !filepath.IsAbs(r) {
				r = filepath.Join(dir, r)
			}
			m.Replaces = append(m.Replaces, filepath.Clean(r))
		}
	}
	return m, nil
}

var errNoModuleLine = errors.New("no module line")

func verb(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	return tokens[0]
}

// replacement is the new path of a replace directive's tokens
// (old [version] => new [version]), unquoted.
func replacement(tokens []string) string {
	for i, t := range tokens {
		if t == "=>" && i+1 < len(tokens) {
			if p, err := strconv.Unquote(tokens[i+1]); err == nil {
				return p
			}
			return tokens[i+1]
		}
	}
	return ""
}

// unknownDirectiveOnly says whether every error of a strict parse is an
// unknown directive.
func unknownDirectiveOnly(err error) bool {
	var list modfile.ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		return false
	}
	for _, e := range list {
		if !strings.Contains(e.Err.Error(), "unknown directive") {
			return false
		}
	}
	return true
}
