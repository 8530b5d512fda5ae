package trt

/*
#cgo CFLAGS: -I${SRCDIR}/../csrc/include -std=c11 -Wall
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

	"github.com/trtserve/trtserve/internal/dl"
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
	// ErrCUDAInit: TensorRT could not start CUDA (no GPU, a driver older
	// than its CUDA needs); the model can still run on ONNX Runtime.
	ErrCUDAInit = errors.New("tensorrt could not initialise cuda")
	// ErrNoTensorRT: the shim loaded but found no usable TensorRT library.
	ErrNoTensorRT = errors.New("no usable tensorrt library")
	ErrClosed     = errors.New("closed")
	errByCode     = map[C.trtshim_status]error{
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
		C.TRTSHIM_ERR_CUDA_INIT:        ErrCUDAInit,
		C.TRTSHIM_ERR_NO_TENSORRT:      ErrNoTensorRT,
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
	api  *C.trtshim_api // the library's static table of calls
	path string
	opts OpenOptions
	info Info
}

// OpenOptions say which TensorRT the shim opens and how it runs plans.
type OpenOptions struct {
	// TensorRTLib is the TensorRT library to open (--tensorrt-lib): a path
	// or a soname of libnvinfer, libnvinfer_lean or libnvinfer_dispatch.
	// "" searches the usual names, full before lean before dispatch.
	TensorRTLib string
	// AllowEngineHostCode lets plans carry host code, which
	// version-compatible plans need (they embed the lean runtime). A plan
	// runs code in this process either way: load only plans you trust.
	AllowEngineHostCode bool
}

// Runtime kinds, Info.Runtime.
const (
	RuntimeFull     = "full"     // libnvinfer: builds and runs engines
	RuntimeLean     = "lean"     // libnvinfer_lean: runs version-compatible plans only
	RuntimeDispatch = "dispatch" // libnvinfer_dispatch: as lean
	RuntimeFake     = "fake"     // csrc/fake
)

// Info describes the shim and the TensorRT behind it.
type Info struct {
	Path   string
	ABI    int
	Header string // TensorRT version the shim was built against, e.g. "10.16.0"
	// RuntimeVersion is getInferLibVersion() of the opened TensorRT
	// library (0 for the fake).
	RuntimeVersion int
	ONNXParser     int // 0 when no ONNX parser was opened (lean, dispatch, fake)
	// NeedsDevice: builds and loads run on the calling thread's current
	// CUDA device, so the caller opens libcudart and makes its GPU current
	// first (cuda.OnDevice). False for a shim that runs no GPU code
	// (csrc/fake), which then needs no libcudart either.
	NeedsDevice bool
	// Notice is what the shim asks its user to be told at start ("" for
	// the real shim; the fake says its outputs are synthetic).
	Notice string
	// CUDAVersion is the CUDA runtime version the shim was built for
	// (12090, 13000); 0 = unknown. TensorRT links cudart statically, but
	// the server's own libcudart should be of the same major.
	CUDAVersion int
	Runtime     string // RuntimeFull, RuntimeLean, RuntimeDispatch or RuntimeFake
	// CanBuild: Build can work here (full TensorRT with its ONNX parser);
	// false on the lean and dispatch runtimes.
	CanBuild            bool
	TensorRTPath        string // the TensorRT library opened, as found
	Plugins             bool   // libnvinfer_plugin was found and initialised
	AllowEngineHostCode bool
	Description         string
}

// Version is the cache key's TensorRT version: what the shim was built
// against plus what it runs on. A shim with no TensorRT library behind it
// (no runtime version: csrc/fake) is named by its runtime kind.
func (i Info) Version() string {
	if i.RuntimeVersion == 0 {
		return i.Runtime
	}
	return fmt.Sprintf("%s-rt%d", i.Header, i.RuntimeVersion)
}

var (
	openMu sync.Mutex // guards opened
	opened = map[string]*Library{}
)

// Candidates are the paths Open tries when given none, in order: next to
// the executable, in ../lib beside it, in build/csrc (a source checkout's
// make shim), then the dynamic linker's search. The environment is not
// read here: config turns TRTSERVE_TRTSHIM_LIB into the path callers pass.
func Candidates() []string {
	var out []string
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		out = append(out, filepath.Join(dir, "libtrtshim.so"), filepath.Join(dir, "..", "lib", "libtrtshim.so"))
	}
	return append(out, "build/csrc/libtrtshim.so", "libtrtshim.so")
}

// Open loads the shim at path ("" tries Candidates) with TensorRT found in
// the usual places and engine host code allowed. Opening the same path
// twice returns the same Library.
func Open(path string) (*Library, error) {
	return OpenWith(path, OpenOptions{AllowEngineHostCode: true})
}

// OpenWith loads the shim at shimPath ("" tries Candidates) and has it open
// TensorRT as o says. TensorRT is process-wide: opening the same shim again
// with other options fails (ErrInvalidArgument) instead of silently using
// the first ones.
func OpenWith(shimPath string, o OpenOptions) (*Library, error) {
	paths := []string{shimPath}
	if shimPath == "" {
		paths = Candidates()
	}
	var errs []error
	for _, p := range paths {
		l, err := open(p, o)
		if err == nil {
			return l, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrNoShim, errors.Join(errs...))
}

var runtimeKinds = map[C.int32_t]string{
	C.TRTSHIM_RUNTIME_FULL: RuntimeFull, C.TRTSHIM_RUNTIME_LEAN: RuntimeLean,
	C.TRTSHIM_RUNTIME_DISPATCH: RuntimeDispatch, C.TRTSHIM_RUNTIME_FAKE: RuntimeFake,
}

func open(path string, o OpenOptions) (*Library, error) {
	openMu.Lock()
	defer openMu.Unlock()
	if l, ok := opened[path]; ok {
		if l.opts != o {
			return nil, fmt.Errorf("%s: %w: already opened with %+v, now asked for %+v", path, ErrInvalidArgument, l.opts, o)
		}
		return l, nil
	}
	// RTLD_LOCAL: TensorRT's own symbols stay out of the process namespace.
	so, err := dl.Open(path, dl.Now|dl.Local)
	if err != nil {
		return nil, err
	}
	getAPI, err := so.Lookup("trtshim_get_api")
	if err != nil {
		so.Close()
		return nil, fmt.Errorf("%w (not a trtshim library, or one older than ABI %d: rebuild the shim from this source tree)", err, C.TRTSHIM_ABI_VERSION)
	}
	api := C.trtgo_get_api(getAPI)
	if api == nil {
		so.Close()
		return nil, fmt.Errorf("%s: the shim does not implement ABI %d, which this trtserve needs (rebuild the shim from this source tree)", path, C.TRTSHIM_ABI_VERSION)
	}
	clib := C.CString(o.TensorRTLib)
	defer C.free(unsafe.Pointer(clib))
	allow := C.int32_t(0)
	if o.AllowEngineHostCode {
		allow = 1
	}
	var e C.trtshim_err
	if err := check("init", C.trtgo_init(api, clib, allow, &e), &e); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var ci C.trtshim_info
	if err := check("get_info", C.trtgo_get_info(api, &ci, &e), &e); err != nil {
		return nil, err
	}
	l := &Library{api: api, path: path, opts: o, info: Info{
		Path: path, ABI: int(ci.abi_version),
		Header:         fmt.Sprintf("%d.%d.%d", ci.trt_major, ci.trt_minor, ci.trt_patch),
		RuntimeVersion: int(ci.trt_runtime), ONNXParser: int(ci.onnx_parser), NeedsDevice: ci.needs_cuda_device != 0,
		CUDAVersion: int(ci.cuda_version), Runtime: runtimeKinds[ci.runtime_kind], CanBuild: ci.can_build != 0,
		TensorRTPath: C.GoString(&ci.tensorrt_path[0]), Plugins: ci.plugins != 0,
		AllowEngineHostCode: ci.allow_engine_host_code != 0,
		Description:         C.GoString(&ci.description[0]),
		Notice:              C.GoString(&ci.notice[0]),
	}}
	opened[path] = l
	return l, nil
}

// Info describes the library.
func (l *Library) Info() Info { return l.info }
