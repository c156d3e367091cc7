// Command slimage-probe runs inside the image under test and reports what a
// Go program there really sees: its time zone, its trust store, and whether
// HTTPS calls validate. slimage builds it from this file and package
// report (both embedded in package images), statically, for the image's platform, and copies it into
// the container; it uses the standard library only, so that build needs
// nothing but the Go toolchain. Its JSON is report.Report.
//
//	slimage-probe report [-tls url,url]   print a report.Report
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

	"github.com/slimage/slimage/images/probe/report"
)

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
		r := report.Report{Time: probeTime(), Trust: probeTrust()}
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

func probeTime() report.Time {
	tz, set := os.LookupEnv("TZ")
	r := report.Time{TZ: tz, TZSet: set, Local: time.Local.String(), Offsets: map[string]string{}}
	for _, s := range report.Instants {
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

func probeTrust() report.Trust {
	var r report.Trust
	if _, err := x509.SystemCertPool(); err != nil {
		r.PoolError = err.Error()
	}
	files := report.CertFiles
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
	for _, k := range report.KnownRoots {
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
func probeTLS(url string) report.TLS {
	r := report.TLS{URL: url}
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
