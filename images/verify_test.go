package images_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/go-archive"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/stage"
	"github.com/slimage/slimage/images/verify"
	"github.com/slimage/slimage/internal/testkit"
)

// verifySample builds the sample's image with set applied and verifies it.
func verifySample(t *testing.T, cli *client.Client, set func(*config.Config)) (*config.Config, *verify.Report, error) {
	t.Helper()
	testkit.HermeticGo(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.VerifyHealth, c.VerifyTLS = "/healthz", "off"
		if set != nil {
			set(c)
		}
	})
	buildSample(t, c)
	rep, err := verify.Verify(context.Background(), c, c.Image, io.Discard, io.Discard)
	return c, rep, err
}

func TestVerifySample(t *testing.T) {
	cli := docker(t)
	c, rep, err := verifySample(t, cli, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed || len(rep.Checks) < 7 {
		t.Fatalf("report: %+v", rep)
	}
	// The report on disk is the same report.
	data, err := os.ReadFile(filepath.Join(c.Dist, "verify", c.Platforms[0].DistDir()+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk verify.Report
	if err := json.Unmarshal(data, &onDisk); err != nil || !onDisk.Passed || onDisk.Image != c.Image {
		t.Errorf("dist/verify report: %v %+v", err, onDisk)
	}
}

// A TLS server on the host's loopback with a certificate from a CA the test
// made: trusted once the CA is in the image (SLIMAGE_EXTRA_CA), a
// certificate failure when it is not.
func TestVerifyTLSHandshake(t *testing.T) {
	cli := docker(t)
	trustedCA, trustedCert := newCA(t, "slimage test CA")
	_, otherCert := newCA(t, "some other CA")
	trusted := tlsServer(t, trustedCert)
	untrusted := tlsServer(t, otherCert)
	caFile := filepath.Join(t.TempDir(), "test-ca.pem")
	os.WriteFile(caFile, trustedCA, 0o644)

	_, rep, err := verifySample(t, cli, func(c *config.Config) {
		c.ExtraCA = []string{caFile}
		c.VerifyTLS = trusted + "/"
	})
	if err != nil {
		t.Fatalf("trusted server: %v\n%+v", err, rep)
	}
	tlsCheck := findCheck(rep, "TLS "+trusted+"/")
	if !strings.HasPrefix(tlsCheck.Name, "TLS "+trusted) || !strings.Contains(tlsCheck.Got, "root slimage test CA") {
		t.Errorf("TLS check: %+v", tlsCheck)
	}

	_, rep, err = verifySample(t, cli, func(c *config.Config) {
		c.ExtraCA = []string{caFile}
		c.VerifyTLS = untrusted + "/"
	})
	testkit.ErrorMentions(t, err, "1 of", "checks failed")
	tlsCheck = findCheck(rep, "TLS "+untrusted+"/")
	if tlsCheck.Pass || tlsCheck.Got != "certificate error" || !strings.Contains(tlsCheck.Cause, "certificate: ") {
		t.Errorf("untrusted server: %+v", tlsCheck)
	}
}

func findCheck(rep *verify.Report, name string) verify.Check {
	for _, ch := range rep.Checks {
		if ch.Name == name {
			return ch
		}
	}
	return verify.Check{Name: "no check " + name}
}

// brokenImage builds an image from one of the Dockerfiles under
// testdata/broken (or another path under testdata) over the sample's
// staged context, with the fixture service's binary beside the sample's,
// tagged c.Image. With a platform, it is the sample's own image (the host's
// binary) with that platform in its config instead.
func brokenImage(t *testing.T, cli *client.Client, c *config.Config, dockerfile, platform string) {
	t.Helper()
	if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
		t.Fatal(err)
	}
	sc, err := stage.Write(context.Background(), c, c.Platforms[0])
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(filepath.Join("testdata", "fixture"))
	fixture := &config.Config{Dir: abs, Main: ".", Binary: "fixture", Dist: t.TempDir()}
	arts, err := gobuild.BuildTarget(context.Background(), gobuild.TargetFor(fixture, c.Platforms[0]))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(arts[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sc.Dir, "bin", "fixture"), data, 0o755)
	// A config file for the Dockerfiles that copy one: its owner's only.
	os.MkdirAll(filepath.Join(sc.Dir, "data"), 0o755)
	os.WriteFile(filepath.Join(sc.Dir, "data", "config.json"), []byte("{}\n"), 0o600)
	// And a folder only its owner may enter.
	os.MkdirAll(filepath.Join(sc.Dir, "data", "private"), 0o700)
	os.WriteFile(filepath.Join(sc.Dir, "data", "private", "state.json"), []byte("{}\n"), 0o644)
	if platform != "" {
		// Docker's legacy builder keeps one layer cache for all platforms,
		// so another platform's build would taint later ones: assemble
		// this image without it, from the same staged files.
		os_, arch, _ := strings.Cut(platform, "/")
		img, err := build.OCIImage(sc, config.Platform{OS: os_, Arch: arch})
		if err != nil {
			t.Fatal(err)
		}
		if err := build.LoadIntoDocker(context.Background(), cli, img, c.Image); err != nil {
			t.Fatal(err)
		}
		return
	}
	df, err := os.ReadFile(filepath.Join("testdata", dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(sc.Dockerfile, df, 0o644)
	tarball, err := archive.TarWithOptions(sc.Dir, &archive.TarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tarball.Close()
	res, err := cli.ImageBuild(context.Background(), tarball, client.ImageBuildOptions{
		Tags: []string{c.Image}, Dockerfile: "Dockerfile", Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(res.Body, io.Discard, 0, false, nil); err != nil {
		t.Fatalf("build %s: %v", dockerfile, err)
	}
}

// Broken images, each built from a small Dockerfile under testdata/broken
// over the sample's staged context, and each rejected by exactly the check
// meant for it, with its cause; a correct service passes every check.
func TestVerifyRejectsBrokenImages(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	noContainersLeft(t, cli)
	tests := []struct {
		dockerfile string
		platform   string               // the image's, when not the host's
		zone       string               // staged zone, when not Asia/Shanghai
		set        func(*config.Config) // what verify is told
		failed     string               // the check that must fail ("" for none)
		alsoFail   []string             // other checks the image rightly fails
		cause      []string
	}{
		// The image fixtures of the trust store and the zone also lack /tmp,
		// which a non-root service cannot do without either.
		{"broken/no-ca-bundle.Dockerfile", "", "", nil, "trust store", []string{"well-known roots", "temp dir"}, []string{"no CA bundle", "x509: certificate signed by unknown authority"}},
		{"broken/tz-localtime-only.Dockerfile", "", "", nil, "time.Local", []string{"offsets", "/etc/localtime", "temp dir"}, []string{"time.Local is UTC, want Asia/Shanghai: TZ is set, so Go ignores /etc/localtime, and /usr/share/zoneinfo/Asia/Shanghai is missing from the image"}},
		{"broken/no-tz-no-localtime.Dockerfile", "", "", nil, "time.Local", []string{"TZ", "offsets", "/etc/localtime", "temp dir"}, []string{"time.Local is UTC", "neither TZ nor /etc/localtime"}},
		{"broken/same-offset-zone.Dockerfile", "", "Asia/Singapore", nil, "offsets", []string{"temp dir"}, []string{"does not keep Asia/Shanghai's history", "Asia/Singapore"}},
		{"broken/exits-at-start.Dockerfile", "", "", nil, "start", nil, []string{"exited with code 1", "invalid port"}},
		{"broken/never-listens.Dockerfile", "", "", nil, "start", nil, []string{"did not become ready", "8080/tcp"}},
		{"broken/loopback-only.Dockerfile", "", "", nil, "reachable 8080/tcp", nil, []string{"listens on 127.0.0.1:8080 only", "listen on :8080"}},
		{"broken/exits-after-ready.Dockerfile", "", "", nil, "stays up", []string{"healthy"}, []string{"exited with code 1", "after it answered", "exiting as told"}},
		{"broken/ignores-sigterm.Dockerfile", "", "", func(c *config.Config) { c.VerifyStop = 2 * time.Second }, "stops", nil, []string{"did not exit within 2s of SIGTERM", "handle SIGTERM"}},
		// The limit holds to the millisecond: 400ms is past 100ms.
		{"broken/slow-to-stop.Dockerfile", "", "", func(c *config.Config) { c.VerifyStop = 100 * time.Millisecond }, "stops", nil, []string{"to exit after SIGTERM, past the 100ms that SLIMAGE_VERIFY_STOP allows", "kills it at 100ms"}},
		{"broken/slow-to-stop.Dockerfile", "", "", func(c *config.Config) { c.VerifyStop = 2 * time.Second }, "", nil, nil},
		// The health path is asked on the first port the user lists, not
		// the lowest (9797 answers 404 to it), and a 404 ends the wait at
		// once, naming the status, the path and the port.
		{"broken/two-ports.Dockerfile", "", "", func(c *config.Config) { c.Ports = []string{"9898/tcp", "9797/tcp"} }, "", nil, nil},
		{"broken/two-ports.Dockerfile", "", "", func(c *config.Config) {
			c.Ports, c.VerifyHealth = []string{"9898/tcp", "9797/tcp"}, "9797:/healthz"
		}, "start", nil, []string{"GET /healthz on 9797/tcp answered 404 Not Found", "SLIMAGE_VERIFY_HEALTH"}},
		{"broken/unhealthy-after-ready.Dockerfile", "", "", nil, "healthy", nil, []string{"answered its health path once, then GET", "503 Service Unavailable", "into the settle time"}},
		{"wrong-arch", "linux/arm64", "", nil, "binary", nil, []string{"/app/hello is a linux/amd64 executable but the image says linux/arm64", "exec format error", "GOARCH=arm64"}},
		{"broken/runs-as-root.Dockerfile", "", "", nil, "user", nil, []string{"runs as root (uid 0)", "USER 65532:65532"}},
		{"broken/no-writable-tmp.Dockerfile", "", "", nil, "temp dir", nil, []string{"os.TempDir() (/tmp) is not writable by uid 65532", "mode 1777"}},
		// What runs as built and not as the restricted profile runs it.
		{"broken/writes-image-files.Dockerfile", "", "", nil, "restricted", nil, []string{"open /data/state: read-only file system", "readOnlyRootFilesystem", "emptyDir"}},
		{"broken/owner-only-file.Dockerfile", "", "", nil, "restricted", nil, []string{"open /data/config.json: permission denied as uid 1000680000 in group 0", "chmod g=u"}},
		{"broken/owner-only-file.Dockerfile", "", "", func(c *config.Config) { c.VerifyRestricted = false }, "", nil, nil},
		{"fixture/Dockerfile", "", "", func(c *config.Config) { c.Zones = []string{"Europe/Berlin", "America/New_York"} }, "zones", nil, []string{"time.LoadLocation fails in the image for Europe/Berlin, America/New_York", "SLIMAGE_ZONES"}},
		{"fixture/Dockerfile", "", "", nil, "", nil, nil},
	}
	for _, tt := range tests {
		name := strings.TrimSuffix(filepath.Base(tt.dockerfile), ".Dockerfile")
		if tt.failed == "zones" {
			name = "zone-missing"
		} else if name == "Dockerfile" {
			name = "correct-service"
		} else if tt.failed == "" {
			name += "-passes"
		}
		t.Run(name, func(t *testing.T) {
			// Not parallel: removing one image prunes the builder's cached
			// parents another build may be standing on.
			if tt.platform == "linux/arm64" {
				testkit.NeedEmulation(t)
			}
			c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
				c.VerifyTLS, c.VerifyTimeout, c.VerifyHealth = "off", 3*time.Second, "/healthz"
				if tt.zone != "" {
					c.TZ = tt.zone
				}
			})
			brokenImage(t, cli, c, tt.dockerfile, tt.platform)
			c.TZ = "Asia/Shanghai" // what verify expects, whatever was staged
			if tt.set != nil {
				tt.set(c)
			}
			rep, err := verify.Verify(context.Background(), c, c.Image, io.Discard, io.Discard)
			if tt.failed == "" {
				if err != nil {
					t.Fatalf("a correct service failed verify: %v\n%+v", err, rep)
				}
				return
			}
			testkit.ErrorMentions(t, err, "verify "+c.Image, "checks failed")
			if rep == nil {
				t.Fatal("no report")
			}
			var failed *verify.Check
			for i, ch := range rep.Checks {
				switch {
				case ch.Name == tt.failed:
					failed = &rep.Checks[i]
				case !ch.Pass && !slices.Contains(tt.alsoFail, ch.Name):
					t.Errorf("check %q failed too: %s", ch.Name, ch.Cause)
				}
			}
			if failed == nil || failed.Pass {
				t.Fatalf("check %q did not fail: %+v", tt.failed, rep.Checks)
			}
			for _, w := range tt.cause {
				if !strings.Contains(failed.Cause, w) {
					t.Errorf("cause %q does not mention %q", failed.Cause, w)
				}
			}
		})
	}
}

// An image built elsewhere has its user reported, and judged only when
// SLIMAGE_VERIFY_NONROOT asks for it.
func TestVerifyImageNonroot(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.VerifyTLS, c.VerifyHealth = "off", "/healthz"
	})
	brokenImage(t, cli, c, "broken/runs-as-root.Dockerfile", "")
	rep, err := verify.External(context.Background(), c, c.Image, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("verifyImage failed a root image without SLIMAGE_VERIFY_NONROOT: %v", err)
	}
	if u := findCheck(rep, "user"); !u.Pass || u.Got != "uid 0, gid 0" {
		t.Errorf("user check: %+v", u)
	}
	c.VerifyNonroot = true
	rep, err = verify.External(context.Background(), c, c.Image, io.Discard, io.Discard)
	testkit.ErrorMentions(t, err, "1 of", "checks failed")
	if u := findCheck(rep, "user"); u.Pass || !strings.Contains(u.Cause, "runs as root") {
		t.Errorf("user check with SLIMAGE_VERIFY_NONROOT: %+v", u)
	}
}

// SLIMAGE_TZ= bakes no zone into the image (no TZ, no zone files): the
// service runs in UTC, as asked, and verify passes it.
func TestNoZone(t *testing.T) {
	cli := docker(t)
	c, rep, err := verifySample(t, cli, func(c *config.Config) { c.TZ = "" })
	if err != nil {
		t.Fatal(err)
	}
	img, err := cli.ImageInspect(context.Background(), c.Image)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range img.Config.Env {
		if strings.HasPrefix(e, "TZ=") {
			t.Errorf("the image sets %s", e)
		}
	}
	for _, f := range []string{"rootfs/etc/localtime", "rootfs/usr/share/zoneinfo"} {
		if _, err := os.Stat(filepath.Join(c.ContextDir(c.Platforms[0]), f)); err == nil {
			t.Errorf("the context holds %s", f)
		}
	}
	if ch := findCheck(rep, "time.Local"); ch.Name == "time.Local" {
		t.Errorf("a zone was checked: %+v", ch)
	}
}

// Verify proves that the zones SLIMAGE_ZONES lists load in the image it
// built: a list of zones, and all of them.
func TestVerifyZones(t *testing.T) {
	cli := docker(t)
	for _, zones := range [][]string{{"Europe/Berlin", "America/New_York"}, {"all"}} {
		t.Run(strings.Join(zones, ","), func(t *testing.T) {
			_, rep, err := verifySample(t, cli, func(c *config.Config) { c.Zones = zones })
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range rep.Checks {
				if ch.Name == "zones" {
					return
				}
			}
			t.Errorf("no zones check: %+v", rep.Checks)
		})
	}
}

// Ctrl-C at any moment of verify (while it creates, runs or stops its
// containers) stops it with a one-line error and leaves none of them.
func TestCancelledVerifyLeavesNoContainer(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) { c.VerifyTLS = "off" })
	buildSample(t, c)
	if _, err := verify.Verify(context.Background(), c, c.Image, io.Discard, io.Discard); err != nil {
		t.Fatal(err) // builds the probe, so the interrupts land among containers
	}
	for _, after := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond, 1200 * time.Millisecond, 2500 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), after)
			defer cancel()
			_, err := verify.Verify(ctx, c, c.Image, io.Discard, io.Discard)
			if err == nil {
				t.Skipf("verify finished within %s", after)
			}
			if want := "verify " + c.Image + ": interrupted"; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if n := sessionContainers(t, cli); n != 0 {
				t.Errorf("%d containers left after verify was interrupted at %s", n, after)
			}
		})
	}
}

