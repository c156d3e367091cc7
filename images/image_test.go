package images_test

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/verify"
	"github.com/slimage/slimage/internal/testkit"
)

// docker connects to the daemon. Without one the test is skipped, unless CI
// is set: there a missing daemon is a failure, not a reason to pass.
func docker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := daemon.Connect(context.Background(), io.Discard)
	if err != nil {
		testkit.Unavailable(t, fmt.Sprintf("Docker is unreachable (%v)", err), "start the daemon; .ci/run does")
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func TestMain(m *testing.M) {
	testkit.ContainerEnv()
	code := m.Run()
	// After the whole suite, no container that verify started for it may
	// be left (another suite's, on the same daemon, are its own business).
	if cli, err := daemon.Connect(context.Background(), io.Discard); err == nil {
		res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true,
			Filters: make(client.Filters).Add("label", testkit.RunLabel+"="+testkit.RunID)})
		if err == nil && len(res.Items) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d containers started by verify are left (docker ps -a --filter label=%s=%s)\n", len(res.Items), testkit.RunLabel, testkit.RunID)
			code = 1
		}
		cli.Close()
	}
	os.Exit(code)
}

var refSafe = regexp.MustCompile(`[^a-z0-9]+`)

// sampleConfig resolves the configuration for a copy of the sample in dir,
// tagging a test-only image that is removed when the test ends.
func sampleConfig(t testing.TB, cli *client.Client, dir string, set func(*config.Config)) *config.Config {
	t.Helper()
	ref := "slimage-test/hello:" + strings.Trim(refSafe.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	defaults := []func(*config.Config){func(c *config.Config) {
		c.Dir, c.Dist, c.Version, c.Image = dir, filepath.Join(dir, "dist"), "v0.0.0-test", ref
		c.Ports = []string{"8080"}
		// This suite's own: its verify containers, and its images (so that
		// cleaning up dangling images touches no other suite's).
		c.VerifyLabels = map[string]string{testkit.RunLabel: testkit.RunID}
		c.Labels = map[string]string{testkit.RunLabel: testkit.RunID}
	}}
	var overrides []func(*config.Config)
	if set != nil {
		overrides = append(overrides, set)
	}
	c, err := config.Load(context.Background(), defaults, overrides, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeImage(cli, ref) })
	return c
}

func removeImage(cli *client.Client, ref string) {
	cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
}

