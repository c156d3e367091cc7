package daemon

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
)

// forwarder relays a unix socket of its own to an engine reached through a
// dialer (the Docker CLI's ssh helper): testcontainers-go takes its engine
// from DOCKER_HOST and cannot run that helper itself.
type forwarder struct {
	dir string
	ln  net.Listener
}

func forward(dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*forwarder, error) {
	dir, err := os.MkdirTemp("", "slimage-engine-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "engine.sock"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	f := &forwarder{dir: dir, ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			go relay(c, dial)
		}
	}()
	return f, nil
}

func relay(c net.Conn, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	defer c.Close()
	up, err := dial(context.Background(), "", "")
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		close(done)
	}()
	io.Copy(c, up)
	c.Close()
	<-done
}

func (f *forwarder) socket() string { return filepath.Join(f.dir, "engine.sock") }

func (f *forwarder) close() {
	f.ln.Close()
	os.RemoveAll(f.dir)
}
