package images_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/go-archive"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/verify"
	"github.com/slimage/slimage/internal/testkit"
)

// goBuilderImage stands in for the official golang image, which cannot be
// pulled here: the host's own GOROOT, busybox for RUN's shell, the CA
// bundle and the zone, with the standard library compiled in advance.
var goBuilder struct {
	once sync.Once
	err  error
}

const goBuilderTag = "slimage-test/golang:builder"

func goBuilderImage(t *testing.T, cli *client.Client) string {
	t.Helper()
	goBuilder.once.Do(func() {
		if _, err := cli.ImageInspect(context.Background(), goBuilderTag); err == nil {
			return
		}
		goroot := strings.TrimSpace(testkit.Go(t, testkit.RepoRoot(t), "env", "GOROOT"))
		bb, err := exec.LookPath("busybox")
		if err != nil {
			goBuilder.err = err
			return
		}
		dir := t.TempDir()
		for _, sub := range []string{"bin", "pkg", "src", "lib", "go.env", "VERSION"} {
			if out, err := exec.Command("cp", "-a", filepath.Join(goroot, sub), filepath.Join(dir, "goroot", sub)).CombinedOutput(); err != nil {
				if err := os.MkdirAll(filepath.Join(dir, "goroot"), 0o755); err != nil {
					goBuilder.err = err
					return
				}
				if out, err = exec.Command("cp", "-a", filepath.Join(goroot, sub), filepath.Join(dir, "goroot", sub)).CombinedOutput(); err != nil {
					goBuilder.err = &exec.ExitError{Stderr: out}
					return
				}
			}
		}
		testkit.Run(t, exec.Command("cp", bb, filepath.Join(dir, "busybox")))
		testkit.Run(t, exec.Command("cp", "/etc/ssl/certs/ca-certificates.crt", filepath.Join(dir, "ca-certificates.crt")))
		testkit.Run(t, exec.Command("cp", "/usr/share/zoneinfo/Asia/Shanghai", filepath.Join(dir, "Shanghai")))
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(`FROM scratch
COPY busybox /bin/busybox
COPY goroot/ /usr/local/go/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY Shanghai /usr/share/zoneinfo/Asia/Shanghai
ENV PATH=/usr/local/go/bin:/bin GOPATH=/go GOTOOLCHAIN=local GOCACHE=/gocache HOME=/root
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp && chmod 1777 /tmp && CGO_ENABLED=0 go build -trimpath std
`), 0o644)
		ctxTar, err := archive.TarWithOptions(dir, &archive.TarOptions{})
		if err != nil {
			goBuilder.err = err
			return
		}
		defer ctxTar.Close()
		res, err := cli.ImageBuild(context.Background(), ctxTar, client.ImageBuildOptions{Tags: []string{goBuilderTag}, Remove: true, ForceRemove: true})
		if err != nil {
			goBuilder.err = err
			return
		}
		defer res.Body.Close()
		goBuilder.err = jsonmessage.DisplayJSONMessagesStream(res.Body, io.Discard, 0, false, nil)
	})
	if goBuilder.err != nil {
		t.Fatalf("build the stand-in Go builder image: %v", goBuilder.err)
	}
	return goBuilderTag
}

