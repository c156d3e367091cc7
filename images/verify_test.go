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
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

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
	tlsCheck := rep.Checks[len(rep.Checks)-1]
	if !strings.HasPrefix(tlsCheck.Name, "TLS "+trusted) || !strings.Contains(tlsCheck.Got, "root slimage test CA") {
		t.Errorf("TLS check: %+v", tlsCheck)
	}

	_, rep, err = verifySample(t, cli, func(c *config.Config) {
		c.ExtraCA = []string{caFile}
		c.VerifyTLS = untrusted + "/"
	})
	testkit.ErrorMentions(t, err, "1 of", "checks failed")
	tlsCheck = rep.Checks[len(rep.Checks)-1]
	if tlsCheck.Pass || tlsCheck.Got != "certificate error" || !strings.Contains(tlsCheck.Cause, "certificate: ") {
		t.Errorf("untrusted server: %+v", tlsCheck)
	}
}

// Broken images, each built from a small Dockerfile under testdata/broken
// over the sample's staged context, and each rejected with its cause.
func TestVerifyRejectsBrokenImages(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	dir := testkit.CopySample(t, "hello")
	tests := []struct {
		dockerfile string
		zone       string // staged zone, when not Asia/Shanghai
		failed     string // the check that must fail
		cause      []string
	}{
		{"no-ca-bundle", "", "trust store", []string{"no CA bundle", "x509: certificate signed by unknown authority"}},
		{"tz-localtime-only", "", "time.Local", []string{"time.Local is UTC, want Asia/Shanghai: TZ is set, so Go ignores /etc/localtime, and /usr/share/zoneinfo/Asia/Shanghai is missing from the image"}},
		{"no-tz-no-localtime", "", "time.Local", []string{"time.Local is UTC", "neither TZ nor /etc/localtime"}},
		{"same-offset-zone", "Asia/Singapore", "offsets", []string{"does not keep Asia/Shanghai's history", "Asia/Singapore"}},
		{"exits-at-start", "", "start", []string{"exited with code 1", "invalid port"}},
		{"never-listens", "", "start", []string{"did not become ready", "8080/tcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.dockerfile, func(t *testing.T) {
			c := sampleConfig(t, cli, dir, func(c *config.Config) {
				c.VerifyTLS, c.VerifyTimeout = "off", 3*time.Second
				if tt.zone != "" {
					c.TZ = tt.zone
				}
			})
			if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
				t.Fatal(err)
			}
			sc, err := stage.Write(context.Background(), c, c.Platforms[0])
			if err != nil {
				t.Fatal(err)
			}
			df, err := os.ReadFile(filepath.Join("testdata", "broken", tt.dockerfile+".Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(sc.Dockerfile, df, 0o644)
			sc.Digest = tt.dockerfile
			if _, err := build.BuildWithDocker(context.Background(), cli, sc, c.Platforms[0], c.Image, io.Discard); err != nil {
				t.Fatal(err)
			}
			c.TZ = "Asia/Shanghai" // what verify expects, whatever was staged
			rep, err := verify.Verify(context.Background(), c, c.Image, io.Discard, io.Discard)
			testkit.ErrorMentions(t, err, "verify "+c.Image, "checks failed")
			var failed *verify.Check
			for i := range rep.Checks {
				if rep.Checks[i].Name == tt.failed {
					failed = &rep.Checks[i]
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

// Ctrl-C while verify runs its containers: it stops, and removes them.
func TestCancelledVerifyLeavesNoContainer(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) { c.VerifyTLS = "off" })
	buildSample(t, c)
	before := containerCount(t, cli)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// testcontainers reports on progress as soon as it creates a container.
	_, err := verify.Verify(ctx, c, c.Image, cancelOnWrite(cancel), io.Discard)
	if err == nil {
		t.Fatal("a cancelled verify passed")
	}
	if !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "context canceled") {
		t.Logf("cancelled verify said: %v", err)
	}
	if n := containerCount(t, cli); n != before {
		t.Errorf("%d containers left after a cancelled verify", n-before)
	}
}

func TestVerifyWithoutDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "closed.sock"))
	_, err := verify.Verify(context.Background(), config.Default(), "hello:any", io.Discard, io.Discard)
	testkit.ErrorMentions(t, err, "DOCKER_HOST=unix://", "closed.sock", "start Docker")
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
