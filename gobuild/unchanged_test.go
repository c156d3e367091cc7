package gobuild_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/internal/testkit"
)

// refusingGo puts a go command first on PATH that fails saying it ran: a
// build that gets through did not need the go command.
func refusingGo(t *testing.T) {
	bin := t.TempDir()
	script := "#!/bin/sh\necho 'the go command ran' >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// age puts every file under dirs an hour back, as files edited long before
// the build are: files written within the last moments are never trusted
// (see racy below).
func age(t *testing.T, dirs ...string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				os.Chtimes(p, old, old)
			}
			return nil
		})
	}
}

// A build whose inputs are all as the last build left them does not run the
// go command (a no-op go build still loads and hashes the import graph);
// any change to what the go command reads, or would stamp into the binary,
// makes it run again.
func TestBuildSkipsTheGoCommandOnlyWhenNothingChanged(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no ctime or inode to stamp on windows: every build runs the go command")
	}
	rewrite := func(path string, edit func(string) string) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		if err := os.WriteFile(path, []byte(edit(string(data))), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(path, fi.ModTime(), fi.ModTime()) // the mtime put back: the ctime still moves
	}
	tests := []struct {
		name   string
		change func(t *testing.T, dir, lib string, c *config.Config)
		reruns bool
	}{
		{"nothing", func(*testing.T, string, string, *config.Config) {}, false},
		{"a source edited, same size, mtime put back", func(t *testing.T, dir, _ string, _ *config.Config) {
			rewrite(filepath.Join(dir, "notes.go"), func(s string) string { return strings.Replace(s, "draft 1", "draft 2", 1) })
		}, true},
		{"a file added", func(t *testing.T, dir, _ string, _ *config.Config) {
			testkit.WriteFiles(t, dir, map[string]string{"extra.go": "package main\n"})
			age(t, dir)
		}, true},
		{"a file removed", func(t *testing.T, dir, _ string, _ *config.Config) {
			os.Remove(filepath.Join(dir, "NOTES"))
		}, true},
		{"a file in a folder a replace points at", func(t *testing.T, _, lib string, _ *config.Config) {
			rewrite(filepath.Join(lib, "lib.go"), func(s string) string { return s + "// more\n" })
		}, true},
		{"the version stamped", func(_ *testing.T, _, _ string, c *config.Config) { c.Version = "v0.0.1-test" }, true},
		{"a go setting", func(_ *testing.T, _, _ string, c *config.Config) { c.GoEnv.Build += "GOAMD64=v3\n" }, true},
		{"the commit", func(_ *testing.T, _, _ string, c *config.Config) { c.Git.Revision = "0123abcd" }, true},
		{"the binary edited", func(t *testing.T, dir, _ string, _ *config.Config) {
			bin := filepath.Join(dir, "dist", "linux_"+runtime.GOARCH, "hello")
			rewrite(bin, func(s string) string { return s[:len(s)-1] + "x" })
		}, true},
		{"a go.work above the module", func(t *testing.T, dir, _ string, _ *config.Config) {
			testkit.WriteFiles(t, filepath.Dir(dir), map[string]string{"go.work": "go 1.24\n\nuse ./hello\n"})
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := sample(t)
			lib := filepath.Join(filepath.Dir(dir), "lib")
			testkit.WriteFiles(t, lib, map[string]string{"go.mod": "module example.com/lib\n\ngo 1.24\n", "lib.go": "package lib\n"})
			testkit.WriteFiles(t, dir, map[string]string{"notes.go": "package main\n\n// draft 1\n", "NOTES": "not Go: the go command reads the folder\n"})
			testkit.Go(t, dir, "mod", "edit", "-replace=example.com/lib=../lib")
			age(t, dir, lib)
			c := resolve(t, dir, func(c *config.Config) { c.Platforms = []config.Platform{{OS: "linux", Arch: runtime.GOARCH}} })
			if _, err := gobuild.Build(context.Background(), c, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			tt.change(t, dir, lib, c)
			refusingGo(t)
			_, err := gobuild.Build(context.Background(), c, &bytes.Buffer{})
			switch {
			case tt.reruns && (err == nil || !strings.Contains(err.Error(), "the go command ran")):
				t.Errorf("the go command was not run again (err %v)", err)
			case !tt.reruns && err != nil:
				t.Errorf("the go command was run again: %v", err)
			}
		})
	}
}

// A source written moments before the build may change again within the
// file system's time granularity without its stamp showing it: such a build
// leaves no record, and the next one asks the go command again.
func TestBuildDoesNotTrustAFileWrittenJustBefore(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no ctime or inode to stamp on windows")
	}
	dir := sample(t)
	age(t, dir)
	c := resolve(t, dir, nil)
	testkit.WriteFiles(t, dir, map[string]string{"extra.go": "package main\n"}) // now
	if _, err := gobuild.Build(context.Background(), c, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	refusingGo(t)
	if _, err := gobuild.Build(context.Background(), c, &bytes.Buffer{}); err == nil {
		t.Error("a build right after an edit was trusted on the next run")
	}
}
