package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	pathpkg "path"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

const localRequestID = "request_id"

// observe gives every request an ID (the client's X-Request-ID when it
// sent a sane one), renders errors here so the access log sees the final
// status, and writes the access log line.
func (s *Server) observe(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if !saneRequestID(id) {
		id = uuid.NewString()
	}
	c.Set(fiber.HeaderXRequestID, id)
	c.Locals(localRequestID, id)
	start := time.Now()
	// Read before the handlers: the Roboflow routes drop the body once
	// its images are decoded, so that a waiting request holds only them.
	bytesIn := len(c.Request().Body())
	if err := s.recovered(c); err != nil {
		if err := s.errorHandler(c, err); err != nil {
			c.Status(http.StatusInternalServerError)
		}
	}
	if s.opts.AccessLog {
		s.log.Info("access", "request_id", id, "method", c.Method(), "path", c.Path(),
			"status", c.Response().StatusCode(), "duration_us", time.Since(start).Microseconds(),
			"bytes_in", bytesIn, "bytes_out", len(c.Response().Body()), "remote", c.IP())
	}
	return nil
}

// recovered runs the rest of the chain, turning a panic in a handler into
// a 500 for this request alone, logged with its stack (pipeline stages
// recover their own panics the same way).
func (s *Server) recovered(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in handler: %v\n%s", r, debug.Stack())
		}
	}()
	return c.Next()
}

// saneRequestID accepts client IDs that are short and printable, so a log
// line cannot be forged or bloated through them.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// openRoutes need no API key: the health routes, which orchestrators
// probe.
var openRoutes = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range healthRoutes {
		m[p] = true
	}
	return m
}()

// routeClass is what a route may do, for its key (see authorize).
type routeClass int

const (
	classInference routeClass = iota // inference, metadata, statistics, the registry
	classAdd                         // Roboflow's /model/add: loads a repository model, as an auto-loading inference would
	classControl                     // loads, unloads or reconfigures models
)

// classOf tells model control from the rest: KServe's repository load and
// unload, Roboflow's /model/remove and /model/clear.
//
// The path is compared as the router matches it: case-insensitively, with
// a trailing slash, repeated slashes and dot segments ignored, so no
// spelling of a control route reaches its handler as inference.
func classOf(method, p string) routeClass {
	if !strings.EqualFold(method, fiber.MethodPost) {
		return classInference
	}
	path := strings.ToLower(pathpkg.Clean("/" + p))
	switch path {
	case "/model/add":
		return classAdd
	case "/model/remove", "/model/clear":
		return classControl
	}
	if rest, ok := strings.CutPrefix(path, "/v2/repository/models/"); ok && (strings.HasSuffix(rest, "/load") || strings.HasSuffix(rest, "/unload")) {
		return classControl
	}
	return classInference
}

// authorize enforces Options.APIKey and Options.AdminAPIKey:
//
//   - model control (classOf) needs the admin key when one is set, else
//     the API key when one is set (config.ControlKey), else nothing;
//   - /model/add takes the API key or the admin key (inference-sdk adds
//     repository models with the key it infers with);
//   - everything else needs the API key (or the admin key) when an API
//     key is set, else nothing. The health checks never need a key.
//
// A valid API key on a control route guarded by an admin key is 403; a
// missing or wrong key 401. Comparisons are of SHA-256 digests in constant
// time, so neither a key's bytes nor its length leak through timing.
func (s *Server) authorize(c *fiber.Ctx) error {
	if openRoutes[c.Path()] {
		return c.Next()
	}
	admin, inference := s.opts.AdminAPIKey != "", s.opts.APIKey != ""
	class := classOf(c.Method(), c.Path())
	var accept []*[32]byte
	switch {
	case class == classControl && admin:
		accept = []*[32]byte{&s.adminKey}
	case class == classControl && inference:
		accept = []*[32]byte{&s.apiKey}
	case inference:
		accept = []*[32]byte{&s.apiKey}
		if admin {
			accept = append(accept, &s.adminKey)
		}
	}
	if len(accept) == 0 {
		return c.Next()
	}
	key := presentedKey(c)
	if key == "" {
		return fiber.NewError(http.StatusUnauthorized, "missing or invalid API key")
	}
	sum := sha256.Sum256([]byte(key))
	for _, want := range accept {
		if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			return c.Next()
		}
	}
	if class == classControl && inference && subtle.ConstantTimeCompare(sum[:], s.apiKey[:]) == 1 {
		return &apiError{Status: http.StatusForbidden, Type: "Forbidden",
			Msg: "model control needs the admin key (TRTSERVE_ADMIN_API_KEY): the API key serves inference only"}
	}
	return fiber.NewError(http.StatusUnauthorized, "missing or invalid API key")
}

// presentedKey is the key a request carries: "Authorization: Bearer
// <key>", "X-API-Key: <key>", ?api_key=<key>, or Roboflow's "api_key"
// field of a JSON body.
func presentedKey(c *fiber.Ctx) string {
	key := c.Get("X-API-Key")
	if auth := c.Get(fiber.HeaderAuthorization); key == "" && len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		key = auth[7:]
	}
	if key == "" {
		key = c.Query("api_key")
	}
	if key == "" && strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		key = bodyKey(c.Body())
	}
	return key
}

