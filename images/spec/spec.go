// Package spec is what slimage's Dockerfiles say, as plain values, and
// their rendering: no environment, no files, no Docker.
package spec

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/slimage/slimage/config"
)

// Spec is what the Dockerfile says, as a plain value: rendering it needs no
// environment, no files and no Docker.
type Spec struct {
	Binary  string // file name of the executable
	Title   string // what the image is, for the header comment
	Version string // for the header comment
	Zone    string // IANA zone baked in and set as TZ; "" for none
	// Zones are more zones the service loads, under /usr/share/zoneinfo;
	// AllZones puts the Go toolchain's zoneinfo.zip at ZoneInfoZip instead
	// and points ZONEINFO at it.
	Zones    []string
	AllZones bool
	User     string   // uid:gid the service runs as
	Ports    []string // EXPOSE, e.g. "8080/tcp"
	Args     []string // CMD: default arguments after the entrypoint
	Files    []string // run-time files staged under files/, as "src -> dst" for the comment
	Labels   map[string]string
}

// ZoneInfoZip is where SLIMAGE_ZONES=all puts the toolchain's zoneinfo.zip:
// its place under a GOROOT, though nothing else of Go is there; ZONEINFO
// makes Go read it, as it would only from GOROOT otherwise.
const ZoneInfoZip = "/usr/local/go/lib/time/zoneinfo.zip"

// BinaryPath is the executable's path in the image.
func (s Spec) BinaryPath() string { return path.Join(config.AppDir, s.Binary) }

// WorkDir is the service's working directory: beside the binary, so a
// config file copied there is found by a relative path, as in the recipe.
func (s Spec) WorkDir() string { return config.AppDir }

// Env is the image's environment beyond Docker's PATH: TZ for the zone,
// ZONEINFO for every zone. Both builders and both Dockerfiles use it.
func (s Spec) Env() []string {
	var env []string
	if s.Zone != "" {
		env = append(env, "TZ="+s.Zone)
	}
	if s.AllZones {
		env = append(env, "ZONEINFO="+ZoneInfoZip)
	}
	return env
}

// Entrypoint is the exec-form entrypoint (scratch has no shell).
func (s Spec) Entrypoint() []string { return []string{s.BinaryPath()} }

//go:embed Dockerfile.tmpl
var dockerfileTemplate string

// funcs are the template functions both Dockerfiles use.
var funcs = template.FuncMap{
	"dir":         path.Dir,
	"join":        strings.Join,
	"zoneinfoZip": func() string { return ZoneInfoZip },
	"json": func(v []string) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"labels": func(m map[string]string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + strconv.Quote(m[k])
		}
		return strings.Join(parts, " \\\n      ")
	},
}

var dockerfile = template.Must(template.New("Dockerfile").Funcs(funcs).Parse(dockerfileTemplate))

// RenderDockerfile writes the Dockerfile for s.
func RenderDockerfile(s Spec) ([]byte, error) {
	if s.Binary == "" || s.User == "" {
		return nil, fmt.Errorf("render Dockerfile: spec needs a binary and a user")
	}
	for k, v := range s.Labels {
		if strings.ContainsAny(k+v, "\n\r") || strings.ContainsAny(k, " =\"") {
			return nil, fmt.Errorf("render Dockerfile: label %q: keys take no spaces, '=' or quotes, values no line breaks", k)
		}
	}
	var b bytes.Buffer
	if err := dockerfile.Execute(&b, s); err != nil {
		return nil, fmt.Errorf("render Dockerfile: %w", err)
	}
	return b.Bytes(), nil
}
