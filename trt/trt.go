package trt

/*
#cgo CFLAGS: -I${SRCDIR}/../csrc/include -std=c11 -Wall
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "shim_go.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"
)

// Sentinels matched by errors.Is against an *Error's code.
var (
	ErrNoShim          = errors.New("tensorrt shim not available")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrUnsupported     = errors.New("unsupported")
	ErrParse           = errors.New("onnx parse failed")
	ErrBuild           = errors.New("engine build failed")
	ErrCancelled       = errors.New("build cancelled")
	ErrDeserialize     = errors.New("engine deserialization failed")
	ErrShape           = errors.New("invalid shape")
	ErrNotFound        = errors.New("no such tensor")
	ErrRuntime         = errors.New("tensorrt runtime error")
	ErrOutOfMemory     = errors.New("out of memory")
	ErrInternal        = errors.New("internal shim error")
	ErrClosed          = errors.New("closed")
	errByCode          = map[C.trtshim_status]error{
		C.TRTSHIM_ERR_INVALID_ARGUMENT: ErrInvalidArgument,
		C.TRTSHIM_ERR_UNSUPPORTED:      ErrUnsupported,
		C.TRTSHIM_ERR_PARSE:            ErrParse,
		C.TRTSHIM_ERR_BUILD:            ErrBuild,
		C.TRTSHIM_ERR_CANCELLED:        ErrCancelled,
		C.TRTSHIM_ERR_DESERIALIZE:      ErrDeserialize,
		C.TRTSHIM_ERR_SHAPE:            ErrShape,
		C.TRTSHIM_ERR_NOT_FOUND:        ErrNotFound,
		C.TRTSHIM_ERR_RUNTIME:          ErrRuntime,
		C.TRTSHIM_ERR_OUT_OF_MEMORY:    ErrOutOfMemory,
		C.TRTSHIM_ERR_INTERNAL:         ErrInternal,
	}
)

// Error is a failed shim call.
type Error struct {
	Op   string // the shim function, e.g. "engine_load"
	Code int
	Msg  string
}

func (e *Error) Error() string {
	kind := "status " + fmt.Sprint(e.Code)
	if s, ok := errByCode[C.trtshim_status(e.Code)]; ok {
		kind = s.Error()
	}
	return fmt.Sprintf("tensorrt %s: %s: %s", e.Op, kind, e.Msg)
}

// Is matches the sentinel of the error's code.
func (e *Error) Is(target error) bool { return errByCode[C.trtshim_status(e.Code)] == target }

// check is the one place a status becomes an error.
func check(op string, st C.trtshim_status, e *C.trtshim_err) error {
	if st == C.TRTSHIM_OK {
		return nil
	}
	msg := C.GoString(&e.msg[0])
	if msg == "" {
		msg = "(no message)"
	}
	return &Error{Op: op, Code: int(st), Msg: msg}
}

// Library is an opened shim. It stays loaded for the life of the process
// (unloading TensorRT is neither cheap nor safe); Close only stops its use.
type Library struct {
	api  *C.trtgo_api
	path string
	info Info
}

// Info describes the shim and the TensorRT behind it.
type Info struct {
	Path        string
	ABI         int
	Header      string // TensorRT version the shim was built against, e.g. "10.16.0"
	Runtime     int    // getInferLibVersion() of the loaded libnvinfer (0 for the fake)
	ONNXParser  int
	Fake        bool
	Description string
}

// Version is the cache key's TensorRT version: what the shim was built
// against plus what it runs on.
func (i Info) Version() string {
	if i.Fake {
		return "fake"
	}
	return fmt.Sprintf("%s-rt%d", i.Header, i.Runtime)
}

var (
	openMu sync.Mutex // guards opened
	opened = map[string]*Library{}
)

// Candidates are the paths Open tries when given none, in order.
func Candidates() []string {
	var out []string
	if p := os.Getenv("TRTSERVE_TRTSHIM_LIB"); p != "" {
		return []string{p}
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		out = append(out, filepath.Join(dir, "libtrtshim.so"), filepath.Join(dir, "..", "lib", "libtrtshim.so"))
	}
	return append(out, "build/csrc/libtrtshim.so", "libtrtshim.so")
}

// Open loads the shim at path ("" tries Candidates). Opening the same path
// twice returns the same Library.
func Open(path string) (*Library, error) {
	paths := []string{path}
	if path == "" {
		paths = Candidates()
	}
	var errs []error
	for _, p := range paths {
		l, err := open(p)
		if err == nil {
			return l, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrNoShim, errors.Join(errs...))
}

func open(path string) (*Library, error) {
	openMu.Lock()
	defer openMu.Unlock()
	if l, ok := opened[path]; ok {
		return l, nil
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [512]C.char
	api := C.trtgo_open(cpath, &msg[0], C.size_t(len(msg)))
	if api == nil {
		return nil, errors.New(C.GoString(&msg[0]))
	}
	if v := int(C.trtgo_abi_version(api)); v != C.TRTSHIM_ABI_VERSION {
		return nil, fmt.Errorf("%s: shim ABI version %d, this trtserve needs %d (rebuild the shim from this source tree)", path, v, C.TRTSHIM_ABI_VERSION)
	}
	var ci C.trtshim_info
	var e C.trtshim_err
	if err := check("get_info", C.trtgo_get_info(api, &ci, &e), &e); err != nil {
		return nil, err
	}
	l := &Library{api: api, path: path, info: Info{
		Path: path, ABI: int(ci.abi_version),
		Header:  fmt.Sprintf("%d.%d.%d", ci.trt_major, ci.trt_minor, ci.trt_patch),
		Runtime: int(ci.trt_runtime), ONNXParser: int(ci.onnx_parser), Fake: ci.fake != 0,
		Description: C.GoString(&ci.description[0]),
	}}
	opened[path] = l
	return l, nil
}

// Info describes the library.
func (l *Library) Info() Info { return l.info }
