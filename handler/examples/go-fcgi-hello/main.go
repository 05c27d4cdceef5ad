// FC's seed function with Go's net/http/fcgi (standard library only), kept warm
// by fcworker's [app] handler as a FastCGI application (protocol = fastcgi):
// every request answers 200 "Hello, World!" with Function-Name:
// $FC_FUNCTION_NAME. The FC log lines are the worker's.
//
// fcworker hands each copy its listening socket as fd 0, as the FastCGI
// specification and spawn-fcgi do.
package main

import (
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
)

func main() {
	l, err := net.FileListener(os.NewFile(0, ""))
	if err != nil {
		os.Stderr.WriteString("go-fcgi-hello: fd 0 is not a listening socket: " + err.Error() + "\n")
		os.Exit(1)
	}
	name := os.Getenv("FC_FUNCTION_NAME")
	err = fcgi.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Function-Name", name)
		io.WriteString(w, "Hello, World!")
	}))
	// fcworker closes the socket and sends SIGTERM to stop a copy.
	if err != nil {
		os.Stderr.WriteString("go-fcgi-hello: " + err.Error() + "\n")
		os.Exit(1)
	}
}
