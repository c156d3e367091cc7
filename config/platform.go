package config

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/slimage/slimage/internal/gotool"
)

// Platform is a Go build target written os/arch[/variant], as Docker and OCI
// write it: linux/amd64, linux/arm64, linux/arm/v7.
type Platform struct {
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Variant string `json:"variant"`
}

// ParsePlatform reads "os/arch[/variant]".
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("%q is not os/arch[/variant] (e.g. linux/amd64, linux/arm/v7)", s)
	}
	p := Platform{OS: parts[0], Arch: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// ParsePlatforms reads a comma-separated list, dropping duplicates.
func ParsePlatforms(s string) ([]Platform, error) {
	var out []Platform
	seen := map[Platform]bool{}
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		p, err := ParsePlatform(f)
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q names no platform (e.g. linux/amd64,linux/arm64)", s)
	}
	return out, nil
}

func (p Platform) String() string {
	if p.Variant != "" {
		return p.OS + "/" + p.Arch + "/" + p.Variant
	}
	return p.OS + "/" + p.Arch
}

// DistDir is the folder name of the platform's artifacts: linux_arm_v7.
func (p Platform) DistDir() string { return strings.ReplaceAll(p.String(), "/", "_") }

// GoEnv is the environment that makes the go command target p.
func (p Platform) GoEnv() []string {
	env := []string{"GOOS=" + p.OS, "GOARCH=" + p.Arch}
	if p.Variant == "" {
		return env
	}
	switch p.Arch {
	case "arm":
		env = append(env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	case "amd64":
		env = append(env, "GOAMD64="+p.Variant)
	case "arm64":
		if p.Variant != "v8" { // v8 is the baseline; GOARM64 wants v8.x
			env = append(env, "GOARM64="+p.Variant)
		}
	}
	return env
}

// variants lists what each arch accepts after the second slash, in the
// spelling OCI uses; Go's own variable is set from it by GoEnv.
var variants = map[string][]string{
	"arm":   {"v5", "v6", "v7"},
	"amd64": {"v1", "v2", "v3", "v4"},
	"arm64": {"v8", "v8.1", "v8.2", "v8.3", "v8.4", "v8.5", "v8.6", "v8.7", "v8.8", "v8.9", "v9.0", "v9.1", "v9.2", "v9.3", "v9.4", "v9.5"},
}

// binaryFormats are the GOOS values whose executables slimage can check
// (ELF, PE or Mach-O); wasm, XCOFF and Plan 9 binaries are out of scope.
var binaryFormats = map[string]string{
	"linux": "ELF", "android": "ELF", "freebsd": "ELF", "netbsd": "ELF", "openbsd": "ELF",
	"dragonfly": "ELF", "solaris": "ELF", "illumos": "ELF",
	"windows": "PE", "darwin": "Mach-O", "ios": "Mach-O",
}

var distList struct {
	once sync.Once
	set  map[string]bool
	err  error
}

// validate checks p against `go tool dist list` (asked once per process).
func (p Platform) validate(ctx context.Context) error {
	distList.once.Do(func() {
		res, err := gotool.Run(ctx, gotool.Cmd{Args: []string{"tool", "dist", "list"}})
		if err != nil {
			distList.err = err
			return
		}
		distList.set = map[string]bool{}
		for _, l := range strings.Fields(string(res.Stdout)) {
			distList.set[l] = true
		}
	})
	if distList.err != nil {
		return distList.err
	}
	if !distList.set[p.OS+"/"+p.Arch] {
		return fmt.Errorf("%s is not a platform this Go can build (see 'go tool dist list')", p)
	}
	if _, ok := binaryFormats[p.OS]; !ok {
		return fmt.Errorf("%s: slimage checks ELF, PE and Mach-O executables only, not %s's", p, p.OS)
	}
	if p.Variant != "" && !slices.Contains(variants[p.Arch], p.Variant) {
		if len(variants[p.Arch]) == 0 {
			return fmt.Errorf("%s: %s takes no variant", p, p.Arch)
		}
		return fmt.Errorf("%s: variant %q is not one of %s", p, p.Variant, strings.Join(variants[p.Arch], ", "))
	}
	return nil
}
