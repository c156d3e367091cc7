// Command hello is slimage's sample service: the smallest HTTP service that
// exercises what a scratch image gets wrong. /time shows which zone the
// program really runs in, /fetch makes an HTTPS call with the image's own
// trust store, and every response carries a request ID from a third-party
// module so that `slimage deps` has real work to do.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", handleHealth)
	mux.HandleFunc("GET /time", handleTime)
	mux.HandleFunc("GET /fetch", handleFetch)

	srv := &http.Server{Addr: *addr, Handler: withRequestID(mux), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("hello %s listening on %s (TZ=%q, time.Local=%s)", version, *addr, os.Getenv("TZ"), time.Local)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", uuid.NewString())
		next.ServeHTTP(w, r)
	})
}

func handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": version})
}

// timeReport is what the program believes about its clock: the TZ variable,
// the zone Go loaded into time.Local, and the offset that zone gives now.
type timeReport struct {
	TZ        string `json:"tz"`
	Local     string `json:"local"`
	Now       string `json:"now"`
	Offset    string `json:"offset"`
	OffsetSec int    `json:"offset_seconds"`
}

func handleTime(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	_, offset := now.Zone()
	writeJSON(w, http.StatusOK, timeReport{
		TZ:        os.Getenv("TZ"),
		Local:     time.Local.String(),
		Now:       now.Format(time.RFC3339),
		Offset:    now.Format("-07:00"),
		OffsetSec: offset,
	})
}

// fetchReport says whether an HTTPS GET with the default client and the
// system trust store worked, and if not, whether the certificate was at fault.
type fetchReport struct {
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	TLS    string `json:"tls,omitempty"`
	Error  string `json:"error,omitempty"`
	Kind   string `json:"kind,omitempty"` // "certificate" or "network"
}

var client = &http.Client{Timeout: 10 * time.Second}

func handleFetch(w http.ResponseWriter, r *http.Request) {
	url := r.URL.Query().Get("url")
	if url == "" {
		writeJSON(w, http.StatusBadRequest, fetchReport{Error: "missing ?url=https://..."})
		return
	}
	rep := fetchReport{URL: url}
	resp, err := client.Get(url)
	if err != nil {
		rep.Error = err.Error()
		rep.Kind = "network"
		if isCertificateError(err) {
			rep.Kind = "certificate"
		}
		writeJSON(w, http.StatusBadGateway, rep)
		return
	}
	defer resp.Body.Close()
	rep.Status = resp.StatusCode
	if resp.TLS != nil {
		rep.TLS = tls.VersionName(resp.TLS.Version)
	}
	writeJSON(w, http.StatusOK, rep)
}

func isCertificateError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