// loopbackGoProxy serves testdata/goproxy over HTTP on 127.0.0.1.
func loopbackGoProxy(t *testing.T) string {
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(testkit.RepoRoot(t), "testdata", "goproxy"))))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestMultistageImage(t *testing.T) {
	cli := docker(t)
	if _, err := exec.LookPath("busybox"); err != nil {
		testkit.Unavailable(t, "busybox is missing (the stand-in Go builder image needs it)", "apt-get install busybox-static; .ci/run does")
	}
	testkit.HermeticGo(t)
	t.Setenv("GOPROXY", loopbackGoProxy(t))
	builder := goBuilderImage(t, cli)
	removeNewDanglingImages(t, cli) // the build stages and the images rebuilds untag
	dir := testkit.CopySample(t, "hello")
	// SLIMAGE_EXTRA_CA reaches the multistage image too: verify's TLS call
	// to a loopback server with a certificate from that CA passes.
	caPEM, cert := newCA(t, "slimage multistage test CA")
	caFile := filepath.Join(t.TempDir(), "test-ca.pem")
	os.WriteFile(caFile, caPEM, 0o644)
	server := tlsServer(t, cert) + "/"
	set := func(c *config.Config) {
		c.VerifyHealth, c.VerifyTLS = "/healthz", server
		c.ExtraCA = []string{caFile}
		c.Version = "v1.0.0"
	}
	host := sampleConfig(t, cli, dir, set)
	buildSample(t, host)
	multi := sampleConfig(t, cli, dir, func(c *config.Config) {
		set(c)
		c.DockerfileMode, c.GoImage, c.Image = "multistage", builder, host.Image+"-multistage"
	})
	t.Cleanup(func() { removeImage(cli, multi.Image) })

	buildImage := func() string {
		var progress bytes.Buffer
		if _, err := build.Build(context.Background(), multi, &progress, io.Discard); err != nil {
			t.Fatalf("%v\n%s", err, progress.String())
		}
		return progress.String()
	}
	buildImage()
	rep, err := verify.Verify(context.Background(), multi, multi.Image, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if tlsCheck := findCheck(rep, "TLS "+server); !tlsCheck.Pass || !strings.Contains(tlsCheck.Got, "root slimage multistage test CA") {
		t.Errorf("the extra CA did not reach the multistage image: %+v", tlsCheck)
	}
	// The same image as the host mode's: files, modes, owners and config.
	if h, m := imageFiles(t, cli, host.Image), imageFiles(t, cli, multi.Image); !reflect.DeepEqual(h, m) {
		t.Errorf("files differ:\nhost:\n%s\nmultistage:\n%s", strings.Join(h, "\n"), strings.Join(m, "\n"))
	}
	hi, _ := cli.ImageInspect(context.Background(), host.Image)
	mi, _ := cli.ImageInspect(context.Background(), multi.Image)
	delete(hi.Config.Labels, build.ContextLabel)
	for _, f := range []struct {
		name string
		h, m any
	}{{"user", hi.Config.User, mi.Config.User}, {"env", hi.Config.Env, mi.Config.Env},
		{"entrypoint", hi.Config.Entrypoint, mi.Config.Entrypoint}, {"workdir", hi.Config.WorkingDir, mi.Config.WorkingDir},
		{"ports", hi.Config.ExposedPorts, mi.Config.ExposedPorts}, {"labels", hi.Config.Labels, mi.Config.Labels}} {
		if !reflect.DeepEqual(f.h, f.m) {
			t.Errorf("%s: host %v, multistage %v", f.name, f.h, f.m)
		}
	}

	// A source-only change reuses the go mod download layer; a go.sum change does not.
	testkit.WriteFiles(t, dir, map[string]string{"extra.go": "package main\n\nfunc init() { println(\"changed\") }\n"})
	if !downloadCached(t, buildImage()) {
		t.Error("after a source-only change, go mod download ran again")
	}
	sum := filepath.Join(dir, "go.sum")
	data, _ := os.ReadFile(sum)
	os.WriteFile(sum, append(data, "example.com/unused v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"...), 0o644)
	if downloadCached(t, buildImage()) {
		t.Error("after a go.sum change, the go mod download layer was reused")
	}

	// A failing step's own words reach the error.
	t.Setenv("GOPROXY", "off")
	_, err = build.Build(context.Background(), multi, io.Discard, io.Discard)
	testkit.ErrorMentions(t, err, "build image "+multi.Image, "github.com/google/uuid@v1.6.0: module lookup disabled by GOPROXY=off")
}

func TestMultistageWithoutBuilderImage(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.DockerfileMode, c.GoImage = "multistage", "127.0.0.1:1/slimage/absent:nope" // a closed loopback registry
	})
	_, err := build.Build(context.Background(), c, io.Discard, io.Discard)
	testkit.ErrorMentions(t, err, "build image "+c.Image, "builder image 127.0.0.1:1/slimage/absent:nope", "SLIMAGE_GO_IMAGE")
}

// downloadCached reads the legacy builder's output: the step that runs go
// mod download is followed by "Using cache" when its layer is reused.
func downloadCached(t *testing.T, progress string) bool {
	t.Helper()
	i := strings.Index(progress, "RUN go mod download")
	if i < 0 {
		t.Fatalf("no go mod download step in the build output:\n%s", progress)
	}
	rest := progress[i:]
	next := strings.Index(rest, "\nStep ")
	if next < 0 {
		next = len(rest)
	}
	return strings.Contains(rest[:next], "Using cache")
}

