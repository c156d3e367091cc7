package images_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/deploy"
	"github.com/slimage/slimage/images/deploy/kube"
	"github.com/slimage/slimage/images/verify"
	"github.com/slimage/slimage/internal/testkit"
)

// writePlan reads manifest as the deploy step does and writes the plan
// verify reads, for c's service.
func writePlan(t *testing.T, c *config.Config, manifest string) {
	t.Helper()
	abs, _ := filepath.Abs(manifest)
	p, err := kube.Plan([]kube.Manifest{{Path: abs, Name: manifest}}, kube.Service{Name: c.Binary, Repositories: []string{c.Image}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Containers) == 0 {
		t.Fatalf("%s: no container runs %s", manifest, c.Binary)
	}
	c.Manifests = []string{abs}
	os.MkdirAll(c.Dist, 0o755)
	if err := deploy.Write(filepath.Join(c.Dist, config.DeployPlan), p); err != nil {
		t.Fatal(err)
	}
}

// Services that run as built and under the restricted profile, and not as
// their deployment's manifest runs them: each is rejected by exactly the
// check meant for it, naming the manifest file, the object, the container
// and the field.
func TestVerifyAgainstManifests(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	noContainersLeft(t, cli)
	tests := []struct {
		manifest   string // under testdata/deploy
		dockerfile string
		set        func(*config.Config)
		failed     string
		cause      []string
	}{
		{"read-only-root", "broken/writes-image-files.Dockerfile", nil, verify.CheckDeployed,
			[]string{"read-only-root.yaml: Deployment shop/hello, container hello: securityContext.readOnlyRootFilesystem", "open /data/state: read-only file system", "emptyDir at /data"}},
		{"arbitrary-uid", "broken/owner-only-file.Dockerfile", nil, verify.CheckDeployed,
			[]string{"container hello: securityContext.runAsUser", "open /data/private/state.json: permission denied as 1000680000:0"}},
		{"wrong-port", "fixture/Dockerfile", nil, verify.CheckContainerPort + " 8080",
			[]string{"container hello: ports.containerPort 8080", "connection refused"}},
		{"readiness-404", "fixture/Dockerfile", nil, deploy.Readiness,
			[]string{"container hello: readinessProbe.httpGet /ready on http: 404 Not Found", "never passed"}},
		{"startup-too-short", "fixture/Dockerfile", nil, deploy.Startup,
			[]string{"container hello: startupProbe.httpGet /healthz on 8080", "restarts the container after 2 failures 1s apart", "CrashLoopBackOff"}},
		{"liveness-fails", "fixture/Dockerfile", func(c *config.Config) { c.VerifySettle = 6 * time.Second }, deploy.Liveness,
			[]string{"container hello: livenessProbe.httpGet /healthz on 8080", "503 Service Unavailable", "restarts it"}},
		{"exec-probe", "fixture/Dockerfile", nil, deploy.Liveness,
			[]string{"container hello: livenessProbe.exec.command", "runs /bin/sh, which the image does not have"}},
		{"slow-drain", "fixture/Dockerfile", nil, verify.CheckGrace,
			[]string{"container hello: terminationGracePeriodSeconds", "kills it at 5s"}},
		{"memory", "fixture/Dockerfile", nil, verify.CheckDeployed,
			[]string{"container hello: resources.limits.memory", "OOMKilled", "64.0 MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.manifest, func(t *testing.T) {
			c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
				c.VerifyTLS, c.VerifyTimeout, c.VerifyHealth = "off", 5*time.Second, "/healthz"
			})
			brokenImage(t, cli, c, tt.dockerfile, "")
			c.TZ = "Asia/Shanghai"
			writePlan(t, c, filepath.Join("testdata", "deploy", tt.manifest+".yaml"))
			if tt.set != nil {
				tt.set(c)
			}
			rep, err := verify.Verify(context.Background(), c, c.Image, io.Discard, io.Discard)
			testkit.ErrorMentions(t, err, "verify "+c.Image, "1 of", "checks failed")
			if rep == nil {
				t.Fatal("no report")
			}
			failed := findCheck(rep, tt.failed)
			if failed.Pass {
				t.Fatalf("check %q did not fail: %+v", tt.failed, rep.Checks)
			}
			for _, w := range tt.cause {
				if !strings.Contains(failed.Cause, w) {
					t.Errorf("cause %q does not mention %q", failed.Cause, w)
				}
			}
			if !slices.ContainsFunc(rep.Checks, func(ch verify.Check) bool { return ch.Name == verify.CheckDeployed }) {
				t.Errorf("no %s row: %+v", verify.CheckDeployed, rep.Checks)
			}
		})
	}
}

// The sample, with the manifest that deploys it (restricted security
// context, an emptyDir for /tmp, a ConfigMap's value in its args, probes,
// a memory limit, a grace period), passes every check, the manifest's
// included.
func TestVerifySampleWithManifest(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.VerifyHealth, c.VerifyTLS = "/healthz", "off"
	})
	buildSample(t, c)
	writePlan(t, c, filepath.Join("..", "testdata", "hello", "deploy", "hello.yaml"))
	rep, err := verify.Verify(context.Background(), c, c.Image, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("%v\n%+v", err, rep)
	}
	want := []string{verify.CheckDeployed, verify.CheckContainerPort + " 8080", deploy.Startup, deploy.Readiness, deploy.Liveness, verify.CheckGrace}
	for _, name := range want {
		if ch := findCheck(rep, name); !ch.Pass {
			t.Errorf("%s: %+v", name, ch)
		}
	}
	// The manifest runs it; the restricted profile and the stop as built
	// give way to it.
	for _, name := range []string{verify.CheckRestricted, verify.CheckStops} {
		if ch := findCheck(rep, name); ch.Name == name {
			t.Errorf("%s ran beside the manifest: %+v", name, ch)
		}
	}
}
