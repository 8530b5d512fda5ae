package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/tasks"
)

// apiError is an error with an HTTP status and Roboflow's error_type.
type apiError struct {
	Status int
	Type   string
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

// badRequest is a 400. String arguments, which may come from the client,
// are clipped: an error names what was wrong, it never echoes a body back.
func badRequest(format string, args ...any) error {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clip(s)
		}
	}
	return &apiError{http.StatusBadRequest, "InvalidRequest", fmt.Sprintf(format, args...)}
}

// clip shortens a client-supplied string quoted in an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

// maxMessage caps every error message (parser errors may quote input).
const maxMessage = 512

// errorBody is Roboflow Inference's error shape ({"message": ...}) plus
// the error_type its newer releases add.
type errorBody struct {
	Message   string `json:"message"`
	ErrorType string `json:"error_type"`
}

// classify maps any error to a status and type. Unknown errors are 500s
// and their text is logged, not returned, so internals never leak.
func classify(err error) (int, string, string) {
	if status, typ, msg, ok := kserveClassify(err); ok {
		return status, typ, msg
	}
	var api *apiError
	var fe *fiber.Error
	switch {
	case errors.As(err, &api):
		return api.Status, api.Type, api.Msg
	case errors.As(err, &fe):
		t := "HTTPError"
		if fe.Code == http.StatusRequestEntityTooLarge {
			return fe.Code, "PayloadTooLarge", "request body too large"
		}
		if fe.Code == http.StatusUnauthorized {
			t = "Unauthorized"
		}
		return fe.Code, t, fe.Message
	case errors.Is(err, tasks.ErrTooManyPixels):
		return http.StatusRequestEntityTooLarge, "ImageTooLarge", err.Error()
	case errors.Is(err, tasks.ErrUnsupportedFormat), errors.Is(err, tasks.ErrCorruptImage):
		return http.StatusUnprocessableEntity, "InvalidImage", "could not decode image: " + err.Error()
	case errors.Is(err, model.ErrUnknownModel):
		return http.StatusNotFound, "ModelNotFound", clip(err.Error()) // holds the client's model id
	case errors.Is(err, repository.ErrOutOfBounds):
		// A model setting beyond its bound (repository/bounds.go): the
		// message names the key and the bound.
		return http.StatusBadRequest, "InvalidModelConfig", err.Error()
	case errors.Is(err, pipeline.ErrInsufficientMemory):
		// The load was refused before it allocated: the model would not
		// fit (docs/operations.md, "Limits").
		return http.StatusInsufficientStorage, "InsufficientMemory", err.Error()
	case errors.Is(err, model.ErrBadModel), errors.Is(err, engines.ErrBackendMissing), errors.Is(err, engines.ErrUnknownBackend):
		return http.StatusServiceUnavailable, "ModelLoadError", err.Error()
	case errors.Is(err, pipeline.ErrTooLarge):
		// It can never be admitted (more images than a queue holds, more
		// bytes than the in-flight bound): retrying cannot help.
		return http.StatusRequestEntityTooLarge, "RequestTooLarge", err.Error()
	case errors.Is(err, pipeline.ErrInflightFull):
		return http.StatusTooManyRequests, "TooManyRequests", pipeline.ErrInflightFull.Error()
	case errors.Is(err, pipeline.ErrBusy):
		return http.StatusTooManyRequests, "TooManyRequests", "the model's queue is full: retry later"
	case errors.Is(err, pipeline.ErrClosed):
		return http.StatusServiceUnavailable, "ServiceUnavailable", err.Error()
	case errors.Is(err, pipeline.ErrDeviceLost), deviceFault(err):
		// The GPU is lost for this process: another replica can answer.
		return http.StatusServiceUnavailable, "GPUFault", "the GPU failed (a sticky CUDA error): this server cannot run the model until it restarts"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "Timeout", "request timed out"
	case errors.Is(err, context.Canceled):
		return 499, "Cancelled", "request cancelled"
	}
	if se := (*pipeline.StageError)(nil); errors.As(err, &se) && se.Stage == "infer" {
		// The engine failed this request's batch; the next batch is
		// unaffected, so a retry may well succeed. Details are logged.
		return http.StatusInternalServerError, "EngineError", "the model's engine failed on this request's batch"
	}
	return http.StatusInternalServerError, "InternalError", "internal error"
}

// errorHandler is Fiber's last stop: every error leaves as JSON.
// deviceFault reports a sticky GPU error (cuda.ErrDeviceFault) anywhere in
// err's chain. The error says so by a method, so the HTTP package tells it
// without linking CUDA.
func deviceFault(err error) bool {
	var f interface{ DeviceFault() bool }
	return errors.As(err, &f) && f.DeviceFault()
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	status, typ, msg := classify(err)
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "") + "…"
	}
	if status >= 500 {
		s.log.Error("request failed", "request_id", c.Locals(localRequestID), "method", c.Method(), "path", c.Path(), "status", status, "err", err)
	} else {
		s.log.Debug("request rejected", "request_id", c.Locals(localRequestID), "method", c.Method(), "path", c.Path(), "status", status, "err", err)
	}
	if status == http.StatusTooManyRequests {
		// A queue drains in well under a second at any sane load; clients
		// (and load balancers) back off for that long.
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	if strings.HasPrefix(c.Path(), "/v2") {
		return c.Status(status).JSON(fiber.Map{"error": msg}) // KServe's error body
	}
	return c.Status(status).JSON(errorBody{Message: msg, ErrorType: typ})
}
