// Command api is the README's worked example of a real service: an HTTP
// API on :8080 (GET /healthz for probes, GET / rendered from templates/, a
// run-time folder read beside the binary) and metrics on :9090, stopping
// cleanly on SIGTERM. It is built by the README's magefile in a test.
package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"example.com/shop/internal/buildinfo"
)

func main() {
	// Read at start: an image without its run-time folder fails here.
	pages, err := template.ParseGlob("templates/*.html")
	if err != nil {
		log.Fatalf("shop: read templates: %v", err)
	}
	var served atomic.Int64
	api := http.NewServeMux()
	api.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok %s\n", buildinfo.Version)
	})
	api.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		pages.ExecuteTemplate(w, "index.html", map[string]string{"Version": buildinfo.Version, "Now": time.Now().Format("15:04 MST")})
	})
	metrics := http.NewServeMux()
	metrics.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "shop_pages_served_total %d\n", served.Load())
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	servers := []*http.Server{
		{Addr: ":8080", Handler: api, ReadHeaderTimeout: 5 * time.Second},
		{Addr: ":9090", Handler: metrics, ReadHeaderTimeout: 5 * time.Second},
	}
	failed := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if err := s.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		}()
	}
	log.Printf("shop %s: API on :8080, metrics on :9090", buildinfo.Version)
	select {
	case err := <-failed:
		log.Fatalf("shop: %v", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(shutdown)
	}
}
