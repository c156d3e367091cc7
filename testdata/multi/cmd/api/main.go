// Command api serves its API on 9090 and its health and metrics on 8080,
// and its web UI from the ui/ folder beside it (/app/ui in the image).
package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	api := http.NewServeMux()
	api.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("api " + version + "\n")) })
	api.Handle("/ui/", http.StripPrefix("/ui/", http.FileServer(http.Dir("ui"))))
	ops := http.NewServeMux()
	ops.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	servers := []*http.Server{{Addr: ":9090", Handler: api}, {Addr: ":8080", Handler: ops}}
	for _, s := range servers {
		go s.ListenAndServe()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	for _, s := range servers {
		s.Shutdown(context.Background())
	}
}