// bodyKey is the "api_key" member of a JSON body, "" when there is none
// or the body is malformed (it gets its own 400 once authorized). The
// decoder copies its whole input, so when the body is a Roboflow request
// its image value (nearly all of it) is cut out first, as
// parseJSONRequest does: the key costs a few hundred bytes, not a copy of
// every body.
func bodyKey(body []byte) string {
	var v struct {
		APIKey string `json:"api_key"`
	}
	if start, end, ok := imageField(body); ok {
		rest := make([]byte, 0, len(body)-(end-start)+4)
		body = append(append(append(rest, body[:start]...), "null"...), body[end:]...)
	}
	if gojson.Unmarshal(body, &v) != nil {
		return ""
	}
	return v.APIKey
}

var zstdDecoders = sync.Pool{New: func() any {
	// Single-threaded: a stream decode then starts no goroutines. The
	// window cap bounds what one frame header can make us allocate; zstd's
	// levels use at most 8 MiB windows unless --long is asked for.
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(32<<20))
	if err != nil {
		panic(err) // only for invalid options
	}
	return d
}}

// decompress replaces a gzip, deflate or zstd request body with its
// decoded bytes, refusing with 413 a body that inflates beyond
// MaxBodyBytes (a decompression bomb stops there: at most that much is
// ever held). It must run before anything reads c.Body(): Fiber's Body()
// would otherwise inflate the body itself, without any limit.
func (s *Server) decompress(c *fiber.Ctx) error {
	enc := strings.ToLower(strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)))
	if enc == "" || enc == "identity" {
		return c.Next()
	}
	raw := bytes.NewReader(c.Request().Body())
	var r io.Reader
	var err error
	switch enc {
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(raw)
	case "deflate":
		r, err = zlib.NewReader(raw)
	case "zstd":
		d := zstdDecoders.Get().(*zstd.Decoder)
		defer func() {
			d.Reset(nil)
			zstdDecoders.Put(d)
		}()
		r, err = d, d.Reset(raw)
	default:
		return &apiError{Status: http.StatusUnsupportedMediaType, Type: "UnsupportedEncoding",
			Msg: "Content-Encoding " + strconv.Quote(enc) + " is not supported: send gzip, deflate, zstd or an uncompressed body"}
	}
	if err != nil {
		return badRequest("request body is not valid %s: %v", enc, err)
	}
	limit := int64(s.opts.MaxBodyBytes)
	var out bytes.Buffer
	out.Grow(int(min(int64(raw.Len())*4, limit)))
	n, err := out.ReadFrom(io.LimitReader(r, limit+1))
	if n > limit {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "PayloadTooLarge",
			Msg: "request body inflates beyond the " + strconv.FormatInt(limit, 10) + "-byte limit"}
	}
	if err != nil {
		return badRequest("request body is not valid %s: %v", enc, err)
	}
	c.Request().SetBodyRaw(out.Bytes())
	c.Request().Header.Del(fiber.HeaderContentEncoding)
	return c.Next()
}

// minCompressBytes: smaller responses go out as they are (a detection
// answer is a few hundred bytes; compressing it costs more than it saves).
const minCompressBytes = 4 << 10

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

var zstdEncoders = sync.Pool{New: func() any {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	return e
}}

// compressResponse encodes a response with the first of zstd, gzip (at
// their fastest levels) the client accepts, when it is large enough to
// gain and is not an image.
func (s *Server) compressResponse(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		return err
	}
	res := &c.Context().Response
	body := res.Body()
	ctype := string(res.Header.ContentType())
	if len(body) < minCompressBytes || len(res.Header.Peek(fiber.HeaderContentEncoding)) > 0 || strings.HasPrefix(ctype, "image/") {
		return nil
	}
	enc := acceptedEncoding(c.Get(fiber.HeaderAcceptEncoding))
	if enc == "" {
		return nil
	}
	var out bytes.Buffer
	out.Grow(len(body) / 2)
	switch enc {
	case "zstd":
		e := zstdEncoders.Get().(*zstd.Encoder)
		out.Write(e.EncodeAll(body, out.AvailableBuffer()))
		zstdEncoders.Put(e)
	case "gzip":
		w := gzipWriters.Get().(*gzip.Writer)
		w.Reset(&out)
		w.Write(body)
		w.Close()
		gzipWriters.Put(w)
	}
	res.SetBodyRaw(out.Bytes())
	res.Header.Set(fiber.HeaderContentEncoding, enc)
	res.Header.Add(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	return nil
}

// acceptedEncoding picks zstd or gzip from an Accept-Encoding header,
// honouring q=0 refusals; "" when neither is acceptable.
func acceptedEncoding(header string) string {
	ok := map[string]bool{}
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		q := 1.0
		if v, found := strings.CutPrefix(strings.TrimSpace(params), "q="); found {
			q, _ = strconv.ParseFloat(v, 64)
		}
		ok[name] = q > 0
	}
	for _, enc := range []string{"zstd", "gzip"} {
		if ok[enc] {
			return enc
		}
	}
	return ""
}
