// Package probe builds the in-container probe (its main package is under
// main/, its JSON report under report/) for the platform of the image
// verify checks. The probe uses the standard library only, so it runs in
// a scratch image and needs no module download.
package probe

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
)

// source is the probe's main package and the report package it shares
// with verify.
//
//go:embed main/main.go report/report.go report/kubelet.go
var source embed.FS

// files are source's files as they sit in the probe's module, which takes
// the engine's module path so that the report's import path reads the same
// in the probe and in the engine.
var files = []string{"probe/main/main.go", "probe/report/report.go", "probe/report/kubelet.go"}

// Build writes the embedded probe source to a module of its own in the
// user cache (once per probe version) and builds it for p like any slimage
// binary (static, stripped), once per platform: the binary is kept beside
// its source. It returns the binary's path.
func Build(ctx context.Context, p config.Platform) (string, error) {
	h := sha256.New()
	for _, f := range files {
		data, err := source.ReadFile(strings.TrimPrefix(f, "probe/"))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	src := filepath.Join(cache, "slimage", "probe-"+hex.EncodeToString(h.Sum(nil)[:6]))
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		if err := writeProbeModule(src); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(src, "bin", p.DistDir(), "slimage-probe")
	if gobuild.CheckBinary(bin, p) == nil {
		return bin, nil // built and checked before: no go command at all
	}
	_, err = gobuild.BuildTarget(ctx, gobuild.Target{Dir: src, Platform: p, Dist: filepath.Join(src, "bin"),
		Binaries: []gobuild.Output{{Service: "slimage-probe", Main: "./probe/main", Path: bin}},
		Flags:    []string{"-trimpath", "-mod=readonly", "-ldflags=-s -w"}, Env: gobuild.PlatformEnv(p)})
	return bin, err
}

// writeProbeModule writes the probe's module; its folder is named after the
// source's hash, so a folder already there (a concurrent run's) holds the
// same files. The module takes the engine's path, so the probe's import of
// its report package reads the same here and in the engine; it requires
// nothing.
func writeProbeModule(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+"-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte("module github.com/slimage/slimage/images\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	for _, f := range files {
		data, err := source.ReadFile(strings.TrimPrefix(f, "probe/"))
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "go.mod")); statErr == nil {
			return nil // written by another run meanwhile
		}
		return err
	}
	return nil
}
