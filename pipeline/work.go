package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// Work is one image's trip through a model. Preprocess writes the image's
// input tensor(s) into its slot of the batch buffers; Postprocess reads its
// slot of each output. Both run on pipeline goroutines; a Work is used by
// one goroutine at a time.
type Work interface {
	Preprocess(in [][]float32) error
	Postprocess(out [][]float32) error
}

// Errors the server maps to statuses.
var (
	ErrNotLoaded = errors.New("model not loaded")
	ErrClosed    = errors.New("model is unloading")
	ErrBusy      = errors.New("server busy")
	// ErrDeviceLost: the model's backend lost its GPU to a sticky CUDA
	// error (Manager.FailBackend); only a new process can use it again.
	ErrDeviceLost = errors.New("the model's GPU failed: restart the server")
)

// Stage is a step of an image's trip through a model. Its value starts
// the message of a StageError, which clients see.
type Stage string

// The stages a StageError can name.
const (
	StagePreprocess  Stage = "preprocess"  // the image: decode, resize, write the input slot
	StageInfer       Stage = "infer"       // the engine: one batch run
	StagePostprocess Stage = "postprocess" // the output: decode the slot, encode the answer
	StageWarmup      Stage = "warm-up"     // the load-time run on zeros
)

// StageError tells which stage failed, so the server can say whether the
// image (preprocess), the model (infer) or the output (postprocess) was at
// fault.
type StageError struct {
	Stage Stage
	Err   error
}

func (e *StageError) Error() string { return string(e.Stage) + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// reason classifies a failed image for Stats.
func reason(err error) string {
	var se *StageError
	switch {
	case errors.Is(err, ErrBusy), errors.Is(err, ErrTooLarge):
		return ReasonRejected
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ReasonCanceled
	case errors.As(err, &se) && se.Stage == StageInfer:
		return ReasonBackend
	}
	return ReasonOther
}

// guard runs one stage, turning an error or a panic into a StageError so a
// bad image or a bug fails only its own request.
func guard(stage Stage, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &StageError{stage, fmt.Errorf("panic: %v\n%s", r, debug.Stack())}
		}
	}()
	if err := f(); err != nil {
		return &StageError{stage, err}
	}
	return nil
}
