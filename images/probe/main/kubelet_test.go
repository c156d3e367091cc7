package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/slimage/slimage/images/probe/report"
)

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func probeOn(handler string, port int, path string) report.Probe {
	return report.Probe{Handler: handler, Port: port, Path: path, Scheme: "HTTP", Timeout: time.Second,
		Period: time.Second, SuccessThreshold: 1, FailureThreshold: 3}
}

// askOnce answers as the kubelet's probes do: 200 to 399 passes (a
// redirect to another host counts as a success), headers are sent, a
// closed port fails.
func TestAskOnceHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte("ok"))
		case "/elsewhere":
			http.Redirect(w, r, "http://other.invalid/", http.StatusFound)
		case "/header":
			if r.Header.Get("X-Probe") != "yes" || !strings.HasPrefix(r.UserAgent(), "kube-probe/") {
				http.Error(w, "no header", http.StatusBadRequest)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host, port := hostPort(t, srv.Listener.Addr().String())
	withHeader := probeOn(report.HTTPGet, port, "/header")
	withHeader.Headers = []report.Header{{Name: "X-Probe", Value: "yes"}}
	for _, tc := range []struct {
		probe report.Probe
		ok    bool
		said  string
	}{
		{probeOn(report.HTTPGet, port, "/ok"), true, "200 OK"},
		{probeOn(report.HTTPGet, port, "/ready"), false, "404 Not Found"},
		{probeOn(report.HTTPGet, port, "/elsewhere"), true, "302 Found"},
		{withHeader, true, "200 OK"},
		{probeOn(report.TCPSocket, port, ""), true, "connected"},
		{probeOn(report.HTTPGet, closedPort(t), "/ok"), false, "connection refused"},
	} {
		ok, said := askOnce(host, tc.probe)
		if ok != tc.ok || said != tc.said {
			t.Errorf("%s %s: %v %q, want %v %q", tc.probe.Handler, tc.probe.Path, ok, said, tc.ok, tc.said)
		}
	}
}

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port := hostPort(t, ln.Addr().String())
	ln.Close()
	return port
}

// The gRPC probe against grpc-go's own health server, as the kubelet's
// runs against a service's.
func TestAskOnceGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	defer srv.Stop()
	host, port := hostPort(t, ln.Addr().String())
	p := probeOn(report.GRPC, port, "")
	if ok, said := askOnce(host, p); !ok || said != "SERVING" {
		t.Errorf("serving: %v %q", ok, said)
	}
	hs.SetServingStatus("shop.Orders", healthpb.HealthCheckResponse_NOT_SERVING)
	p.Service = "shop.Orders"
	if ok, said := askOnce(host, p); ok || said != "NOT_SERVING" {
		t.Errorf("not serving: %v %q", ok, said)
	}
	p.Service = "shop.Unknown"
	if ok, said := askOnce(host, p); ok || !strings.Contains(said, "gRPC status 5") {
		t.Errorf("unknown service: %v %q", ok, said)
	}
}

// kubelet: the startup probe first, then readiness and liveness; the
// timeline records when each first passed and when liveness failed.
func TestKubelet(t *testing.T) {
	var started = time.Now()
	var listening atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !listening.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/live" && time.Since(started) > 900*time.Millisecond {
			http.Error(w, "stuck", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	time.AfterFunc(300*time.Millisecond, func() { listening.Store(true) })
	host, port := hostPort(t, srv.Listener.Addr().String())
	probe := func(field, path string) report.Probe {
		p := probeOn(report.HTTPGet, port, path)
		p.Field = field
		return p
	}
	rep := kubelet(report.KubeletSpec{Host: host, Started: started, Timeout: 5 * time.Second, Settle: time.Second,
		Probes: []report.Probe{probe(report.Startup, "/healthz"), probe(report.Readiness, "/healthz"), probe(report.Liveness, "/live")},
		Ports:  []int{port}})
	first := func(run report.ProbeRun) (time.Duration, bool) {
		for _, r := range run.Results {
			if r.OK {
				return r.At, true
			}
		}
		return 0, false
	}
	if at, ok := first(rep.Probes[0]); !ok || at < 300*time.Millisecond || rep.Probes[0].Results[0].Said != "503 Service Unavailable" {
		t.Errorf("startup: %+v", rep.Probes[0])
	}
	if _, ok := first(rep.Probes[1]); !ok {
		t.Errorf("readiness: %+v", rep.Probes[1])
	}
	live := rep.Probes[2].Results
	if n := len(live); n < 2 || !live[0].OK || live[n-1].OK || live[n-1].Said != "500 Internal Server Error" || live[n-1].At < 900*time.Millisecond {
		t.Errorf("liveness: %+v", live)
	}
	if len(rep.Ports) != 1 || rep.Ports[0].Error != "" {
		t.Errorf("ports: %+v", rep.Ports)
	}
	if rep.End < time.Second {
		t.Errorf("watched until %s", rep.End)
	}
}
