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

// The fast path below reads the "image" field where it lies in the request
// body, so that a 370 KB base64 value is neither copied by the JSON decoder
// (goccy/go-json copies its whole input, and a RawMessage its value) nor
// unescaped into a string: it is decoded once, from the body, into the
// image's own buffer. It reads only the shapes clients send ({"type": "base64",
// "value": "..."}, one or a list, strings without escapes); anything else
// goes through the general parser, which also words every error, so
// accepted requests and answers are the same either way.

// jsonScanner walks a JSON text that the general decoder validates later:
// it finds spans, it does not check what it skips.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips whitespace and then c, reporting whether c was there.
func (s *jsonScanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string at s.i: its span with the quotes, and whether it has
// escapes or a NUL byte (which goccy/go-json takes for the end of input),
// which only the decoder reads right.
func (s *jsonScanner) str() (start, end int, escaped, ok bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return 0, 0, false, false
	}
	start = s.i
	j := s.i + 1
	for {
		k := bytes.IndexByte(s.b[j:], '"')
		if k < 0 {
			return 0, 0, false, false
		}
		j += k
		bs := 0
		for bs < j-start-1 && s.b[j-1-bs] == '\\' {
			bs++
		}
		if bs%2 == 0 {
			break
		}
		j++
	}
	s.i = j + 1
	in := s.b[start:s.i]
	return start, s.i, bytes.IndexByte(in, '\\') >= 0 || bytes.IndexByte(in, 0) >= 0, true
}

// skip moves past one value.
func (s *jsonScanner) skip() bool {
	s.ws()
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, _, _, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, _, _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return true
		}
		s.i++
	}
	return true
}

