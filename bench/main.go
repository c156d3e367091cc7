// Command bench builds the sample service four ways side by side, in one
// run, and prints a Markdown table of medians and ratios plus image bytes:
//
//   - slimage default: `mage image` (the OCI builder: assembled, then loaded),
//     as it comes and with MAGEFILE_HASHFAST=1
//   - slimage docker: the same with SLIMAGE_BUILDER=docker (Docker's builder
//     builds dist/image)
//   - bare: `go build` + `docker build` of a plain scratch Dockerfile with the
//     same CA bundle and zone
//   - ko: `ko build --local` with -s -w onto an empty base (no CA bundle, no
//     zone), served by a registry on 127.0.0.1 that the benchmark starts
//
// each cold (empty Go build cache and user cache, warm module cache), no-op,
// and after a one-line change, each timed run started at a random point of
// the second (see timed); and on a fresh runner (empty module, build and
// user caches: nothing downloaded, nothing compiled), where slimage is the
// README's zero-install `go run mage.go image`, ko is `go install` of ko at
// its pinned version plus `ko build`, and the bare commands download and
// compile as they are. It works on a copy of the sample and removes the
// images it made. ko and crane (for the registry) are installed once, at
// pinned versions, into the user cache with `go install`.
//
//	go run ./bench [-runs 5] [-cold 2] [-fresh 1]
//
// With -sample multi it builds testdata/multi's three services instead:
// one mage image against three single-service runs, the bare commands and
// ko build ./cmd/... (see runMulti).
//
// Run it as that, not through mage.go, which adds -trimpath to GOFLAGS and
// CGO_ENABLED=0 for its own reasons: they would change what slimage's cold
// and no-op rows cost.
package main

import (
	"archive/tar"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	koVersion    = "v0.19.1"
	craneVersion = "v0.22.1" // the engine's go-containerregistry
)

// variant is one way of making a sample's images.
type variant struct {
	name   string
	images []string // what it makes: removed before a cold run and at the end
	run    func(env []string) error
}

