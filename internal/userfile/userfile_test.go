package userfile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slimage/slimage/internal/testkit"
	"github.com/slimage/slimage/internal/userfile"
)

// Read takes regular files and refuses, at once and by what they are, the
// files a read could wait on forever; a cancelled read stops.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	testkit.WriteFiles(t, dir, map[string]string{"conf.yaml": "a: 1\n"})
	testkit.Mkfifo(t, filepath.Join(dir, "pipe"))
	os.Symlink("conf.yaml", filepath.Join(dir, "link"))
	for _, tc := range []struct {
		path, want, err string
	}{
		{"conf.yaml", "a: 1\n", ""},
		{"link", "a: 1\n", ""}, // the file it leads to (the module check is config's)
		{"pipe", "", "is a named pipe (FIFO), not a file"},
		{".", "", "is a folder"},
		{"/dev/zero", "", "is a device, not a file"},
		{"absent", "", "does not exist"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			p := tc.path
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			done := make(chan struct{})
			var data []byte
			var err error
			go func() { data, err = userfile.Read(context.Background(), p); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the read blocked")
			}
			if tc.err == "" {
				if err != nil || string(data) != tc.want {
					t.Errorf("read %q, %v; want %q", data, err, tc.want)
				}
				return
			}
			if err == nil || err.Error() != tc.err || strings.Contains(err.Error(), dir) {
				t.Errorf("error %v, want %q (without the path)", err, tc.err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := userfile.Read(ctx, filepath.Join(dir, "conf.yaml")); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled read returned %v", err)
	}
}
