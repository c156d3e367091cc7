// Command slimage-probe runs inside the image under test and reports what a
// Go program there really sees: its time zone, its trust store, and whether
// HTTPS calls validate. slimage builds it from this file and package
// report (both embedded in package images), statically, for the image's platform, and copies it into
// the container; it uses the standard library only, so that build needs
// nothing but the Go toolchain. Its JSON is report.Report.
//
//	slimage-probe report [-tls url,url] [-zones a,b]   print a report.Report
//	slimage-probe wait -port 8080/tcp [-path /healthz] [-timeout 20s]
//	                                      wait until the service answers (a 4xx
//	                                      on the path ends the wait: exit 3)
//	slimage-probe healthy -port 8080/tcp -path /healthz -for 2s
//	                                      the path must keep answering 2xx
//	slimage-probe listeners -ports 8080/tcp,53/udp
//	                                      print the []report.Listener of this
//	                                      network namespace on those ports
//	slimage-probe reach -addrs 172.17.0.2:8080 [-timeout 2s]
//	                                      print []report.Reach: can this
//	                                      container connect to each address
//	slimage-probe kubelet -spec '<report.KubeletSpec JSON>'
//	                                      run a container's probes as the
//	                                      kubelet does, print report.KubeletReport
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
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
		zones := fs.String("zones", "", "comma list of zones that must load")
		fs.Parse(os.Args[2:])
		r := report.Report{Time: probeTime(), Trust: probeTrust(), User: probeUser()}
		for _, z := range list(*zones) {
			r.Zones = append(r.Zones, probeZone(z))
		}
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
			if errors.Is(err, errClientStatus) {
				os.Exit(3)
			}
			os.Exit(1)
		}
		// When it answered, on the clock the host shares: the settle time
		// counts from here, not from when the host saw the probe exit.
		fmt.Println("ready " + time.Now().UTC().Format(time.RFC3339Nano))
	case "healthy":
		fs := flag.NewFlagSet("healthy", flag.ExitOnError)
		port := fs.String("port", "", "port/proto the service listens on")
		path := fs.String("path", "", "HTTP path that must answer 2xx")
		during := fs.Duration("for", 2*time.Second, "how long it must keep answering 2xx")
		fs.Parse(os.Args[2:])
		n, err := healthy(*port, *path, *during)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Printf("ok %d\n", n)
	case "listeners":
		fs := flag.NewFlagSet("listeners", flag.ExitOnError)
		ports := fs.String("ports", "", "comma list of port/proto")
		fs.Parse(os.Args[2:])
		json.NewEncoder(os.Stdout).Encode(listeners(list(*ports)))
	case "reach":
		fs := flag.NewFlagSet("reach", flag.ExitOnError)
		addrs := fs.String("addrs", "", "comma list of host:port to connect to")
		timeout := fs.Duration("timeout", 2*time.Second, "how long to keep trying each")
		fs.Parse(os.Args[2:])
		json.NewEncoder(os.Stdout).Encode(reach(list(*addrs), *timeout))
	case "kubelet":
		fs := flag.NewFlagSet("kubelet", flag.ExitOnError)
		spec := fs.String("spec", "", "report.KubeletSpec as JSON")
		fs.Parse(os.Args[2:])
		var ks report.KubeletSpec
		if err := json.Unmarshal([]byte(*spec), &ks); err != nil {
			fmt.Fprintln(os.Stderr, "slimage-probe kubelet: -spec:", err)
			os.Exit(2)
		}
		json.NewEncoder(os.Stdout).Encode(kubelet(ks))
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
			if last == nil || errors.Is(last, errClientStatus) {
				return last // a 4xx will not turn 2xx by waiting
			}
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("port %s did not become ready within %s: %v", port, timeout, last)
}

// errClientStatus marks a 4xx answer: the path or the port is wrong, and
// asking again will not change that.
var errClientStatus = errors.New("client error")

type statusError struct {
	url, status string
	client      bool
}

func (e *statusError) Error() string { return "GET " + e.url + ": " + e.status }
func (e *statusError) Is(target error) bool {
	return target == errClientStatus && e.client
}

func getOK(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &statusError{url: url, status: resp.Status, client: resp.StatusCode/100 == 4}
	}
	return nil
}