func main() {
	runs := flag.Int("runs", 5, "no-op and one-line runs per variant (medians)")
	cold := flag.Int("cold", 2, "cold runs per variant (medians)")
	fresh := flag.Int("fresh", 1, "fresh-runner runs per tool (medians)")
	sample := flag.String("sample", "hello", "hello (one service, the four ways above) or multi (testdata/multi's three services: see runMulti)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	root, err := os.Getwd()
	if err == nil {
		if _, err = os.Stat(filepath.Join(root, "testdata", "hello", "go.mod")); err != nil {
			err = errors.New("run from the repository's root: go run ./bench")
		}
	}
	if err == nil {
		switch *sample {
		case "hello":
			err = run(root, *runs, *cold, *fresh)
		case "multi":
			err = runMulti(root, *runs, *cold)
		default:
			err = fmt.Errorf("-sample %s: no such sample: use hello or multi", *sample)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

// timed runs run with env at a random point of the second.
func timed(run func(env []string) error, env []string) (time.Duration, error) {
	// On this machine's daemon (fuse-overlayfs) a docker build's COPY ends
	// just after a whole second of the wall clock, so runs of a steady
	// rhythm lock into one phase and show the bare commands at 0.3 s in one
	// run of the benchmark and at 1.0 s in the next. What an edit at any
	// moment costs is the spread this gives.
	time.Sleep(rand.N(time.Second))
	began := time.Now()
	err := run(env)
	return time.Since(began), err
}

func run(root string, runs, cold, fresh int) error {
	b, err := setUp(root, "hello", [][2]string{{"hello", "."}})
	if err != nil {
		return err
	}
	defer b.close()
	work, svc, tools, mage := b.work, b.svc, b.tools, b.mage

	// The sample's one dependency from testdata/goproxy, anything else (the
	// engine's modules, ko's, on a fresh runner) through the user's proxy.
	userProxy, err := exec.Command("go", "env", "GOPROXY").Output()
	if err != nil {
		return err
	}
	goproxy := "file://" + filepath.ToSlash(filepath.Join(root, "testdata", "goproxy")) + "," + strings.TrimSpace(string(userProxy))
	// slimage runs `mage image` with SLIMAGE_BUILDER=builder ("" leaves the
	// default), each variant with a dist and an image of its own.
	slimage := func(name, builder string, more ...string) variant {
		id := strings.NewReplacer(" ", "-", "=", "-", "(", "", ")", "", ",", "").Replace(name)
		return variant{name: "slimage " + name, images: []string{"slimage-bench/" + strings.ToLower(id) + ":bench"}, run: func(env []string) error {
			env = append(append(env, "SLIMAGE_DIR="+svc, "SLIMAGE_DIST="+filepath.Join(work, "dist-"+id),
				"SLIMAGE_IMAGE=slimage-bench/"+strings.ToLower(id)+":bench", "SLIMAGE_VERSION=bench", "SLIMAGE_BUILDER="+builder, "GOPROXY="+goproxy), more...)
			return sh(root, env, mage, "image")
		}}
	}
	bare := filepath.Join(work, "bare")
	variants := []variant{
		slimage("default (oci)", ""),
		slimage("docker", "docker"),
		// mage re-checks its compiled magefile with go list and go build on
		// every run; HASHFAST skips that (the service's build is the same).
		slimage("default, MAGEFILE_HASHFAST=1", "", "MAGEFILE_HASHFAST=1"),
		{name: "go build + docker build", images: []string{"slimage-bench/bare:bench"}, run: func(env []string) error {
			if err := sh(svc, append(env, "CGO_ENABLED=0", "GOPROXY="+goproxy), "go", "build", "-trimpath", "-ldflags=-s -w -X main.version=bench", "-o", filepath.Join(bare, "hello"), "."); err != nil {
				return err
			}
			return sh(bare, append(env, "DOCKER_BUILDKIT=0"), "docker", "build", "-q", "-t", "slimage-bench/bare:bench", ".")
		}},
		{name: "ko " + koVersion, images: []string{"ko.local/hello:latest"}, run: func(env []string) error {
			return sh(svc, append(env, "KO_DOCKER_REPO=ko.local", "GOPROXY="+goproxy), filepath.Join(tools, "ko"), "build", "--local", "--base-import-paths", "--platform=linux/"+hostArch(), ".")
		}},
	}
	defer func() {
		for _, v := range variants {
			removeImages(v)
		}
	}()
	// The bare context: the same CA bundle and zone as slimage's image.
	if err := variants[0].run(nil); err != nil {
		return fmt.Errorf("first slimage build: %w", err)
	}
	if err := writeBareContext(filepath.Join(work, "dist-default-oci", "image", "rootfs"), bare, "Dockerfile", "hello", ""); err != nil {
		return err
	}
	edit := oneLineChange(filepath.Join(svc, "zz_bench.go"))
	// A fresh runner: nothing in any cache, so every tool downloads and
	// compiles what it needs. slimage is the README's zero-install command;
	// ko is what a ko user pays on such a runner, its install included.
	freshTools := []variant{
		{name: "slimage: go run mage.go image", images: variants[0].images, run: func(env []string) error {
			return sh(root, append(env, "SLIMAGE_DIR="+svc, "SLIMAGE_DIST="+filepath.Join(work, "dist-fresh"), "SLIMAGE_IMAGE="+variants[0].images[0],
				"SLIMAGE_VERSION=bench", "GOPROXY="+goproxy), "go", "run", "mage.go", "image")
		}},
		variants[3],
		{name: "ko: go install ko@" + koVersion + " + ko build", images: variants[4].images, run: func(env []string) error {
			bin := mkTemp(work)
			if err := sh(root, append(env, "GOBIN="+bin, "GOFLAGS=", "CGO_ENABLED=0", "GOPROXY="+goproxy), "go", "install", "github.com/google/ko@"+koVersion); err != nil {
				return err
			}
			return sh(svc, append(env, "KO_DOCKER_REPO=ko.local", "GOPROXY="+goproxy), filepath.Join(bin, "ko"), "build", "--local", "--base-import-paths", "--platform=linux/"+hostArch(), ".")
		}},
	}
	freshResults := make([][]time.Duration, len(freshTools))
	for i, v := range freshTools {
		for range fresh {
			removeImages(v)
			modcache := mkTemp(work)
			caches := []string{"GOMODCACHE=" + modcache, "GOCACHE=" + mkTemp(work), "MAGEFILE_CACHE=" + mkTemp(work), "XDG_CACHE_HOME=" + mkTemp(work)}
			if err := edit(); err != nil {
				return err
			}
			d, err := timed(v.run, caches)
			// The module cache is read-only, as the go command leaves it.
			sh(work, []string{"GOMODCACHE=" + modcache}, "go", "clean", "-modcache")
			if err != nil {
				return fmt.Errorf("%s, fresh runner: %w", v.name, err)
			}
			freshResults[i] = append(freshResults[i], d)
			log.Printf("%s fresh runner %s", v.name, d.Round(time.Millisecond))
		}
	}
	results, err := measure(work, variants, cold, runs, edit)
	if err != nil {
		return err
	}
	os.Remove(filepath.Join(svc, "zz_bench.go"))

	fmt.Printf("\nThe sample built side by side on this machine, in one run (medians: cold of %d, others of %d), seconds:\n\n", cold, runs)
	printRatios(variants, printTable(variants, results), [][2]int{{0, 3}, {0, 4}, {1, 3}, {1, 4}, {2, 3}, {2, 4}})
	fmt.Printf("\nA fresh runner (empty module, build and user caches), medians of %d, seconds:\n\n", fresh)
	fmt.Println("| tool | fresh runner | slimage's ratio to it |")
	fmt.Println("|---|---|---|")
	first := median(freshResults[0])
	for i, v := range freshTools {
		ratio := ""
		if i > 0 {
			ratio = fmt.Sprintf("%.2f×", first/median(freshResults[i]))
		}
		fmt.Printf("| %s | %.2f | %s |\n", v.name, median(freshResults[i]), ratio)
	}
	return nil
}

// timings are one variant's measured runs.
type timings struct{ cold, noop, change []time.Duration }

// measure times each variant cold runs times on empty build and user caches
// (its images removed first), then runs rounds of edit, build, edit, build:
// the second build is the one-line change, a third the no-op. One variant's
// rounds run after the other's, as a developer makes them: interleaved, each
// variant follows another tool's work in the daemon, which changes what a
// build costs there (the bare commands' one-line change took 0.36 s after
// slimage's load and 1.01 s on their own).
func measure(work string, variants []variant, cold, runs int, edit func() error) ([]timings, error) {
	results := make([]timings, len(variants))
	for i, v := range variants {
		for range cold {
			removeImages(v)
			caches := []string{"GOCACHE=" + mkTemp(work), "MAGEFILE_CACHE=" + mkTemp(work), "XDG_CACHE_HOME=" + mkTemp(work)}
			if err := edit(); err != nil {
				return nil, err
			}
			d, err := timed(v.run, caches)
			if err != nil {
				return nil, fmt.Errorf("%s, cold: %w", v.name, err)
			}
			results[i].cold = append(results[i].cold, d)
			log.Printf("%s cold %s", v.name, d.Round(time.Millisecond))
		}
	}
	for i, v := range variants {
		for range runs {
			if err := edit(); err != nil {
				return nil, err
			}
			if err := v.run(nil); err != nil { // builds everything else once, untimed
				return nil, fmt.Errorf("%s: %w", v.name, err)
			}
			if err := edit(); err != nil {
				return nil, err
			}
			change, err := timed(v.run, nil)
			if err != nil {
				return nil, fmt.Errorf("%s, one-line change: %w", v.name, err)
			}
			noop, err := timed(v.run, nil)
			if err != nil {
				return nil, fmt.Errorf("%s, no-op: %w", v.name, err)
			}
			results[i].change = append(results[i].change, change)
			results[i].noop = append(results[i].noop, noop)
			log.Printf("%s one-line change %s, no-op %s", v.name, change.Round(time.Millisecond), noop.Round(time.Millisecond))
		}
	}
	return results, nil
}

// printTable prints each variant's medians and spreads, and returns the
// medians (cold, no-op, one-line change) for the ratios.
func printTable(variants []variant, results []timings) [][3]float64 {
	fmt.Println("| variant | cold (empty GOCACHE) | no-op (fastest–slowest) | one-line change (fastest–slowest) | image bytes |")
	fmt.Println("|---|---|---|---|---|")
	med := make([][3]float64, len(variants))
	for i, v := range variants {
		r := results[i]
		med[i] = [3]float64{median(r.cold), median(r.noop), median(r.change)}
		var bytes []string
		for _, img := range v.images {
			bytes = append(bytes, imageBytes(img))
		}
		fmt.Printf("| %s | %.2f | %.2f %s | %.2f %s | %s |\n", v.name, med[i][0], med[i][1], spread(r.noop), med[i][2], spread(r.change), strings.Join(bytes, ", "))
	}
	return med
}

// printRatios prints the ratio table: for each pair, one variant's medians
// over another's.
func printRatios(variants []variant, med [][3]float64, pairs [][2]int) {
	fmt.Println("\n| ratio | cold | no-op | one-line change |")
	fmt.Println("|---|---|---|---|")
	for _, p := range pairs {
		a, b := med[p[0]], med[p[1]]
		fmt.Printf("| %s / %s | %.2f× | %.2f× | %.2f× |\n", variants[p[0]].name, variants[p[1]].name, a[0]/b[0], a[1]/b[1], a[2]/b[2])
	}
}

// removeImages removes every tag of v's images' repositories: ko tags
// each image by its digest as well as :latest.
func removeImages(v variant) {
	refs := v.images
	for _, img := range v.images {
		repo := img[:strings.LastIndex(img, ":")]
		out, _ := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repo).Output()
		refs = append(refs, strings.Fields(string(out))...)
	}
	exec.Command("docker", append([]string{"rmi", "-f"}, refs...)...).Run()
}

// writeBareContext fills dir with the CA bundle and the zone from
// slimage's staged rootfs, and a plain scratch Dockerfile (named
// dockerfile) for binary, with more before its ENTRYPOINT: the bare
// commands make the image slimage makes.
func writeBareContext(rootfs, dir, dockerfile, binary, more string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for src, dst := range map[string]string{"etc/ssl/certs/ca-certificates.crt": "ca-certificates.crt", "usr/share/zoneinfo/Asia/Shanghai": "Shanghai"} {
		data, err := os.ReadFile(filepath.Join(rootfs, src))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, dst), data, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, dockerfile), []byte(`FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY Shanghai /usr/share/zoneinfo/Asia/Shanghai
COPY Shanghai /etc/localtime
ENV TZ=Asia/Shanghai
USER 65532:65532
`+more+`ENTRYPOINT ["/app/`+binary+`"]
COPY `+binary+` /app/`+binary+`
`), 0o644)
}

// oneLineChange returns an edit: each call rewrites file (a Go file of a
// main package) with one line that differs from the last call's.
func oneLineChange(file string) func() error {
	edits := 0
	return func() error {
		edits++
		return os.WriteFile(file, []byte(fmt.Sprintf("package main\n\nimport \"os\"\n\nfunc init() {\n\tif os.Getenv(\"BENCH_NEVER\") == \"x\" {\n\t\tprintln(\"edit %d\")\n\t}\n}\n", edits)), 0o644)
	}
}

// workbench is what a sample's runs share: a work folder holding a copy of
// the sample and mage, ko and crane at their pinned versions, and a
// registry on 127.0.0.1 serving ko's base (empty, as scratch).
type workbench struct {
	work, svc, tools, mage string
	stop                   context.CancelFunc // the registry
}

// setUp makes the workbench for testdata/<sample>, with a .ko.yaml that
// builds each of kos (id, main package) onto the empty base with -s -w.
func setUp(root, sample string, kos [][2]string) (b *workbench, err error) {
	work, err := os.MkdirTemp("", "slimage-bench-"+sample+"-")
	if err != nil {
		return nil, err
	}
	b = &workbench{work: work, svc: filepath.Join(work, sample), mage: filepath.Join(work, "mage")}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if err := copyTree(filepath.Join(root, "testdata", sample), b.svc); err != nil {
		return nil, err
	}
	if b.tools, err = installTools(root); err != nil {
		return nil, err
	}
	if err := sh(root, nil, "go", "build", "-o", b.mage, "github.com/magefile/mage"); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	b.stop = stop
	registry, err := startRegistry(ctx, b.tools)
	if err != nil {
		return nil, err
	}
	if err := pushEmptyBase(work, b.tools, registry+"/base:latest"); err != nil {
		return nil, err
	}
	ko := "defaultBaseImage: " + registry + "/base:latest\nbuilds:\n"
	for _, k := range kos {
		ko += fmt.Sprintf("- id: %s\n  main: %s\n  ldflags: [\"-s\", \"-w\"]\n", k[0], k[1])
	}
	return b, os.WriteFile(filepath.Join(b.svc, ".ko.yaml"), []byte(ko), 0o644)
}

// close stops the registry and removes the work folder.
func (b *workbench) close() {
	if b.stop != nil {
		b.stop()
	}
	os.RemoveAll(b.work)
}

// installTools installs ko and crane at pinned versions into the user cache
// once, and returns their folder.
func installTools(root string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "slimage", "bench", "ko-"+koVersion+"-crane-"+craneVersion)
	for tool, pkg := range map[string]string{"ko": "github.com/google/ko@" + koVersion, "crane": "github.com/google/go-containerregistry/cmd/crane@" + craneVersion} {
		if _, err := os.Stat(filepath.Join(dir, tool)); err == nil {
			continue
		}
		log.Printf("installing %s into %s (once)", pkg, dir)
		if err := sh(root, []string{"GOBIN=" + dir, "GOFLAGS=", "CGO_ENABLED=0"}, "go", "install", pkg); err != nil {
			return "", fmt.Errorf("install %s: %w (the Go module proxy must be reachable once)", pkg, err)
		}
	}
	return dir, nil
}

