// Command bare is the floor bench/serve.sh measures tokenward serve
// against: a bare net/http server that answers each benchmarked request
// with the status, headers and body tokenward serve gave it, doing no
// other work than reading the request. Its answers are files that
// bench/serve.sh captured from tokenward serve.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"time"
)

// answer is one captured response: curl -D writes the status line and the
// headers, the body is a file of its own.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func load(dir, name string) (answer, error) {
	f, err := os.Open(filepath.Join(dir, name+".headers"))
	if err != nil {
		return answer{}, err
	}
	defer f.Close()
	tp := textproto.NewReader(bufio.NewReader(f))
	line, err := tp.ReadLine()
	if err != nil {
		return answer{}, fmt.Errorf("%s.headers: %w", name, err)
	}
	var a answer
	var proto string
	if _, err := fmt.Sscanf(line, "%s %d", &proto, &a.status); err != nil {
		return answer{}, fmt.Errorf("%s.headers: status line %q: %w", name, line, err)
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil && err != io.EOF {
		return answer{}, fmt.Errorf("%s.headers: %w", name, err)
	}
	a.header = http.Header(mh)
	// Computed per response by net/http, as for tokenward serve.
	a.header.Del("Date")
	a.header.Del("Content-Length")
	if a.body, err = os.ReadFile(filepath.Join(dir, name+".body")); err != nil {
		return answer{}, err
	}
	return a, nil
}

func (a answer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
	w.Write(a.body)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8421", "the address to listen on")
	dir := flag.String("answers", "", "the folder of the captured answers: verify, introspect and authz, each a .headers and a .body file")
	flag.Parse()
	mux := http.NewServeMux()
	for name, pattern := range map[string]string{"verify": "POST /v1/verify", "introspect": "POST /oauth2/introspect", "authz": "GET /v1/authz"} {
		a, err := load(*dir, name)
		if err != nil {
			log.Fatalf("bare: answers (--answers): %v", err)
		}
		mux.Handle(pattern, a)
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "{\"ready\":true}\n") })
	// The timeouts tokenward serve sets, so both servers do the same
	// bookkeeping per connection.
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 15 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Fatal(srv.ListenAndServe())
}
