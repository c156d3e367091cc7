package targets_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/internal/testkit"
)

// BenchmarkNoopBuild compares, in one run, a no-op `mage build` of the sample
// (this repository's magefile) with a bare no-op `go build -o` of the same
// package with the same flags. mage itself rechecks the magefile binary with
// `go build` on every run (~0.1 s); MAGEFILE_HASHFAST=1 skips that, so the
// hashfast figure is slimage's own cost. Quote the ratios of the ns/op.
func BenchmarkNoopBuild(b *testing.B) {
	testkit.HermeticGo(b)
	root := testkit.RepoRoot(b)
	dist := b.TempDir()
	mage := testkit.Mage(b)
	env := append(os.Environ(), "SLIMAGE_DIST="+dist, "SLIMAGE_VERSION=bench", "MAGEFILE_CACHE="+b.TempDir())
	mageBuild := func(extra ...string) *exec.Cmd {
		cmd := exec.Command(mage, "build")
		cmd.Dir, cmd.Env = root, append(env, extra...)
		return cmd
	}
	testkit.Run(b, mageBuild()) // warm: compile the magefile, build the binary once

	c := &config.Config{Dir: filepath.Join(root, "testdata", "hello"), Main: ".", VersionVar: "main.version", Version: "bench"}
	out := filepath.Join(dist, config.Platform{OS: "linux", Arch: hostArch(b)}.DistDir(), "hello")
	goBuild := func() *exec.Cmd {
		cmd := exec.Command("go", append(append([]string{"build"}, gobuild.Flags(c)...), "-o", out, ".")...)
		cmd.Dir, cmd.Env = c.Dir, append(os.Environ(), "CGO_ENABLED=0")
		return cmd
	}
	testkit.Run(b, goBuild())

	b.Run("go-build", func(b *testing.B) {
		for range b.N {
			testkit.Run(b, goBuild())
		}
	})
	b.Run("mage-build", func(b *testing.B) {
		for range b.N {
			testkit.Run(b, mageBuild())
		}
	})
	b.Run("mage-build-hashfast", func(b *testing.B) {
		for range b.N {
			testkit.Run(b, mageBuild("MAGEFILE_HASHFAST=1"))
		}
	})
}

func hostArch(b testing.TB) string {
	out, err := exec.Command("go", "env", "GOHOSTARCH").Output()
	if err != nil {
		b.Fatal(err)
	}
	return string(out[:len(out)-1])
}
