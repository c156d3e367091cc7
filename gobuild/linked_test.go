package gobuild_test

import (
	"bytes"
	"context"
	"os/exec"
	"runtime"
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
		"go.mod":                 "module example.com/db\n\ngo 1.22\n\nrequire " + path + " v1.0.0\n\nreplace " + path + " => ./lib\n",
		"main.go":                "package main\n\nimport _ \"" + path + "\"\n\nfunc main() {}\n",
		"lib/go.mod":             "module " + path + "\n\ngo 1.22\n",
		"lib/driver_cgo.go":      "//go:build cgo\n\npackage lib\n\n// int answer(void) { return 42; }\nimport \"C\"\n\nfunc Answer() int { return int(C.answer()) }\n",
		"lib/driver_stub.go":     "//go:build !cgo\n\npackage lib\n\nfunc Answer() int { panic(\"requires cgo: this is a stub\") }\n",
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
			c := resolve(t, dir, func(c *config.Config) {
				c.CgoDropped, c.VersionVar = tc.setting, ""
				c.Platforms = []config.Platform{{OS: "linux", Arch: "amd64"}}
			})
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

// SLIMAGE_VERSION_VAR stamps several variables with what slimage knows of
// the commit (the date is the commit's, so the binary stays reproducible),
// and each target that sets nothing is named, with why.
func TestVersionStamps(t *testing.T) {
	testkit.HermeticGo(t)
	dir := t.TempDir()
	testkit.WriteFiles(t, dir, map[string]string{
		"go.mod":                  "module example.com/stamped\n\ngo 1.22\n",
		"main.go":                 "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/stamped/internal/build\"\n)\n\nvar version = \"dev\"\n\nvar commit string\n\nvar stamp = stampOf()\n\nfunc stampOf() string { return \"computed\" }\n\nfunc main() { fmt.Println(version, commit, build.Date, stamp) }\n",
		"internal/build/build.go": "package build\n\nvar Date = \"unknown\"\n",
	})
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01T00:00:00Z
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one"}} {
		git := exec.Command("git", args...)
		git.Dir = dir
		testkit.Run(t, git)
	}
	rev := exec.Command("git", "rev-parse", "HEAD")
	rev.Dir = dir
	commit := strings.TrimSpace(testkit.Run(t, rev))
	c := resolve(t, dir, func(c *config.Config) {
		c.Version = "v1.2.3"
		c.VersionVar = "main.version,main.commit={{commit}},example.com/stamped/internal/build.Date={{date}},main.stamp,main.missing,example.com/other.V"
		c.Platforms = []config.Platform{{OS: "linux", Arch: runtime.GOARCH}}
	})
	var out bytes.Buffer
	arts, err := gobuild.Build(context.Background(), c, &out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(arts[0].Path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1.2.3 " + commit + " 2026-01-01T00:00:00Z v1.2.3\n"; string(got) != want {
		t.Errorf("the binary prints %q, want %q", got, want)
	}
	for _, note := range []string{
		"note: -X main.missing sets nothing: package main declares no string variable missing",
		"note: -X example.com/other.V sets nothing: the binary links no package example.com/other",
	} {
		if !strings.Contains(out.String(), note) {
			t.Errorf("the build did not say %q:\n%s", note, out.String())
		}
	}
	if strings.Contains(out.String(), "-X main.version sets") || strings.Contains(out.String(), "internal/build.Date sets") {
		t.Errorf("a target that lands was named:\n%s", out.String())
	}
}
