package server

import "net/http"

// HealthHandler answers the four health routes as the main port does
// (the same readiness, turning 503 while draining), and nothing else,
// for --health-port: plain HTTP with no key, because the kubelet's probes
// can neither present a client certificate under mutual TLS nor carry an
// API key, and a tcpSocket probe would call a pod ready before its models
// are loaded. It tells a prober only what /v2/health/ready tells anyone.
func (s *Server) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	status := func(w http.ResponseWriter, code int, body string) {
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		status(w, http.StatusOK, `{"status":"healthy"}`)
	})
	mux.HandleFunc("GET /readiness", func(w http.ResponseWriter, _ *http.Request) {
		if !s.isReady() {
			status(w, http.StatusServiceUnavailable, `{"status":"not ready"}`)
			return
		}
		status(w, http.StatusOK, `{"status":"ready"}`)
	})
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, _ *http.Request) { status(w, http.StatusOK, "") })
	mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !s.isReady() {
			status(w, http.StatusServiceUnavailable, "")
			return
		}
		status(w, http.StatusOK, "")
	})
	return mux
}