// startRegistry serves an in-memory registry on 127.0.0.1 for ko's base
// image (nothing can be pulled from elsewhere) until ctx ends.
func startRegistry(ctx context.Context, tools string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(tools, "crane"), "registry", "serve", "--address", addr)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go cmd.Wait()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("the registry on %s did not start", addr)
}

// pushEmptyBase pushes a base as bare as scratch for the host's platform:
// one empty layer (Docker cannot save an image with none).
func pushEmptyBase(work, tools, ref string) error {
	empty := filepath.Join(work, "empty.tar")
	f, err := os.Create(empty)
	if err != nil {
		return err
	}
	tar.NewWriter(f).Close()
	f.Close()
	crane := filepath.Join(tools, "crane")
	if err := sh(work, nil, crane, "append", "--insecure", "-f", empty, "-t", ref); err != nil {
		return err
	}
	return sh(work, nil, crane, "mutate", "--insecure", "--set-platform", "linux/"+hostArch(), ref)
}

func hostArch() string {
	out, _ := exec.Command("go", "env", "GOARCH").Output()
	return strings.TrimSpace(string(out))
}

func imageBytes(ref string) string {
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Size}}", ref).Output()
	if err != nil {
		return "?"
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// spread is the fastest and the slowest of ds, for the table.
func spread(ds []time.Duration) string {
	if len(ds) < 2 {
		return ""
	}
	return fmt.Sprintf("(%.2f–%.2f)", slices.Min(ds).Seconds(), slices.Max(ds).Seconds())
}

func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return m.Seconds()
}

func sh(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return nil
}

func mkTemp(work string) string {
	d, _ := os.MkdirTemp(work, "cache-")
	return d
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if rel == "dist" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
}
