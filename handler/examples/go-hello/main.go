// FC's seed function with Go's net/http only (no modules beyond the standard
// library), run as fcworker's [app]: POST /initialize answers "OK"; every other
// request (any method, any path) is an invocation answering 200 "Hello, World!"
// with Function-Name: $FC_FUNCTION_NAME. The FC log lines are the worker's
// (fc_lines = worker, the default).
//
//	go build -o go-hello . && PORT=9001 ./go-hello   (fcworker sets PORT from [app] address)
package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "9001"
	}
	name := os.Getenv("FC_FUNCTION_NAME")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body to its end, so the kept-alive connection is ready for
		// fcworker's next request.
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method == http.MethodPost && r.URL.Path == "/initialize" {
			io.WriteString(w, "OK")
			return
		}
		w.Header().Set("Function-Name", name)
		io.WriteString(w, "Hello, World!")
	})
	// No timeouts of the server's own: fcworker keeps the connections, closes
	// them itself, and bounds each request by the route's timeout.
	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: handler}

	// fcworker sends SIGTERM once its in-flight requests are answered: close
	// the idle connections and exit 0.
	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	go func() {
		<-stop.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		os.Stderr.WriteString("go-hello: " + err.Error() + "\n")
		os.Exit(1)
	}
}