// members calls f for each member of the object at s.i with the key (its
// text, no escapes) and the scanner at the value; f must move past the
// value. False when the text is not an object this reads.
func (s *jsonScanner) members(f func(key []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		ks, ke, escaped, ok := s.str()
		if !ok || escaped || !s.consume(':') || !f(s.b[ks+1:ke-1]) {
			return false
		}
		if s.consume('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// imageField finds the value of a JSON object's "image" member in body:
// the span [start, end). ok is false when body is not an object with
// exactly one member that could be the field: a key such as "Image", which
// the decoder may match case-insensitively, leaves it to the decoder.
func imageField(body []byte) (start, end int, ok bool) {
	s := &jsonScanner{b: body}
	found := 0
	if !s.members(func(key []byte) bool {
		if !bytes.EqualFold(key, []byte("image")) {
			return s.skip()
		}
		if string(key) != "image" {
			return false
		}
		found++
		s.ws()
		start = s.i
		ok := s.skip()
		end = s.i
		return ok
	}) {
		return 0, 0, false
	}
	s.ws()
	return start, end, found == 1 && s.i == len(body)
}

// imageRefsInPlace reads an "image" value of one {"type": ..., "value": ...}
// or a non-empty list of them, both plain strings, into refs whose Value
// is a slice of raw. ok is false for anything else (parseImages reads it).
func imageRefsInPlace(raw []byte) (refs []imageRef, list, ok bool) {
	s := &jsonScanner{b: raw}
	one := func() bool {
		var ref imageRef
		var seenType, seenValue bool
		if !s.members(func(key []byte) bool {
			vs, ve, escaped, ok := s.str()
			switch {
			case !ok || escaped:
				return false
			case string(key) == "type" && !seenType:
				seenType, ref.Type = true, string(raw[vs+1:ve-1])
			case string(key) == "value" && !seenValue:
				seenValue, ref.Value = true, raw[vs:ve:ve]
			default:
				return false
			}
			return true
		}) || !seenValue {
			return false
		}
		refs = append(refs, ref)
		return true
	}
	s.ws()
	if s.i < len(raw) && raw[s.i] == '[' {
		list = true
		s.i++
		for {
			if !one() {
				return nil, true, false
			}
			if s.consume(']') {
				break
			}
			if !s.consume(',') {
				return nil, true, false
			}
		}
	} else if !one() {
		return nil, false, false
	}
	s.ws()
	return refs, list, s.i == len(raw)
}

// rawJSONString is the text of a JSON string literal without escapes, in
// place; false for anything else.
func rawJSONString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') >= 0 || bytes.IndexByte(in, '"') >= 0 {
		return nil, false
	}
	return in, true
}

var dataURI = regexp.MustCompile(`^data:image/[a-zA-Z0-9.+-]+;base64,`)

// base64Text is the part of an image value that is base64: trimmed, a
// data-URI prefix dropped; a slice of s, nothing is copied.
func base64Text(s []byte) ([]byte, error) {
	s = bytes.TrimSpace(s)
	if loc := dataURI.FindIndex(s); loc != nil {
		s = s[loc[1]:]
	}
	if len(s) == 0 {
		return nil, badRequest("image value is empty")
	}
	return s, nil
}

// base64Encodings are tried in this order: standard or URL-safe base64,
// padded or not (as Python's b64decode is lenient).
var base64Encodings = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

// decodeBase64To decodes base64 text (from base64Text) into dst, grown
// when it is too small, and returns the image bytes (a prefix of dst or of
// its replacement). Whitespace inside the text is ignored, as Python's
// b64decode ignores it: Go's decoder skips line breaks itself, and only a
// text it refuses is searched for spaces and tabs and tried again without
// them, so the common case reads the text once and copies nothing.
func decodeBase64To(dst, text []byte) ([]byte, error) {
	try := func(text []byte) ([]byte, bool) {
		whole := len(text)%4 == 0 || bytes.ContainsAny(text, "\r\n")
		for _, enc := range base64Encodings {
			if !whole && (enc == base64.StdEncoding || enc == base64.URLEncoding) {
				continue // a padded encoding needs whole quanta: it would fail
			}
			if n := enc.DecodedLen(len(text)); cap(dst) < n {
				dst = make([]byte, n)
			}
			if n, err := enc.Decode(dst[:cap(dst)], text); err == nil {
				return dst[:n], true
			}
		}
		return nil, false
	}
	if out, ok := try(text); ok {
		return out, nil
	}
	if bytes.ContainsAny(text, " \t") {
		clean := make([]byte, 0, len(text))
		for _, b := range text {
			if b != ' ' && b != '\t' {
				clean = append(clean, b)
			}
		}
		if out, ok := try(clean); ok {
			return out, nil
		}
	}
	return nil, badRequest("image value is not valid base64")
}

// decodeBase64 accepts standard or URL-safe base64, padded or not, with or
// without a data-URI prefix, ignoring whitespace (as Python's b64decode
// does by default), into fresh memory.
func decodeBase64(s []byte) ([]byte, error) {
	text, err := base64Text(s)
	if err != nil {
		return nil, err
	}
	return decodeBase64To(nil, text)
}

// imageSrc is one image of a request as the request holds it while it
// waits: its encoded bytes, in a buffer of their own, exactly as large as
// they are (a base64 value decoded where it lay in the body, a URL
// download, a multipart file). Nothing of the request body is kept: once
// its images are read the body goes back to fasthttp's pool
// (releaseBody), so a waiting 1080p request holds its 270 KB JPEG, not
// the 370 KB of base64 in the 512 KB buffer fasthttp read it into
// (docs/benchmarks.md, "Memory").
type imageSrc struct {
	data []byte
}

// held is the memory the image holds while its request waits.
func (src imageSrc) held() int64 { return int64(len(src.data)) }

// decodedSize bounds the bytes base64 text decodes to (exact for padded
// text without whitespace, give or take the padding).
func decodedSize(text []byte) int { return base64.RawStdEncoding.DecodedLen(len(text)) }

// loadImage returns the image an imageRef names: base64 decoded (from the
// body, in place) into a buffer of its own; a URL downloaded.
func (s *Server) loadImage(ctx context.Context, ref imageRef) (imageSrc, error) {
	switch ref.Type {
	case "base64", "":
		text, ok := rawJSONString(ref.Value)
		if !ok {
			var str string
			if err := gojson.Unmarshal(ref.Value, &str); err != nil {
				return imageSrc{}, badRequest("image value must be a base64 string")
			}
			text = []byte(str)
		}
		t, err := base64Text(text)
		if err != nil {
			return imageSrc{}, err
		}
		data, err := decodeBase64To(make([]byte, 0, decodedSize(t)), t)
		return imageSrc{data: data}, err
	case "url":
		var u string
		if err := gojson.Unmarshal(ref.Value, &u); err != nil {
			return imageSrc{}, badRequest("image value must be a URL string")
		}
		data, err := s.fetchURL(ctx, u)
		return imageSrc{data: data}, err
	case "numpy", "numpy_object", "pil", "file":
		return imageSrc{}, badRequest("image type %q is not accepted: trtserve never unpickles client data; send a base64-encoded image", ref.Type)
	}
	return imageSrc{}, badRequest("image type %q is not one of base64, url", ref.Type)
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
