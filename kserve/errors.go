package kserve

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
)

// Code is a protocol-neutral error class. Each adapter maps it once: HTTP
// to a status (400, 404, 503, 429, 504, 501, 500, 499, 401), gRPC to the
// status code of the same name.
type Code int

// The codes, named after gRPC's.
const (
	Internal Code = iota
	InvalidArgument
	NotFound
	Unavailable
	ResourceExhausted
	DeadlineExceeded
	Unimplemented
	Canceled
	Unauthenticated
	// TooLarge: a request that can never be admitted (more than the
	// model's queue, more bytes than the server's in-flight bound):
	// retrying cannot help. HTTP 413; gRPC RESOURCE_EXHAUSTED.
	TooLarge
)

var codeNames = [...]string{"Internal", "InvalidArgument", "NotFound", "Unavailable", "ResourceExhausted",
	"DeadlineExceeded", "Unimplemented", "Canceled", "Unauthenticated", "TooLarge"}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Error is an error a client sees: its class and its message. Err, when
// set, is the cause, for the server's log (never sent to the client).
type Error struct {
	Code Code
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil && !strings.Contains(e.Msg, e.Err.Error()) {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an *Error. String arguments, which may come from the
// client, are clipped: an error names what was wrong, it never echoes a
// request back.
func Errorf(code Code, format string, args ...any) *Error {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = Clip(s)
		}
	}
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *Error { return Errorf(InvalidArgument, format, args...) }

// Clip shortens a client-supplied string quoted in an error message.
func Clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

// CodeOf classifies any error of an inference or a model operation: an
// *Error keeps its code; the pipeline's and the engines' errors get theirs
// (a full queue is ResourceExhausted, a passed deadline DeadlineExceeded,
// a model closing or a lost GPU Unavailable, ...); anything else is
// Internal with a message that leaks nothing (the cause stays in Err).
func CodeOf(err error) *Error {
	if err == nil {
		return nil
	}
	var ke *Error
	if errors.As(err, &ke) {
		return ke
	}
	wrap := func(c Code, msg string) *Error { return &Error{Code: c, Msg: msg, Err: err} }
	switch {
	case errors.Is(err, model.ErrUnknownModel):
		return wrap(NotFound, Clip(err.Error())) // holds the client's model id
	case errors.Is(err, model.ErrBadModel), errors.Is(err, engines.ErrBackendMissing), errors.Is(err, engines.ErrUnknownBackend):
		return wrap(Unavailable, err.Error())
	case errors.Is(err, pipeline.ErrTooLarge):
		return wrap(TooLarge, err.Error())
	case errors.Is(err, pipeline.ErrInflightFull):
		return wrap(ResourceExhausted, pipeline.ErrInflightFull.Error())
	case errors.Is(err, pipeline.ErrBusy):
		return wrap(ResourceExhausted, "the model's queue is full: retry later")
	case errors.Is(err, pipeline.ErrClosed):
		return wrap(Unavailable, err.Error())
	case errors.Is(err, pipeline.ErrDeviceLost), deviceFault(err):
		// The GPU is lost for this process: another replica can answer.
		return wrap(Unavailable, "the GPU failed (a sticky CUDA error): this server cannot run the model until it restarts")
	case errors.Is(err, context.DeadlineExceeded):
		return wrap(DeadlineExceeded, "request timed out")
	case errors.Is(err, context.Canceled):
		return wrap(Canceled, "request cancelled")
	}
	if se := (*pipeline.StageError)(nil); errors.As(err, &se) && se.Stage == "infer" {
		// The engine failed this request's batch; the next batch is
		// unaffected, so a retry may well succeed. Details are logged.
		return wrap(Internal, "the model's engine failed on this request's batch")
	}
	return wrap(Internal, "internal error")
}

// deviceFault reports a sticky GPU error (cuda.ErrDeviceFault) anywhere in
// err's chain, told by its method so this package links no CUDA.
func deviceFault(err error) bool {
	var f interface{ DeviceFault() bool }
	return errors.As(err, &f) && f.DeviceFault()
}
