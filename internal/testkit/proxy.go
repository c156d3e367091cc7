package testkit

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// EngineProxy is a container engine socket of the test's own that relays
// to the real daemon and keeps what clients sent, so a test can tell which
// requests went through it.
type EngineProxy struct {
	Socket string // the proxy's own socket: unix://<Socket>
	// OnRequest, if set before the first request, is called with the method
	// and path of each request as it goes through (a test's hook: cancel a
	// step at a given request).
	OnRequest func(method, path string)
	mu        sync.Mutex
	sent      bytes.Buffer
}

// NewEngineProxy starts a proxy in front of the engine DOCKER_HOST names
// (else the default socket), closed when the test ends.
func NewEngineProxy(t testing.TB) *EngineProxy {
	t.Helper()
	network, addr := "unix", "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		addr = strings.TrimPrefix(h, "unix://")
	} else if strings.HasPrefix(h, "tcp://") {
		network, addr = "tcp", strings.TrimPrefix(h, "tcp://")
	}
	// A short path: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "slimage-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	p := &EngineProxy{Socket: filepath.Join(dir, "engine.sock")}
	ln, err := net.Listen("unix", p.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); os.RemoveAll(dir) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial(network, addr)
				if err != nil {
					return
				}
				defer up.Close()
				go func() {
					io.Copy(io.MultiWriter(up, p), c)
					up.(interface{ CloseWrite() error }).CloseWrite()
				}()
				io.Copy(c, up)
			}()
		}
	}()
	return p
}

func (p *EngineProxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	n, err := p.sent.Write(b)
	p.mu.Unlock()
	if p.OnRequest != nil {
		// Go's HTTP client writes a request's headers in one piece.
		if method, path, ok := requestLine(string(b)); ok {
			p.OnRequest(method, path)
		}
	}
	return n, err
}

// requestLine is the method and path (without the query) of an HTTP
// request line.
func requestLine(l string) (method, path string, ok bool) {
	l, _, _ = strings.Cut(l, "\r\n")
	if f := strings.Fields(l); len(f) == 3 && strings.HasPrefix(f[2], "HTTP/") {
		u, _, _ := strings.Cut(f[1], "?")
		return f[0], u, true
	}
	return "", "", false
}

// Contains says whether the clients sent s.
func (p *EngineProxy) Contains(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Contains(p.sent.String(), s)
}

// Saw says whether a request to an API path ending in path went through.
func (p *EngineProxy) Saw(method, path string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range strings.Split(p.sent.String(), "\r\n") {
		if m, u, ok := requestLine(l); ok && m == method && strings.HasSuffix(u, path) {
			return true
		}
	}
	return false
}

// Reset forgets what went through so far.
func (p *EngineProxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent.Reset()
}
