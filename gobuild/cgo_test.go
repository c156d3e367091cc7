package gobuild_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/internal/testkit"
)

// cgoModule is a service that links a package with cgo files and a
// fallback for CGO_ENABLED=0: under path, in a folder of its own.
func cgoModule(t *testing.T, path string) string {
	dir := t.TempDir()
	testkit.WriteFiles(t, dir, map[string]string{
		"go.mod":  "module example.com/db\n\ngo 1.22\n\nrequire " + path + " v1.0.0\n\nreplace " + path + " => ./lib\n",
		"main.go": "package main\n\nimport _ \"" + path + "\"\n\nfunc main() {}\n",
		"lib/go.mod": "module " + path + "\n\ngo 1.22\n",
		"lib/driver_cgo.go": "//go:build cgo\n\npackage lib\n\n// int answer(void) { return 42; }\nimport \"C\"\n\nfunc Answer() int { return int(C.answer()) }\n",
		"lib/driver_stub.go": "//go:build !cgo\n\npackage lib\n\nfunc Answer() int { panic(\"requires cgo: this is a stub\") }\n",
		"lib/driver_cgo_test.go": "//go:build cgo\n\npackage lib\n",
	})
	return dir
}

// A package built without its cgo files is named after the build: a note
// by default, a failure with SLIMAGE_CGO_DROPPED=fail; a known stub (the
// SQLite driver) fails by default, with the fix; allow says nothing. The
// unchanged build says it again.
func TestBuildNamesCgoLeftOut(t *testing.T) {
	testkit.HermeticGo(t)
	for _, tc := range []struct {
		name, path, setting string
		fails               []string // the error, or "" for a note
		note                string
	}{
		{"warn", "example.com/driver", "warn", nil, "build linux/amd64: note: package example.com/driver is built without its cgo files (driver_cgo.go)"},
		{"fail", "example.com/driver", "fail", []string{"package example.com/driver is built without its cgo files (driver_cgo.go)", "SLIMAGE_CGO_DROPPED=fail"}, ""},
		{"known stub", "github.com/mattn/go-sqlite3", "warn", []string{"package github.com/mattn/go-sqlite3 is a stub without cgo", "modernc.org/sqlite", "SLIMAGE_CGO_DROPPED=allow"}, ""},
		{"allow", "github.com/mattn/go-sqlite3", "allow", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := cgoModule(t, tc.path)
			c := resolve(t, dir, func(c *config.Config) { c.CgoDropped = tc.setting; c.Platforms = []config.Platform{{OS: "linux", Arch: "amd64"}} })
			for _, run := range []string{"first", "unchanged"} {
				var out bytes.Buffer
				_, err := gobuild.Build(context.Background(), c, &out)
				if tc.fails != nil {
					testkit.ErrorMentions(t, err, tc.fails...)
					return
				}
				if err != nil {
					t.Fatalf("%s build: %v", run, err)
				}
				if tc.note == "" && strings.Contains(out.String(), "note:") || tc.note != "" && !strings.Contains(out.String(), tc.note) {
					t.Errorf("%s build printed:\n%s\nwant the note %q", run, out.String(), tc.note)
				}
			}
		})
	}
}
