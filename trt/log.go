package trt

/*
#include "shim_go.h"
*/
import "C"

import (
	"context"
	"log/slog"
	"runtime/cgo"
)

// SetLogger routes TensorRT's log to log: TensorRT's errors and internal
// errors at Error, warnings at Warn, info at Info, verbose at Debug. Only
// messages at level or above reach Go (the filter runs in C, so verbose
// build logs cost nothing when they are off). The logger is process-wide,
// as TensorRT's is per library.
func (l *Library) SetLogger(log *slog.Logger, level slog.Level) error {
	max := C.int32_t(C.TRTSHIM_LOG_VERBOSE)
	switch {
	case level > slog.LevelWarn:
		max = C.TRTSHIM_LOG_ERROR
	case level > slog.LevelInfo:
		max = C.TRTSHIM_LOG_WARNING
	case level > slog.LevelDebug:
		max = C.TRTSHIM_LOG_INFO
	}
	h := cgo.NewHandle(log) // lives as long as the process: the shim may log from any thread at any time
	var e C.trtshim_err
	return check("set_logger", C.trtgo_set_logger(l.api, 1, C.uintptr_t(h), max, &e), &e)
}

//export trtgoLog
func trtgoLog(user C.uintptr_t, severity C.int32_t, msg *C.char) {
	log, ok := cgo.Handle(user).Value().(*slog.Logger)
	if !ok {
		return
	}
	level := slog.LevelDebug
	switch severity {
	case C.TRTSHIM_LOG_INTERNAL_ERROR, C.TRTSHIM_LOG_ERROR:
		level = slog.LevelError
	case C.TRTSHIM_LOG_WARNING:
		level = slog.LevelWarn
	case C.TRTSHIM_LOG_INFO:
		level = slog.LevelInfo
	}
	log.Log(context.Background(), level, C.GoString(msg), "source", "tensorrt")
}
