package images_test

import (
	"context"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/internal/testkit"
)

// A private SLIMAGE_GO_IMAGE: the daemon pulls it with the credentials in
// the Docker CLI's config.json, as docker build would; without them, the
// error says to log in.
func TestMultistagePullsAPrivateBuilderImage(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	const user, password = "slimage", "s3cret"
	var pulls atomic.Int32
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="slimage test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") {
			pulls.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/slimage/golang:private"

	// A stand-in without a shell: once pulled, the build fails at its first RUN.
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeImage(cli, ref) })

	dockerConfig := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dockerConfig)
	writeConfig := func(content string) {
		if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.DockerfileMode, c.GoImage = "multistage", ref
	})

	writeConfig(`{"auths":{"` + host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(user+":"+password)) + `"}}}`)
	_, err = build.Build(context.Background(), c, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("a builder image without a shell built")
	}
	if pulls.Load() == 0 || strings.Contains(err.Error(), "could not be pulled") {
		t.Errorf("the builder image was not pulled with config.json's credentials (%d authorized manifest requests): %v", pulls.Load(), err)
	}

	removeImage(cli, ref)
	writeConfig(`{}`)
	_, err = build.Build(context.Background(), c, io.Discard, io.Discard)
	testkit.ErrorMentions(t, err, "builder image "+ref, "could not be pulled", "docker login")
}