// healthy asks the path every 200ms for the duration: every answer must be
// 2xx. It returns how many it asked, or the first that was not, and when.
func healthy(port, path string, during time.Duration) (int, error) {
	num, _, _ := strings.Cut(port, "/")
	url := "http://" + net.JoinHostPort("127.0.0.1", num) + path
	start := time.Now()
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := getOK(ctx, url)
		cancel()
		n++
		if err != nil {
			return n, fmt.Errorf("%v, %s into the settle time", err, time.Since(start).Round(time.Millisecond))
		}
		if time.Since(start) >= during {
			return n, nil
		}
		time.Sleep(min(200*time.Millisecond, during-time.Since(start)))
	}
}

func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func probeZone(name string) report.Zone {
	z := report.Zone{Name: name}
	if _, err := time.LoadLocation(name); err != nil {
		z.Error = err.Error()
	}
	return z
}

// probeUser creates (and removes) a file where os.CreateTemp puts them, as
// the service would.
func probeUser() report.User {
	u := report.User{UID: os.Getuid(), GID: os.Getgid(), TempDir: os.TempDir()}
	f, err := os.CreateTemp("", "slimage-probe-*")
	if err != nil {
		u.TempError = err.Error()
		return u
	}
	f.Close()
	os.Remove(f.Name())
	return u
}

// listeners reads the sockets of this network namespace from /proc/net,
// which the kernel fills for the namespace of the reader: run in the
// service's, it shows what the service has bound.
func listeners(ports []string) []report.Listener {
	var out []report.Listener
	for _, port := range ports {
		num, proto, _ := strings.Cut(port, "/")
		if proto == "" {
			proto = "tcp"
		}
		l := report.Listener{Port: port, Addrs: []string{}}
		want, err := strconv.ParseUint(num, 10, 16)
		if err == nil {
			for _, file := range []string{proto, proto + "6"} {
				l.Addrs = append(l.Addrs, boundOn("/proc/net/"+file, uint16(want), proto == "tcp")...)
			}
		}
		out = append(out, l)
	}
	return out
}

// boundOn lists the local addresses of the sockets in a /proc/net table
// bound to port: for TCP only those listening (state 0A).
func boundOn(table string, port uint16, listening bool) []string {
	data, err := os.ReadFile(table)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || (listening && f[3] != "0A") {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if !ok || err != nil || uint16(p) != port {
			continue
		}
		if ip := procIP(hexAddr); ip != nil {
			out = append(out, net.JoinHostPort(ip.String(), strconv.Itoa(int(port))))
		}
	}
	return out
}

// procIP decodes /proc/net's address: each 32-bit word of it printed as a
// number, read from memory in the machine's byte order; the memory's bytes
// are the address in network order.
func procIP(h string) net.IP {
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return nil
	}
	for i := 0; i < len(b); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(b[i:]))
	}
	return net.IP(b)
}

