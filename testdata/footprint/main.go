// Command footprint is a small service that pins its own versions of
// golang.org/x/net, x/sys and x/text and an old go line: slimage's tests
// import the targets into its module and check that nothing it pins moves
// and that its binary stays byte-identical.
package main

import (
	"fmt"
	"log"
	"net/http"
	"time"

	"golang.org/x/net/idna"
	"golang.org/x/sys/unix"
	"golang.org/x/text/width"
)

var version = "dev"

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		host, err := idna.ToASCII("bücher.example")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "footprint %s pid %d host %s %s %s\n", version, unix.Getpid(), host,
			width.Widen.String("abc"), time.Now().Format(time.RFC3339))
	})
	log.Printf("footprint %s listening on :8080", version)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
