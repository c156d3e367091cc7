// Command slimage-probe runs inside the image under test and reports what a
// Go program there really sees: its time zone, its trust store, and whether
// HTTPS calls validate. slimage builds it from this one file (embedded in
// package images), statically, for the image's platform, and copies it into
// the container; it uses the standard library only, so that build needs
// nothing but the Go toolchain. Its JSON is images.ProbeReport.
//
//	slimage-probe report [-tls url,url]   print a ProbeReport
//	slimage-probe wait -port 8080/tcp [-path /healthz] [-timeout 20s]
//	                                      wait until the service answers
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Instants at which the zone's UTC offset is reported. The 1980 and 1988
// ones tell Asia/Shanghai (+08:00, then +09:00 in China's 1986-1991 DST)
// from zones with the same offset today, such as Asia/Singapore (+07:30 in
// 1980, no DST) or a fixed +08.
var instants = []string{"1980-01-01T00:00:00Z", "1988-07-01T00:00:00Z", "2000-01-01T00:00:00Z", "2024-07-01T00:00:00Z"}

// Roots that any general-purpose bundle carries, by SHA-256 of their DER.
var knownRoots = []struct{ Name, SHA256 string }{
	{"ISRG Root X1", "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6"},
	{"ISRG Root X2", "69729b8e15a86efc177a57afb7171dfc64add28c2fca8cf1507e34453ccb1470"},
	{"DigiCert Global Root G2", "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f"},
	{"GlobalSign Root CA", "ebd41040e4bb3ec742c9e381d31ef2a41a48b6685c96e7cef3c1df6cd4331c99"},
	{"GTS Root R1", "d947432abde7b7fa90fc2e6b59101b1280e0e1c7e4e40fa3c6887fff57a7f4cf"},
	{"Amazon Root CA 1", "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e"},
	{"USERTrust RSA Certification Authority", "e793c9b02fd8aa13e21c31228accb08119643b749c898964b1746d46c3d4cbd2"},
	{"Microsoft RSA Root Certificate Authority 2017", "c741f70f4b2a8d88bf2e71c14122ef53ef10eba0cfa5e64cfa20f418853073e0"},
}

// The files Go's crypto/x509 reads on Linux, in its order (the probe is one
// self-contained file, so this mirrors hostBundles in images/stage.go).
var certFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

type report struct {
	Time  timeReport  `json:"time"`
	Trust trustReport `json:"trust"`
	TLS   []tlsReport `json:"tls"`
}

type timeReport struct {
	TZ            string            `json:"tz"`
	TZSet         bool              `json:"tz_set"`
	Local         string            `json:"local"`
	Offsets       map[string]string `json:"offsets"`
	Localtime     bool              `json:"localtime"`      // /etc/localtime exists
	ZoneFile      bool              `json:"zone_file"`      // /usr/share/zoneinfo/$TZ exists
	LocaltimeSame bool              `json:"localtime_same"` // and both hold the same zone
}

type trustReport struct {
	Source    string   `json:"source"` // the file Go loaded roots from
	Roots     int      `json:"roots"`
	Present   []string `json:"present"` // known roots found and not expired
	Expired   []string `json:"expired"`
	PoolError string   `json:"pool_error,omitempty"`
}

