// Package zoneinfo reads IANA time zones the way slimage puts them into
// images: from the Go toolchain's own zoneinfo.zip. Configuration checks a
// zone's name with it before any work starts; staging copies the very
// bytes it returns, and verify computes its expectations from them.
package zoneinfo

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Read returns zone's TZif data from the Go toolchain's own zoneinfo.zip
// (under goroot), so the host needs no tzdata package; the host's
// /usr/share/zoneinfo is the fallback for a toolchain without it. The
// error names the zone and suggests close names; the caller prefixes the
// setting it came from.
func Read(goroot, zone string) ([]byte, error) {
	names, err := zoneNames(goroot)
	zipErr := err
	if err == nil {
		if data, ok := names[zone]; ok {
			return data()
		}
	}
	if data, err := os.ReadFile(filepath.Join("/usr/share/zoneinfo", filepath.FromSlash(zone))); err == nil && bytes.HasPrefix(data, []byte("TZif")) {
		return data, nil
	}
	if zipErr != nil {
		return nil, fmt.Errorf("%s: not in the host's /usr/share/zoneinfo, and %v", zone, zipErr)
	}
	hint := "write an IANA name such as Asia/Shanghai"
	if close := closeZones(zone, names); len(close) > 0 {
		hint = "did you mean " + strings.Join(close, ", ") + "?"
	}
	return nil, fmt.Errorf("%q is not a known zone: %s", zone, hint)
}

func zoneNames(goroot string) (map[string]func() ([]byte, error), error) {
	zipPath := filepath.Join(goroot, "lib", "time", "zoneinfo.zip")
	r, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("the Go toolchain's %s is unreadable: %v", zipPath, err)
	}
	names := map[string]func() ([]byte, error){}
	for _, f := range r.File {
		names[f.Name] = func() ([]byte, error) {
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return io.ReadAll(rc)
		}
	}
	return names, nil
}

// closeZones suggests up to three zone names near the misspelt one: by
// edit distance over the whole name and over its last element.
func closeZones(zone string, names map[string]func() ([]byte, error)) []string {
	type scored struct {
		name string
		d    int
	}
	var all []scored
	lz := strings.ToLower(zone)
	for n := range names {
		ln := strings.ToLower(n)
		d := min(editDistance(lz, ln), editDistance(path.Base(lz), path.Base(ln))+1)
		if d <= max(2, len(zone)/4) {
			all = append(all, scored{n, d})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].d != all[j].d {
			return all[i].d < all[j].d
		}
		return all[i].name < all[j].name
	})
	var out []string
	for i := 0; i < len(all) && i < 3; i++ {
		out = append(out, all[i].name)
	}
	return out
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Names lists every zone in the Go toolchain's zoneinfo.zip, sorted.
func Names(goroot string) ([]string, error) {
	names, err := zoneNames(goroot)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
