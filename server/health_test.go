package server

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// The health port answers the four health routes exactly as the main
// port does (status and body), before the start-up loads, once ready and
// while draining, needs no key where the main port wants one for
// everything else, and serves nothing else.
func TestHealthHandlerAnswersAsTheMainPort(t *testing.T) {
	var ready atomic.Bool
	s := testServerLogging(t, Options{APIKey: "secret"}, slog.New(slog.DiscardHandler))
	s.ready = ready.Load // as New's ready argument: the start-up loads done
	h := s.HealthHandler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	routes := []string{"/healthz", "/readiness", "/v2/health/live", "/v2/health/ready"}
	states := []struct {
		name  string
		enter func()
		ready int // /readiness and /v2/health/ready
	}{
		{"loading", func() {}, 503},
		{"ready", func() { ready.Store(true) }, 200},
		{"draining", func() { s.Shutdown(context.Background()) }, 503},
	}
	for _, st := range states {
		st.enter()
		for _, path := range routes {
			code, body := get(path)
			wantCode, _, wantBody := do(t, s, "GET", path, nil)
			if code != wantCode || body != string(wantBody) {
				t.Errorf("%s %s: health port %d %q, main port %d %q", st.name, path, code, body, wantCode, wantBody)
			}
			if (path == "/readiness" || path == "/v2/health/ready") && code != st.ready {
				t.Errorf("%s %s: %d, want %d", st.name, path, code, st.ready)
			}
		}
	}
	for _, path := range []string{"/metrics", "/v2", "/v2/models/" + testModel, "/"} {
		if code, _ := get(path); code != 404 {
			t.Errorf("%s on the health port: %d, want 404", path, code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/health/ready", nil))
	if rec.Code != 405 {
		t.Errorf("POST /v2/health/ready: %d, want 405", rec.Code)
	}
}
