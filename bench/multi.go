package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// multiServices are testdata/multi's services, each a main package under
// cmd/.
var multiServices = []string{"api", "cli", "worker"}

// multiVariant is one way of making the three services' images.
type multiVariant struct {
	name   string
	images []string
	run    func(env []string) error
}

// runMulti builds testdata/multi's three services (an API with a ui/
// folder, a worker, a CLI) four ways, in one run: one `mage image` for all
// three; three `mage image` runs of one service each (SLIMAGE_SERVICES, a
// dist each: what a repository did before slimage knew several services,
// and what a CI matrix does); `go build ./cmd/...` plus a `docker build`
// per service; and ko build of the three packages. The module imports the
// targets the README's way (a require, here replaced by this checkout, and
// its own magefile), and mage runs in its folder. Each is timed cold (empty build
// and user caches), no-op, and after a one-line change in the worker.
func runMulti(root string, runs, cold int) error {
	work, err := os.MkdirTemp("", "slimage-bench-multi-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	svc := filepath.Join(work, "multi")
	if err := copyTree(filepath.Join(root, "testdata", "multi"), svc); err != nil {
		return err
	}
	tools, err := installTools(root)
	if err != nil {
		return err
	}
	mage := filepath.Join(work, "mage")
	if err := sh(root, nil, "go", "build", "-o", mage, "github.com/magefile/mage"); err != nil {
		return err
	}
	if err := sh(svc, nil, "go", "mod", "edit", "-require=github.com/slimage/slimage@v0.0.0", "-replace=github.com/slimage/slimage="+root); err != nil {
		return err
	}
	if err := sh(svc, nil, "go", "mod", "tidy"); err != nil {
		return err
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	registry, err := startRegistry(ctx, tools)
	if err != nil {
		return err
	}
	if err := pushEmptyBase(work, tools, registry+"/base:latest"); err != nil {
		return err
	}
	ko := "defaultBaseImage: " + registry + "/base:latest\nbuilds:\n"
	for _, s := range multiServices {
		ko += fmt.Sprintf("- id: %s\n  main: ./cmd/%s\n  ldflags: [\"-s\", \"-w\"]\n", s, s)
	}
	if err := os.WriteFile(filepath.Join(svc, ".ko.yaml"), []byte(ko), 0o644); err != nil {
		return err
	}

	images := func(prefix string) []string {
		tag := ":bench"
		if prefix == "ko.local/" {
			tag = ":latest"
		}
		var out []string
		for _, s := range multiServices {
			out = append(out, prefix+s+tag)
		}
		return out
	}
	mageImage := func(env []string, dist, repo string, more ...string) error {
		return sh(svc, append(append(env, "SLIMAGE_DIST="+filepath.Join(work, dist), "SLIMAGE_REPO="+repo, "SLIMAGE_VERSION=bench"), more...), mage, "image")
	}
	bare := filepath.Join(work, "bare")
	variants := []multiVariant{
		{name: "slimage: one mage image (3 services)", images: images("slimage-bench/all-"), run: func(env []string) error {
			return mageImage(env, "dist-all", "slimage-bench/all-")
		}},
		{name: "slimage: 3 mage image runs (one service each)", images: images("slimage-bench/single-"), run: func(env []string) error {
			for _, s := range multiServices {
				if err := mageImage(env, "dist-"+s, "slimage-bench/single-", "SLIMAGE_SERVICES="+s); err != nil {
					return err
				}
			}
			return nil
		}},
		{name: "go build ./cmd/... + 3 docker builds", images: images("slimage-bench/bare-"), run: func(env []string) error {
			if err := sh(svc, append(env, "CGO_ENABLED=0"), "go", "build", "-trimpath", "-ldflags=-s -w -X main.version=bench", "-o", bare+string(filepath.Separator), "./cmd/..."); err != nil {
				return err
			}
			for _, s := range multiServices {
				if err := sh(bare, append(env, "DOCKER_BUILDKIT=0"), "docker", "build", "-q", "-f", "Dockerfile."+s, "-t", "slimage-bench/bare-"+s+":bench", "."); err != nil {
					return err
				}
			}
			return nil
		}},
		// ko v0.19.1 refuses ./cmd/... ("found 3 local packages, expected
		// 1"): it is given the three packages.
		{name: "ko " + koVersion + " build ./cmd/api ./cmd/cli ./cmd/worker", images: images("ko.local/"), run: func(env []string) error {
			args := []string{"build", "--local", "--base-import-paths", "--platform=linux/" + hostArch()}
			for _, s := range multiServices {
				args = append(args, "./cmd/"+s)
			}
			return sh(svc, env, filepath.Join(tools, "ko"), args...)
		}},
	}
	defer func() {
		for _, v := range variants {
			exec.Command("docker", append([]string{"rmi", "-f"}, v.images...)...).Run()
		}
	}()
	// The bare contexts: the CA bundle, the zone and the API's ui/ that
	// slimage's images hold.
	if err := variants[0].run(nil); err != nil {
		return fmt.Errorf("first slimage build: %w", err)
	}
	staged := filepath.Join(work, "dist-all", "api", "image", "rootfs")
	if err := os.MkdirAll(bare, 0o755); err != nil {
		return err
	}
	for src, dst := range map[string]string{"etc/ssl/certs/ca-certificates.crt": "ca-certificates.crt", "usr/share/zoneinfo/Asia/Shanghai": "Shanghai"} {
		data, err := os.ReadFile(filepath.Join(staged, src))
		if err != nil {
			return err
		}
		os.WriteFile(filepath.Join(bare, dst), data, 0o644)
	}
	if err := copyTree(filepath.Join(svc, "ui"), filepath.Join(bare, "ui")); err != nil {
		return err
	}
	for _, s := range multiServices {
		more := ""
		if s == "api" {
			more = "COPY ui /app/ui\nEXPOSE 9090 8080\n"
		}
		os.WriteFile(filepath.Join(bare, "Dockerfile."+s), []byte(`FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY Shanghai /usr/share/zoneinfo/Asia/Shanghai
COPY Shanghai /etc/localtime
ENV TZ=Asia/Shanghai
USER 65532:65532
`+more+`ENTRYPOINT ["/app/`+s+`"]
COPY `+s+` /app/`+s+`
`), 0o644)
	}

	edits := 0
	edit := func() error { // a one-line change in the worker
		edits++
		return os.WriteFile(filepath.Join(svc, "cmd", "worker", "zz_bench.go"), []byte(fmt.Sprintf("package main\n\nimport \"os\"\n\nfunc init() {\n\tif os.Getenv(\"BENCH_NEVER\") == \"x\" {\n\t\tprintln(\"edit %d\")\n\t}\n}\n", edits)), 0o644)
	}
	results := make([]struct{ cold, noop, change []time.Duration }, len(variants))
	for i, v := range variants {
		for range cold {
			exec.Command("docker", append([]string{"rmi", "-f"}, v.images...)...).Run()
			caches := []string{"GOCACHE=" + mkTemp(work), "MAGEFILE_CACHE=" + mkTemp(work), "XDG_CACHE_HOME=" + mkTemp(work)}
			if err := edit(); err != nil {
				return err
			}
			d, err := timed(v.run, caches)
			if err != nil {
				return fmt.Errorf("%s, cold: %w", v.name, err)
			}
			results[i].cold = append(results[i].cold, d)
			log.Printf("%s cold %s", v.name, d.Round(time.Millisecond))
		}
	}
	for i, v := range variants {
		for range runs {
			if err := edit(); err != nil {
				return err
			}
			if err := v.run(nil); err != nil { // builds everything else once, untimed
				return fmt.Errorf("%s: %w", v.name, err)
			}
			if err := edit(); err != nil {
				return err
			}
			d, err := timed(v.run, nil)
			if err != nil {
				return fmt.Errorf("%s, one-line change: %w", v.name, err)
			}
			results[i].change = append(results[i].change, d)
			if d, err = timed(v.run, nil); err != nil {
				return fmt.Errorf("%s, no-op: %w", v.name, err)
			}
			results[i].noop = append(results[i].noop, d)
			log.Printf("%s one-line change %s, no-op %s", v.name, results[i].change[len(results[i].change)-1].Round(time.Millisecond), d.Round(time.Millisecond))
		}
	}

	fmt.Printf("\ntestdata/multi's three services built side by side on this machine, in one run (medians: cold of %d, others of %d; the change is in the worker), seconds:\n\n", cold, runs)
	fmt.Println("| variant | cold (empty GOCACHE) | no-op (fastest–slowest) | one-line change (fastest–slowest) | image bytes (api, cli, worker) |")
	fmt.Println("|---|---|---|---|---|")
	med := make([][3]float64, len(variants))
	for i, v := range variants {
		med[i] = [3]float64{median(results[i].cold), median(results[i].noop), median(results[i].change)}
		var bytes []string
		for _, img := range v.images {
			bytes = append(bytes, imageBytes(img))
		}
		fmt.Printf("| %s | %.2f | %.2f %s | %.2f %s | %s |\n", v.name, med[i][0], med[i][1], spread(results[i].noop), med[i][2], spread(results[i].change), strings.Join(bytes, ", "))
	}
	fmt.Println("\n| ratio | cold | no-op | one-line change |")
	fmt.Println("|---|---|---|---|")
	for _, against := range []int{1, 2, 3} {
		fmt.Printf("| %s / %s | %.2f× | %.2f× | %.2f× |\n", variants[0].name, variants[against].name,
			med[0][0]/med[against][0], med[0][1]/med[against][1], med[0][2]/med[against][2])
	}
	return nil
}