// noContainersLeft fails t if a verify container of this run is left when
// it ends: after every subtest, on pass, fail and timeout alike.
func noContainersLeft(t *testing.T, cli *client.Client) {
	t.Cleanup(func() {
		if n := sessionContainers(t, cli); n != 0 {
			t.Errorf("%d verify containers left", n)
		}
	})
}

func sessionContainers(t *testing.T, cli *client.Client) int {
	t.Helper()
	res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", testkit.RunLabel+"="+testkit.RunID)})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Items)
}

// A run killed before it could clean up leaves containers; the next run
// on this host removes those whose process is gone.
func TestVerifyRemovesContainersOfDeadRuns(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) { c.VerifyTLS = "off" })
	buildSample(t, c)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	created, err := cli.ContainerCreate(context.Background(), client.ContainerCreateOptions{
		Config: &container.Config{Image: c.Image, Labels: map[string]string{
			verify.SessionLabel: "dead", verify.OwnerLabel: host + "/" + strconv.Itoa(dead.Process.Pid)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cli.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := verify.Verify(context.Background(), c, c.Image, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerInspect(context.Background(), created.ID, client.ContainerInspectOptions{}); err == nil {
		t.Error("the dead run's container is still there")
	}
}

func TestVerifyWithoutDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "closed.sock"))
	_, err := verify.Verify(context.Background(), config.Default(), "hello:any", io.Discard, io.Discard)
	testkit.ErrorMentions(t, err, "connect to the container engine at unix://", "closed.sock (DOCKER_HOST): dial unix", "start Docker")
}

func TestVerifyImageNotFound(t *testing.T) {
	docker(t)
	c := config.Default()
	_, err := verify.Verify(context.Background(), c, "slimage-test/absent:nope", io.Discard, io.Discard)
	testkit.ErrorMentions(t, err, "verify slimage-test/absent:nope", "no such image")
}

// newCA makes a CA and a certificate it signs for 127.0.0.1.
func newCA(t *testing.T, name string) (caPEM []byte, leaf tls.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &leafKey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
}

// tlsServer serves HTTPS on 127.0.0.1 with cert and returns its URL.
func tlsServer(t *testing.T, cert tls.Certificate) string {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// Under QEMU user emulation the emulator is PID 1, and drops a SIGTERM the
// binary has no handler for, where the binary on its own hardware exits
// (Go's runtime exits 2): an arm64 service without a SIGTERM handler
// passes stops here, run under the engine's init, and the report says it
// ran emulated; one that ignores SIGTERM still fails, naming the binary.
func TestVerifyUnderEmulation(t *testing.T) {
	cli := docker(t)
	testkit.NeedEmulation(t)
	testkit.HermeticGo(t)
	const service = "package main\n\nimport (\n\t\"net/http\"\n\t\"os/signal\"\n\t\"syscall\"\n)\n\nvar _ = signal.Ignore\nvar _ = syscall.SIGTERM\n\nfunc main() {\n\t%s\n\thttp.HandleFunc(\"/healthz\", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(\"ok\")) })\n\tpanic(http.ListenAndServe(\":8080\", nil))\n}\n"
	for _, tc := range []struct {
		name, setup string
		pass        bool
	}{
		{"no-sigterm-handler", "", true},
		{"ignores-sigterm", "signal.Ignore(syscall.SIGTERM)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testkit.CopySample(t, "hello")
			testkit.WriteFiles(t, dir, map[string]string{"main.go": fmt.Sprintf(service, tc.setup)})
			c := sampleConfig(t, cli, dir, func(c *config.Config) {
				c.Platforms = []config.Platform{{OS: "linux", Arch: "arm64"}}
				c.VerifyTLS, c.VerifyHealth, c.VerifyStop = "off", "/healthz", 3*time.Second
			})
			if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
				t.Fatal(err)
			}
			built, err := build.Build(context.Background(), c, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { removeImage(cli, built[0].Ref) })
			var out strings.Builder
			rep, err := verify.Verify(context.Background(), c, built[0].Ref, io.Discard, &out)
			if rep == nil {
				t.Fatalf("no report: %v", err)
			}
			if !strings.Contains(rep.Emulated, "QEMU") || !strings.Contains(out.String(), "under QEMU user emulation") {
				t.Errorf("the report does not say it ran emulated: %q\n%s", rep.Emulated, out.String())
			}
			stops := findCheck(rep, "stops")
			if tc.pass {
				if err != nil || !stops.Pass || !strings.HasPrefix(stops.Got, "exited") {
					t.Errorf("a service without a SIGTERM handler failed under emulation: %v\n%+v\n%s", err, stops, out.String())
				}
				return
			}
			if stops.Pass || !strings.Contains(stops.Cause, "the binary itself does not exit on SIGTERM") {
				t.Errorf("a service that ignores SIGTERM: %+v", stops)
			}
		})
	}
}