// reach connects to each address from this container, retrying until
// timeout, as another container or a load balancer would.
func reach(addrs []string, timeout time.Duration) []report.Reach {
	out := make([]report.Reach, len(addrs))
	deadline := time.Now().Add(timeout)
	for i, a := range addrs {
		out[i].Addr = a
		for {
			conn, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				conn.Close()
				out[i].Error = ""
				break
			}
			out[i].Error = err.Error()
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out
}

// kubelet runs spec's probes against its host as the kubelet does: the
// startup probe first, then readiness and liveness together, each from
// its initial delay. It asks every 100ms (or each period, when shorter)
// rather than each period, so that verify learns when a probe first
// passes and how long it failed, and judges from that what the kubelet,
// asking each period, would do. Once ready, it connects to each port.
func kubelet(spec report.KubeletSpec) report.KubeletReport {
	started := spec.Started
	if now := time.Now(); started.IsZero() || started.After(now) || now.Sub(started) > time.Minute {
		started = now // another machine's clock
	}
	deadline := started.Add(spec.Timeout)
	rep := report.KubeletReport{Probes: make([]report.ProbeRun, len(spec.Probes))}
	find := func(field string) int {
		for i, p := range spec.Probes {
			if p.Field == field {
				return i
			}
		}
		return -1
	}
	for i, p := range spec.Probes {
		rep.Probes[i].Field = p.Field
	}
	ask := func(i int, from time.Time, until func() bool) (passedAt time.Time, ok bool) {
		p, run := spec.Probes[i], &rep.Probes[i]
		time.Sleep(time.Until(from))
		every := min(p.Period, 100*time.Millisecond)
		streak := 0
		for !until() {
			at := time.Now()
			ok, said := askOnce(spec.Host, p)
			run.Asked++
			if n := len(run.Results); n == 0 || run.Results[n-1].OK != ok || run.Results[n-1].Said != said {
				run.Results = append(run.Results, report.ProbeResult{At: at.Sub(started), OK: ok, Said: said})
			}
			if ok {
				if streak++; streak >= max(p.SuccessThreshold, 1) && p.Field != report.Liveness {
					return at, true
				}
			} else {
				streak = 0
			}
			time.Sleep(time.Until(at.Add(every)))
		}
		return time.Time{}, false
	}
	pastDeadline := func() bool { return time.Now().After(deadline) }
	up := started // when startup passed
	if i := find(report.Startup); i >= 0 {
		var ok bool
		if up, ok = ask(i, started.Add(spec.Probes[i].InitialDelay), pastDeadline); !ok {
			rep.End = time.Since(started)
			return rep
		}
	}
	// Readiness ends the wait; liveness is watched until Settle after it.
	var watchEnd atomic.Int64
	watchEnd.Store(deadline.Add(spec.Settle).UnixNano())
	done := make(chan struct{})
	if i := find(report.Liveness); i >= 0 {
		go func() {
			defer close(done)
			ask(i, maxTime(up, started.Add(spec.Probes[i].InitialDelay)), func() bool { return time.Now().UnixNano() > watchEnd.Load() })
		}()
	} else {
		close(done)
	}
	ready, isReady := up, true
	if i := find(report.Readiness); i >= 0 {
		ready, isReady = ask(i, maxTime(up, started.Add(spec.Probes[i].InitialDelay)), pastDeadline)
	}
	if !isReady {
		ready = time.Now()
	}
	watchEnd.Store(ready.Add(spec.Settle).UnixNano())
	if isReady {
		for _, port := range spec.Ports {
			rep.Ports = append(rep.Ports, reach([]string{net.JoinHostPort(spec.Host, strconv.Itoa(port))}, time.Second)...)
		}
	}
	<-done
	rep.End = time.Since(started)
	return rep
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// askOnce runs probe p once against host, as the kubelet does: an HTTP
// GET that a status from 200 to 399 passes (redirects to the same host
// followed, HTTPS certificates not checked), a TCP connection, or a gRPC
// health check that must say SERVING; each within p's timeout.
func askOnce(host string, p report.Probe) (bool, string) {
	if p.Host != "" {
		host = p.Host
	}
	addr := net.JoinHostPort(host, strconv.Itoa(p.Port))
	ctx, cancel := context.WithTimeout(context.Background(), p.Timeout)
	defer cancel()
	switch p.Handler {
	case report.TCPSocket:
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, shortErr(err)
		}
		conn.Close()
		return true, "connected"
	case report.GRPC:
		return grpcHealth(ctx, addr, p.Service)
	}
	scheme := "http"
	if strings.EqualFold(p.Scheme, "HTTPS") {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+p.Path, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	req.Header.Set("Accept", "*/*")
	for _, h := range p.Headers {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.URL.Hostname() != via[0].URL.Hostname() || len(via) >= 10 {
				return http.ErrUseLastResponse // the kubelet counts it a success
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, shortErr(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400, resp.Status
}

// grpcHealth calls grpc.health.v1.Health/Check over HTTP/2 without TLS,
// as the kubelet's gRPC probe does. The probe uses the standard library
// only (it must build anywhere without a module download), so the two
// one-field messages are written and read here: HealthCheckRequest
// {string service = 1} and HealthCheckResponse {ServingStatus status = 1},
// where SERVING is 1.
func grpcHealth(ctx context.Context, addr, service string) (bool, string) {
	var msg []byte
	if service != "" {
		msg = append([]byte{0x0a}, binary.AppendUvarint(nil, uint64(len(service)))...)
		msg = append(msg, service...)
	}
	body := append([]byte{0}, binary.BigEndian.AppendUint32(nil, uint32(len(msg)))...)
	body = append(body, msg...)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/grpc.health.v1.Health/Check", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return false, shortErr(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return false, shortErr(err)
	}
	status := resp.Trailer.Get("Grpc-Status")
	if status == "" {
		status = resp.Header.Get("Grpc-Status") // a trailers-only answer
	}
	if status != "0" {
		return false, strings.TrimSpace("gRPC status " + status + " " + resp.Trailer.Get("Grpc-Message") + resp.Header.Get("Grpc-Message"))
	}
	names := map[uint64]string{0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
	serving := uint64(0)
	if len(data) >= 7 && data[5] == 0x08 {
		serving, _ = binary.Uvarint(data[6:])
	}
	return serving == 1, names[serving]
}

// shortErr is the end of a network error: "connection refused", "context
// deadline exceeded" (the probe's timeout).
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if s == context.DeadlineExceeded.Error() || strings.Contains(s, "Client.Timeout") {
		return "timed out"
	}
	return s
}
