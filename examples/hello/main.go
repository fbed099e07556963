// Command hello is the example spacecore: an HTTP server that answers
// every request with a greeting naming its host. Standard library only, so
// it builds as a static binary for a one-file image.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	log.Printf("hello listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, mux))
}