// buildSample builds the sample's binary and image.
func buildSample(t *testing.T, c *config.Config) build.Built {
	t.Helper()
	if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	b, err := build.Build(context.Background(), c, io.Discard, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^image ` + regexp.QuoteMeta(c.Image) + `  .*\(binary `).MatchString(out.String()) {
		t.Errorf("summary line: %q", out.String())
	}
	if len(b) != 1 {
		t.Fatalf("built %d images, want 1", len(b))
	}
	return b[0]
}

func TestSampleImage(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), nil)
	b := buildSample(t, c)
	ctx := context.Background()

	inspect, err := cli.ImageInspect(ctx, b.Ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg := inspect.Config
	if cfg.User != "65532:65532" {
		t.Errorf("user %q", cfg.User)
	}
	if !slices.Contains(cfg.Env, "TZ=Asia/Shanghai") {
		t.Errorf("env %v lacks TZ=Asia/Shanghai", cfg.Env)
	}
	if strings.Join(cfg.Entrypoint, " ") != "/app/hello" || len(cfg.Cmd) != 0 || cfg.WorkingDir != "/app" {
		t.Errorf("entrypoint %v cmd %v workdir %q", cfg.Entrypoint, cfg.Cmd, cfg.WorkingDir)
	}
	if _, ok := cfg.ExposedPorts["8080/tcp"]; !ok || len(cfg.ExposedPorts) != 1 {
		t.Errorf("exposed ports %v", cfg.ExposedPorts)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.title":   "hello",
		"org.opencontainers.image.version": "v0.0.0-test",
		"org.opencontainers.image.source":  "https://example.com/hello",
	} {
		if got := cfg.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}

	// Exactly these files, with these modes: nothing else is in the image.
	want := []string{
		"app/ drwxr-xr-x 0:0", "app/hello -rwxr-xr-x 0:0",
		"etc/ drwxr-xr-x 0:0", "etc/group -rw-r--r-- 0:0", "etc/localtime -rw-r--r-- 0:0", "etc/passwd -rw-r--r-- 0:0",
		"etc/ssl/ drwxr-xr-x 0:0", "etc/ssl/certs/ drwxr-xr-x 0:0", "etc/ssl/certs/ca-certificates.crt -rw-r--r-- 0:0",
		"tmp/ dtrwxrwxrwx 0:0",
		"usr/ drwxr-xr-x 0:0", "usr/share/ drwxr-xr-x 0:0", "usr/share/zoneinfo/ drwxr-xr-x 0:0",
		"usr/share/zoneinfo/Asia/ drwxr-xr-x 0:0", "usr/share/zoneinfo/Asia/Shanghai -rw-r--r-- 0:0",
	}
	files := imageFiles(t, cli, b.Ref)
	if strings.Join(files, "\n") != strings.Join(want, "\n") {
		t.Errorf("image files:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
	}

	// Started as built, it serves and runs on Shanghai time.
	ctr, err := testcontainers.Run(ctx, b.Ref,
		testcontainers.WithExposedPorts("8080/tcp"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort("8080/tcp")))
	t.Cleanup(func() { testcontainers.TerminateContainer(ctr) })
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := ctr.PortEndpoint(ctx, "8080/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	var tr struct{ TZ, Local, Offset string }
	getJSON(t, endpoint+"/time", &tr)
	if tr.TZ != "Asia/Shanghai" || tr.Local != "Asia/Shanghai" || tr.Offset != "+08:00" {
		t.Errorf("/time = %+v, want Asia/Shanghai at +08:00", tr)
	}
}

// A one-line source change rebuilds only the binary layer: every other
// layer's digest stays the same, and no build step creates a container
// but, with Docker's builder, the binary's COPY (every other step comes
// from its cache).
func TestSourceChangeRebuildsOnlyTheBinaryLayer(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	for _, tt := range []struct {
		builder string // "" is the default, the OCI builder
		request string // what the rebuild asks of the engine
	}{
		{"", "/images/load"},
		{"docker", "/build"},
	} {
		t.Run(cmp.Or(tt.builder, "default"), func(t *testing.T) {
			dir := testkit.CopySample(t, "hello")
			c := sampleConfig(t, cli, dir, func(c *config.Config) { c.Builder = tt.builder })
			firstBuild := buildSample(t, c)
			t.Cleanup(func() { removeImage(cli, firstBuild.ID) }) // untagged by the rebuild
			first := layers(t, cli, firstBuild.Ref)
			// Nothing changed: nothing is built, the tag still names the same
			// image, and the staged context is not even rewritten.
			staged := filepath.Join(c.Dist, "image", "Dockerfile")
			before, err := os.Stat(staged)
			if err != nil {
				t.Fatal(err)
			}
			if again := buildSample(t, c); !again.Unchanged || again.ID != firstBuild.ID {
				t.Errorf("a no-op rebuild gave %+v, want the unchanged image %s", again, firstBuild.ID)
			}
			if after, err := os.Stat(staged); err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
				t.Errorf("a no-op rebuild restaged %s", staged)
			}
			testkit.WriteFiles(t, dir, map[string]string{"extra.go": "package main\n\nvar _ = \"one more line\"\n\nfunc init() { println(\"changed\") }\n"})
			if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
				t.Fatal(err)
			}
			// The rebuild's requests go through a proxy that keeps them.
			proxy := testkit.NewEngineProxy(t)
			t.Setenv("DOCKER_HOST", "unix://"+proxy.Socket)
			var progress bytes.Buffer
			b, err := build.Build(context.Background(), c, &progress, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !proxy.Saw("POST", tt.request) {
				t.Errorf("the rebuild sent no POST …%s", tt.request)
			}
			if c.Builder == "docker" {
				dockerStepsCached(t, progress.String())
			} else if proxy.Saw("POST", "/build") || proxy.Saw("POST", "/containers/create") {
				t.Error("the OCI builder asked the engine to build or to create a container")
			}
			second := layers(t, cli, b[0].Ref)
			if len(first) != len(second) || len(first) < 2 {
				t.Fatalf("layer counts differ: %d vs %d", len(first), len(second))
			}
			last := len(first) - 1
			for i := range last {
				if first[i] != second[i] {
					t.Errorf("layer %d changed: %s → %s", i, first[i], second[i])
				}
			}
			if first[last] == second[last] {
				t.Error("the binary layer did not change")
			}
		})
	}
}

// dockerStepsCached checks that Docker's builder ran every step from its
// cache but the binary's COPY, the last.
func dockerStepsCached(t *testing.T, progress string) {
	t.Helper()
	steps := regexp.MustCompile(`(?m)^Step \d+/\d+ : .*$`).FindAllStringIndex(progress, -1)
	for i, at := range steps {
		end := len(progress)
		if i+1 < len(steps) {
			end = steps[i+1][0]
		}
		step, rest := progress[at[0]:at[1]], progress[at[1]:end]
		cached := strings.Contains(rest, "Using cache") || strings.Contains(step, ": FROM ")
		if last := i == len(steps)-1; last && (cached || !strings.HasPrefix(step[strings.Index(step, ": ")+2:], "COPY bin/")) {
			t.Errorf("the last step %q (cached %v) is not the binary's COPY, rebuilt", step, cached)
		} else if !last && !cached {
			t.Errorf("%q ran again after a code change:\n%s", step, rest)
		}
	}
	if len(steps) < 5 {
		t.Errorf("the build printed %d steps:\n%s", len(steps), progress)
	}
}

func TestBadInput(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	dir := testkit.CopySample(t, "hello")
	notPEM := filepath.Join(dir, "corp-ca.pem")
	os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o644)

	tests := []struct {
		name string
		set  func(*config.Config)
		env  map[string]string
		want []string
	}{
		{"extra CA that is not PEM", func(c *config.Config) { c.ExtraCA = []string{notPEM} },
			nil, []string{"SLIMAGE_EXTRA_CA", notPEM, "no PEM certificate"}},
		{"missing run-time file", func(c *config.Config) { c.Files = []string{"conf.yaml:/app/conf.yaml"} },
			nil, []string{"SLIMAGE_FILES", "conf.yaml", "does not exist"}},
		{"no CA bundle", nil, map[string]string{"SSL_CERT_FILE": filepath.Join(dir, "no-such-bundle.crt")},
			[]string{"SSL_CERT_FILE", "no-such-bundle.crt"}},
		{"no Docker daemon", nil, map[string]string{"DOCKER_HOST": "unix://" + filepath.Join(dir, "closed.sock")},
			[]string{"connect to the container engine at unix://", "closed.sock (DOCKER_HOST): dial unix", "start Docker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sampleConfig(t, cli, dir, tt.set)
			if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := build.Build(context.Background(), c, io.Discard, io.Discard)
			testkit.ErrorMentions(t, err, tt.want...)
			if _, err := cli.ImageInspect(context.Background(), c.Image); err == nil {
				t.Errorf("image %s was tagged despite the error", c.Image)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(c.Dist, ".image-*")); len(leftovers) > 0 {
				t.Errorf("half-staged context left behind: %v", leftovers)
			}
		})
	}
}

// Ctrl-C in the middle of a build: the tag is not set, no container of the
// builder is left, and no half-staged context or half-written layout stays
// behind. The default builder is cancelled as its load into Docker begins,
// Docker's as the builder starts printing.
func TestCancelledBuildLeavesNothing(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	for _, builder := range []string{"", "docker"} {
		t.Run(cmp.Or(builder, "default"), func(t *testing.T) {
			c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) { c.TZ = "Europe/Berlin"; c.Builder = builder })
			if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			// The legacy builder keeps the steps it finished as untagged cache
			// images, as an interrupted docker build does.
			removeNewDanglingImages(t, cli)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var progress io.Writer = cancelOnWrite(cancel)
			if c.Builder != "docker" {
				proxy := testkit.NewEngineProxy(t)
				proxy.OnRequest = func(method, path string) {
					if method == "POST" && strings.HasSuffix(path, "/images/load") {
						cancel()
					}
				}
				t.Setenv("DOCKER_HOST", "unix://"+proxy.Socket)
				progress = io.Discard
			}
			_, err := build.Build(ctx, c, progress, io.Discard)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			if _, err := cli.ImageInspect(context.Background(), c.Image); err == nil {
				t.Errorf("image %s was tagged by a cancelled build", c.Image)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(c.Dist, ".*-*")); len(leftovers) > 0 {
				t.Errorf("half-written folder left behind: %v", leftovers)
			}
			// The daemon removes the builder's containers asynchronously after
			// the client goes away; give it a moment before looking.
			deadline := time.Now().Add(10 * time.Second)
			for len(builderContainers(t, cli, began)) > 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if left := builderContainers(t, cli, began); len(left) > 0 {
				t.Errorf("containers left after a cancelled build: %v", left)
			}
		})
	}
}

type cancelOnWrite context.CancelFunc

func (c cancelOnWrite) Write(p []byte) (int, error) { c(); return len(p), nil }

// builderContainers are the containers created since began that no verify
// started: a builder's. Another suite's on a shared daemon come and go
// too; a container left behind stays.
func builderContainers(t *testing.T, cli *client.Client, began time.Time) []string {
	t.Helper()
	res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range res.Items {
		if c.Created >= began.Unix()-1 && c.Labels[verify.SessionLabel] == "" {
			ids = append(ids, c.ID[:12])
		}
	}
	return ids
}

// removeNewDanglingImages removes, when the test ends, the untagged images
// that appeared during it: the builder's cache of a cancelled build, the
// build stage of a multistage build, an image a rebuild untagged. The
// daemon may commit a step after the client went away, so it keeps looking
// until none has appeared for a second.
func removeNewDanglingImages(t *testing.T, cli *client.Client) {
	t.Helper()
	before := danglingImages(t, cli)
	t.Cleanup(func() {
		quiet := time.Now()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && time.Since(quiet) < time.Second; {
			for id := range danglingImages(t, cli) {
				if !before[id] {
					removeImage(cli, id)
					quiet = time.Now()
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func danglingImages(t *testing.T, cli *client.Client) map[string]bool {
	t.Helper()
	res, err := cli.ImageList(context.Background(), client.ImageListOptions{Filters: make(client.Filters).Add("dangling", "true").Add("label", testkit.RunLabel+"="+testkit.RunID)})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, img := range res.Items {
		ids[img.ID] = true
	}
	return ids
}

func TestInvalidImageReference(t *testing.T) {
	dir := testkit.CopySample(t, "hello")
	_, err := config.Load(context.Background(), []func(*config.Config){func(c *config.Config) { c.Dir = dir }}, nil,
		func(k string) (string, bool) {
			return map[string]string{"SLIMAGE_IMAGE": "Hello/World::x"}[k], k == "SLIMAGE_IMAGE"
		})
	testkit.ErrorMentions(t, err, "SLIMAGE_IMAGE", "Hello/World::x")
}

// imageFiles lists every entry of every layer as "path mode uid:gid", sorted.
func imageFiles(t *testing.T, cli *client.Client, ref string) []string {
	t.Helper()
	res, err := cli.ImageSave(context.Background(), []string{ref})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	blobs := map[string][]byte{}
	var manifest []struct{ Layers []string }
	tr := tar.NewReader(res)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Name == "manifest.json" {
			json.Unmarshal(data, &manifest)
		}
		blobs[h.Name] = data
	}
	if len(manifest) != 1 {
		t.Fatalf("docker save: %d manifests", len(manifest))
	}
	// The filesystem the layers make together: a later layer's entry for a
	// path (a folder both hold) replaces an earlier one's.
	entries := map[string]string{}
	for _, l := range manifest[0].Layers {
		lt := tar.NewReader(bytes.NewReader(blobs[l]))
		for {
			h, err := lt.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			entries[h.Name] = fmt.Sprintf("%s %s %d:%d", h.Name, h.FileInfo().Mode(), h.Uid, h.Gid)
		}
	}
	var files []string
	for _, f := range entries {
		files = append(files, f)
	}
	sort.Strings(files)
	return files
}

func layers(t *testing.T, cli *client.Client, ref string) []string {
	t.Helper()
	inspect, err := cli.ImageInspect(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return inspect.RootFS.Layers
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