// A module without dependencies has no go.sum: its multistage Dockerfile
// still builds. The proxies reach the builder stage as the Docker CLI
// passes them: config.json's for this engine, the caller's own over them.
func TestMultistageWithoutGoSumAndBehindAProxy(t *testing.T) {
	cli := docker(t)
	if _, err := exec.LookPath("busybox"); err != nil {
		testkit.Unavailable(t, "busybox is missing (the stand-in Go builder image needs it)", "apt-get install busybox-static; .ci/run does")
	}
	testkit.HermeticGo(t)
	// The stand-in builder's go command first says which proxies it sees.
	witness := "slimage-test/golang:proxy-witness"
	wdir := t.TempDir()
	testkit.WriteFiles(t, wdir, map[string]string{"Dockerfile": "FROM " + goBuilderImage(t, cli) + "\n" +
		`RUN mv /usr/local/go/bin/go /usr/local/go/bin/go.real && printf '#!/bin/sh\necho "proxies seen: HTTPS_PROXY=$HTTPS_PROXY no_proxy=$no_proxy" >&2\nexec /usr/local/go/bin/go.real "$@"\n' > /usr/local/go/bin/go && chmod 755 /usr/local/go/bin/go` + "\n"})
	wtar, err := archive.TarWithOptions(wdir, &archive.TarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cli.ImageBuild(context.Background(), wtar, client.ImageBuildOptions{Tags: []string{witness}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonmessage.DisplayJSONMessagesStream(res.Body, io.Discard, 0, false, nil); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	t.Cleanup(func() { removeImage(cli, witness) })

	dir := filepath.Join(t.TempDir(), "nosum")
	testkit.WriteFiles(t, dir, map[string]string{
		"go.mod": "module example.com/nosum\n\ngo 1.24\n",
		// Unique sources: Docker leaves the proxy arguments out of its cache
		// keys, so a cached build step would not run (and say) anything.
		"main.go": "package main\n\nimport \"net/http\"\n\n// " + time.Now().String() + "\nfunc main() { http.ListenAndServe(\":8080\", nil) }\n",
	})
	dockerConfig := t.TempDir()
	testkit.WriteFiles(t, dockerConfig, map[string]string{"config.json": `{"proxies":{"default":{"httpsProxy":"http://from-config.invalid:3128","noProxy":"internal.invalid"}}}`})
	t.Setenv("DOCKER_CONFIG", dockerConfig)
	t.Setenv("HTTPS_PROXY", "http://from-env.invalid:3128") // the caller's own wins
	c := sampleConfig(t, cli, dir, func(c *config.Config) {
		c.DockerfileMode, c.GoImage = "multistage", witness
	})
	var progress bytes.Buffer
	if _, err := build.Build(context.Background(), c, &progress, io.Discard); err != nil {
		t.Fatalf("multistage build of a module without go.sum: %v\n%s", err, progress.String())
	}
	if want := "proxies seen: HTTPS_PROXY=http://from-env.invalid:3128 no_proxy=internal.invalid"; !strings.Contains(progress.String(), want) {
		t.Errorf("the builder stage did not see the proxies (want %q):\n%s", want, progress.String())
	}
}

// docs/multistage.md's command, as written, builds the committed
// multistage Dockerfile in a Docker-only CI (here the legacy builder, so
// the ignore file is copied as the page says), and the image passes verify.
func TestDocumentedDockerBuild(t *testing.T) {
	cli := docker(t)
	if _, err := exec.LookPath("busybox"); err != nil {
		testkit.Unavailable(t, "busybox is missing (the stand-in Go builder image needs it)", "apt-get install busybox-static; .ci/run does")
	}
	testkit.HermeticGo(t)
	page, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "docs", "multistage.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(page), "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	command := strings.ReplaceAll(block, "\\\n", " ")
	if !ok || !strings.HasPrefix(command, "docker build ") {
		t.Fatalf("docs/multistage.md shows no docker build command:\n%s", block)
	}
	builder := goBuilderImage(t, cli)
	removeNewDanglingImages(t, cli)
	dir := testkit.CopySample(t, "shop") // no dependencies: the build stage downloads nothing
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "shop"}} {
		testkit.Run(t, exec.Command("git", append([]string{"-C", dir}, args...)...))
	}
	c := sampleConfig(t, cli, dir, func(c *config.Config) {
		c.DockerfileMode, c.GoImage, c.DockerfileOut = "multistage", builder, "Dockerfile"
		c.Main, c.Ports, c.VerifyHealth = "./cmd/api", []string{"8080", "9090"}, "/healthz"
		c.VersionVar, c.VerifyTLS = "example.com/shop/internal/buildinfo.Version", "off"
	})
	if _, err := build.WriteMultistage(context.Background(), c); err != nil { // what you commit
		t.Fatal(err)
	}
	ignore, err := os.ReadFile(filepath.Join(dir, "Dockerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WriteFiles(t, dir, map[string]string{".dockerignore": string(ignore)})
	ref := "myapp:slimage-docs-test"
	t.Cleanup(func() { removeImage(cli, ref) })
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "VERSION=slimage-docs-test", "DOCKER_BUILDKIT=0")
	testkit.Run(t, cmd)
	if _, err := verify.Verify(context.Background(), c, ref, io.Discard, io.Discard); err != nil {
		t.Errorf("the image docs/multistage.md's command built fails verify: %v", err)
	}
}
