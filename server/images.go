package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	gojson "github.com/goccy/go-json"
)

// imageRef is Roboflow's InferenceRequestImage: {"type": ..., "value": ...}.
type imageRef struct {
	Type  string            `json:"type"`
	Value gojson.RawMessage `json:"value"`
}

// parseImages reads the "image" field: one imageRef or a list of them.
// list reports whether the client sent a list (and so wants a list back).
func parseImages(raw gojson.RawMessage) (refs []imageRef, list bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, badRequest("field image is required")
	}
	if raw[0] == '[' {
		if err := gojson.Unmarshal(raw, &refs); err != nil {
			return nil, true, badRequest("field image: %v", err)
		}
		if len(refs) == 0 {
			return nil, true, badRequest("field image: empty list")
		}
		return refs, true, nil
	}
	var one imageRef
	if err := gojson.Unmarshal(raw, &one); err != nil {
		return nil, false, badRequest("field image: must be {\"type\": ..., \"value\": ...} or a list of those: %v", err)
	}
	return []imageRef{one}, false, nil
}

var dataURI = regexp.MustCompile(`^data:image/[a-zA-Z0-9.+-]+;base64,`)

// decodeBase64 accepts standard or URL-safe base64, padded or not, with or
// without a data-URI prefix, ignoring whitespace (as Python's b64decode
// does by default).
func decodeBase64(s []byte) ([]byte, error) {
	s = bytes.TrimSpace(s)
	if loc := dataURI.FindIndex(s); loc != nil {
		s = s[loc[1]:]
	}
	clean := make([]byte, 0, len(s))
	for _, b := range s {
		if b != '\n' && b != '\r' && b != ' ' && b != '\t' {
			clean = append(clean, b)
		}
	}
	if len(clean) == 0 {
		return nil, badRequest("image value is empty")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		out := make([]byte, enc.DecodedLen(len(clean)))
		if n, err := enc.Decode(out, clean); err == nil {
			return out[:n], nil
		}
	}
	return nil, badRequest("image value is not valid base64")
}

// loadImage returns the encoded image bytes an imageRef names.
func (s *Server) loadImage(ctx context.Context, ref imageRef) ([]byte, error) {
	switch ref.Type {
	case "base64", "":
		var str string
		if err := gojson.Unmarshal(ref.Value, &str); err != nil {
			return nil, badRequest("image value must be a base64 string")
		}
		return decodeBase64([]byte(str))
	case "url":
		var u string
		if err := gojson.Unmarshal(ref.Value, &u); err != nil {
			return nil, badRequest("image value must be a URL string")
		}
		return s.fetchURL(ctx, u)
	case "numpy", "numpy_object", "pil", "file":
		return nil, badRequest("image type %q is not accepted: trtserve never unpickles client data; send a base64-encoded image", ref.Type)
	}
	return nil, badRequest("image type %q is not one of base64, url", ref.Type)
}

// allowedHost matches a URL against the allowlist: an entry with a port
// matches host:port exactly, one without matches the host on any port, and
// one starting with "." matches subdomains of the rest.
func allowedHost(list []string, u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	for _, e := range list {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
		case strings.HasPrefix(e, "."):
			if strings.HasSuffix(host, e) {
				return true
			}
		case strings.Contains(e, ":") && !strings.HasPrefix(e, "["):
			if strings.ToLower(u.Host) == e {
				return true
			}
		case host == strings.Trim(e, "[]"):
			return true
		}
	}
	return false
}

// fetchURL downloads an image when URL input is enabled: http(s) only, no
// redirects to another host, bounded in size and time.
func (s *Server) fetchURL(ctx context.Context, raw string) ([]byte, error) {
	if !s.opts.AllowURLInput {
		return nil, badRequest("url image input is disabled on this server (start it with --allow-url-input)")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, badRequest("image url must be an absolute http(s) URL")
	}
	if !allowedHost(s.opts.URLAllowlist, u) {
		return nil, &apiError{Status: http.StatusForbidden, Type: "URLNotAllowed", Msg: "image url host " + strconv.Quote(u.Host) + " is not in this server's URL allowlist"}
	}
	client := &http.Client{
		Timeout: s.opts.URLTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != u.Host || len(via) > 3 {
				return fmt.Errorf("redirect to another host refused")
			}
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.URLTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, badRequest("image url: %v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, badRequest("image url could not be fetched")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, badRequest("image url answered %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxURLBytes+1))
	if err != nil {
		return nil, badRequest("image url could not be read")
	}
	if int64(len(data)) > s.opts.MaxURLBytes {
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Type: "ImageTooLarge", Msg: "image at url is larger than the limit"}
	}
	return data, nil
}
