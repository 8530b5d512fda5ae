package app

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves Go's profiles (net/http/pprof: /debug/pprof/profile
// for CPU, heap, goroutine, ...) on addr, on a listener of its own apart
// from the API, when --pprof-addr is set; off by default. It is how the
// CPU profiles in docs/benchmarks.md ("CPU per image") were taken:
// `go tool pprof http://ADDR/debug/pprof/profile?seconds=10` while
// `trtserve bench` loads the server. The returned function closes it.
func servePprof(addr string, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Warn("pprof profiles served without authentication", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