type tlsReport struct {
	URL     string `json:"url"`
	Status  int    `json:"status,omitempty"`
	Version string `json:"version,omitempty"`
	Root    string `json:"root,omitempty"`
	Error   string `json:"error,omitempty"`
	Kind    string `json:"kind,omitempty"` // "certificate" or "network"
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: slimage-probe report|wait [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "report":
		fs := flag.NewFlagSet("report", flag.ExitOnError)
		urls := fs.String("tls", "", "comma list of https:// URLs to GET")
		fs.Parse(os.Args[2:])
		r := report{Time: probeTime(), Trust: probeTrust()}
		for _, u := range strings.Split(*urls, ",") {
			if u = strings.TrimSpace(u); u != "" {
				r.TLS = append(r.TLS, probeTLS(u))
			}
		}
		json.NewEncoder(os.Stdout).Encode(r)
	case "wait":
		fs := flag.NewFlagSet("wait", flag.ExitOnError)
		port := fs.String("port", "", "port/proto the service listens on")
		path := fs.String("path", "", "HTTP path that must answer 2xx")
		timeout := fs.Duration("timeout", 20*time.Second, "how long to wait")
		fs.Parse(os.Args[2:])
		if err := wait(*port, *path, *timeout); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("ready")
	default:
		fmt.Fprintf(os.Stderr, "slimage-probe: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

func probeTime() timeReport {
	tz, set := os.LookupEnv("TZ")
	r := timeReport{TZ: tz, TZSet: set, Local: time.Local.String(), Offsets: map[string]string{}}
	for _, s := range instants {
		t, _ := time.Parse(time.RFC3339, s)
		r.Offsets[s] = t.In(time.Local).Format("-07:00")
	}
	lt, err := os.ReadFile("/etc/localtime")
	r.Localtime = err == nil
	if tz != "" && !strings.HasPrefix(tz, ":") && !strings.Contains(tz, "..") {
		zf, err := os.ReadFile("/usr/share/zoneinfo/" + tz)
		r.ZoneFile = err == nil
		r.LocaltimeSame = r.Localtime && r.ZoneFile && bytes.Equal(lt, zf)
	}
	return r
}

func probeTrust() trustReport {
	var r trustReport
	if _, err := x509.SystemCertPool(); err != nil {
		r.PoolError = err.Error()
	}
	files := certFiles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	var data []byte
	for _, f := range files {
		if d, err := os.ReadFile(f); err == nil {
			data, r.Source = d, f
			break
		}
	}
	have := map[string]*x509.Certificate{}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if b.Type != "CERTIFICATE" || err != nil {
			continue
		}
		r.Roots++
		sum := sha256.Sum256(b.Bytes)
		have[hex.EncodeToString(sum[:])] = c
	}
	now := time.Now()
	for _, k := range knownRoots {
		if c, ok := have[k.SHA256]; ok {
			if now.After(c.NotAfter) {
				r.Expired = append(r.Expired, k.Name)
			} else {
				r.Present = append(r.Present, k.Name)
			}
		}
	}
	return r
}

// probeTLS makes a GET with the standard client: the system roots and
// full verification, as the service itself would.
func probeTLS(url string) tlsReport {
	r := tlsReport{URL: url}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		r.Error = err.Error()
		r.Kind = "network"
		if certificateError(err) {
			r.Kind = "certificate"
		}
		return r
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	if s := resp.TLS; s != nil {
		r.Version = tls.VersionName(s.Version)
		if len(s.VerifiedChains) > 0 && len(s.VerifiedChains[0]) > 0 {
			chain := s.VerifiedChains[0]
			r.Root = chain[len(chain)-1].Subject.String()
		}
	}
	return r
}

func certificateError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		system   x509.SystemRootsError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &system) || errors.As(err, &verify)
}

// wait polls 127.0.0.1:port (the service's own network namespace) until it
// accepts a connection and, with a path, answers it with a 2xx.
func wait(port, path string, timeout time.Duration) error {
	num, proto, _ := strings.Cut(port, "/")
	if proto == "" {
		proto = "tcp"
	}
	addr := net.JoinHostPort("127.0.0.1", num)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := errors.New("nothing tried")
	for ctx.Err() == nil {
		if proto != "tcp" {
			return nil // nothing to connect to: udp and sctp are not waited for
		}
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			if path == "" {
				return nil
			}
			last = getOK(ctx, "http://"+addr+path)
			if last == nil {
				return nil
			}
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("port %s did not become ready within %s: %v", port, timeout, last)
}

func getOK(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
