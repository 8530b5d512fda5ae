package server

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// URL input: off by default; when on, only allowlisted hosts, no redirect
// to another host, bounded size and time.
func TestURLInputIsFencedIn(t *testing.T) {
	jpegBytes, _ := base64.StdEncoding.DecodeString(tinyJPEGBase64(t))
	var origin *httptest.Server
	origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.jpg":
			w.Write(jpegBytes)
		case "/big.jpg":
			w.Write(bytes.Repeat([]byte{0xff}, 4096))
		case "/slow.jpg":
			time.Sleep(2 * time.Second)
			w.Write(jpegBytes)
		case "/same-host":
			http.Redirect(w, r, origin.URL+"/ok.jpg", http.StatusFound)
		case "/other-host":
			http.Redirect(w, r, strings.Replace(origin.URL, "127.0.0.1", "localhost", 1)+"/ok.jpg", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()
	fenced := testServer(t, Options{AllowURLInput: true, URLAllowlist: []string{"127.0.0.1"}, MaxURLBytes: 1024, URLTimeout: 500 * time.Millisecond})
	closed := testServer(t, Options{})
	local := strings.Replace(origin.URL, "127.0.0.1", "localhost", 1)
	for _, tc := range []struct {
		name string
		s    *Server
		url  string
		want int
		text string
	}{
		{"allowlisted", fenced, origin.URL + "/ok.jpg", 200, ""},
		{"same-host redirect", fenced, origin.URL + "/same-host", 200, ""},
		{"off by default", closed, origin.URL + "/ok.jpg", 400, "disabled"},
		{"host not allowlisted", fenced, local + "/ok.jpg", 403, "allowlist"},
		{"redirect to another host", fenced, origin.URL + "/other-host", 400, "could not be fetched"},
		{"too big", fenced, origin.URL + "/big.jpg", 413, "larger than the limit"},
		{"too slow", fenced, origin.URL + "/slow.jpg", 400, "could not be fetched"},
		{"not found", fenced, origin.URL + "/nope.jpg", 400, "answered 404"},
		{"not http", fenced, "file:///etc/passwd", 400, "http(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"model_id":"yolov8n-320/1","image":{"type":"url","value":%q}}`, tc.url)
			status, _, out := do(t, tc.s, "POST", "/infer/object_detection", []byte(body), "Content-Type", "application/json")
			if status != tc.want || !strings.Contains(string(out), tc.text) {
				t.Fatalf("%d %s, want %d with %q", status, out, tc.want, tc.text)
			}
		})
	}
}

func TestAllowedHost(t *testing.T) {
	for _, tc := range []struct {
		list []string
		url  string
		want bool
	}{
		{[]string{"images.example.com"}, "https://images.example.com/a.jpg", true},
		{[]string{"images.example.com"}, "https://IMAGES.example.com:8443/a.jpg", true},
		{[]string{"images.example.com"}, "https://images.example.com.evil.net/a.jpg", false},
		{[]string{".example.com"}, "https://cdn.example.com/a.jpg", true},
		{[]string{".example.com"}, "https://example.com.evil.net/a.jpg", false},
		{[]string{"host:8080"}, "http://host:8080/a", true},
		{[]string{"host:8080"}, "http://host:9090/a", false},
		{[]string{"[::1]"}, "http://[::1]:80/a", true},
		{nil, "http://anything/a", false},
		{[]string{""}, "http://anything/a", false},
	} {
		u, _ := url.Parse(tc.url)
		if got := allowedHost(tc.list, u); got != tc.want {
			t.Errorf("%v %s: %v, want %v", tc.list, tc.url, got, tc.want)
		}
	}
}

// Errors name what was wrong without echoing what the client sent.
func TestErrorsDoNotEchoBodies(t *testing.T) {
	s := testServer(t, Options{APIKey: "k", AutoLoad: true})
	secret := strings.Repeat("S3CRET-", 40)
	for _, body := range []string{
		`{"api_key":"k","model_id":"yolov8n-320/1","image":{"type":"` + secret + `","value":"x"}}`,
		`{"api_key":"k","model_id":"yolov8n-320/1","image":{"type":"base64","value":"` + secret + `"}}`,
		`{"api_key":"k","model_id":"yolov8n-320/1","confidence":"` + secret + `","image":{"type":"base64","value":"AA"}}`,
		`{"api_key":"k","model_id":"` + secret + `","image":{"type":"base64","value":"AA"}}`,
		`{"api_key":"` + secret + `"}`,
		`{"api_key":"k", ` + secret,
	} {
		status, _, out := do(t, s, "POST", "/infer/object_detection", []byte(body), "Content-Type", "application/json")
		if status < 400 || strings.Contains(string(out), secret[:80]) {
			t.Errorf("%d %s", status, out)
		}
	}
}
