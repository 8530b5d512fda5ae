package server

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// healthRoutes are the routes orchestrators probe: open to every client
// (no key: openRoutes), answered from readiness alone, the same on the
// main port and on --health-port.
var healthRoutes = []string{"/healthz", "/readiness", "/v2/health/live", "/v2/health/ready"}

// health is a health route's answer: its status and its JSON body
// (Roboflow's routes have one; KServe's answer with the status alone).
// Readiness is the start-up loads done and not draining.
func (s *Server) health(path string) (int, string) {
	ready := s.isReady()
	switch {
	case path == "/healthz":
		return http.StatusOK, `{"status":"healthy"}`
	case path == "/readiness" && ready:
		return http.StatusOK, `{"status":"ready"}`
	case path == "/readiness":
		return http.StatusServiceUnavailable, `{"status":"not ready"}`
	case path == "/v2/health/ready" && !ready:
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusOK, "" // /v2/health/live, /v2/health/ready when ready
}

// healthRoutesOn serves the health routes on the main port.
func (s *Server) healthRoutesOn(a *fiber.App) {
	for _, path := range healthRoutes {
		a.Get(path, func(c *fiber.Ctx) error {
			code, body := s.health(path)
			c.Status(code)
			if body == "" {
				return nil
			}
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.SendString(body)
		})
	}
}

// HealthHandler serves the health routes, and nothing else, for
// --health-port: plain HTTP with no key, because the kubelet's probes can
// neither present a client certificate under mutual TLS nor carry an API
// key, and a tcpSocket probe would call a pod ready before its models are
// loaded. It tells a prober only what /v2/health/ready tells anyone.
func (s *Server) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	for _, path := range healthRoutes {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, _ *http.Request) {
			code, body := s.health(path)
			if body != "" {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(code)
			w.Write([]byte(body))
		})
	}
	return mux
}
