package trt

/*
#include <stdlib.h>
#include "shim_go.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// DataType is a tensor element type.
type DataType int

// The shim's element types (trtshim.h TRTSHIM_DTYPE_*).
const (
	Float DataType = C.TRTSHIM_DTYPE_FLOAT
	Half  DataType = C.TRTSHIM_DTYPE_HALF
	BF16  DataType = C.TRTSHIM_DTYPE_BF16
	Int8  DataType = C.TRTSHIM_DTYPE_INT8
	Uint8 DataType = C.TRTSHIM_DTYPE_UINT8
	Int32 DataType = C.TRTSHIM_DTYPE_INT32
	Int64 DataType = C.TRTSHIM_DTYPE_INT64
	Bool  DataType = C.TRTSHIM_DTYPE_BOOL
	FP8   DataType = C.TRTSHIM_DTYPE_FP8
	Int4  DataType = C.TRTSHIM_DTYPE_INT4
	FP4   DataType = C.TRTSHIM_DTYPE_FP4
)

var dtypeNames = map[DataType]string{Float: "FP32", Half: "FP16", BF16: "BF16", Int8: "INT8", Uint8: "UINT8",
	Int32: "INT32", Int64: "INT64", Bool: "BOOL", FP8: "FP8", Int4: "INT4", FP4: "FP4"}

// String is the KServe name of the type.
func (d DataType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", int(d))
}

// Size is bytes per element (0 for sub-byte or unknown types).
func (d DataType) Size() int {
	switch d {
	case Float, Int32:
		return 4
	case Half, BF16:
		return 2
	case Int8, Uint8, Bool, FP8:
		return 1
	case Int64:
		return 8
	}
	return 0
}

// IO describes one of an engine's tensors.
type IO struct {
	Name          string
	Input         bool
	DataType      DataType
	Shape         []int64 // -1 where dynamic
	Min, Opt, Max []int64 // profile 0, for inputs with a dynamic dimension
	DataDependent bool
	Linear        bool
}

// Engine is a deserialized plan. Its methods are safe for concurrent use;
// its Contexts are not.
type Engine struct {
	lib *Library
	mu  sync.Mutex // guards e (nil once closed) against Close racing a NewContext
	e   *C.trtshim_engine
	io  []IO
	mem int64
}

func dims(d C.trtshim_dims) []int64 {
	out := make([]int64, int(d.nb))
	for i := range out {
		out[i] = int64(d.d[i])
	}
	return out
}

func cdims(d []int64) (C.trtshim_dims, error) {
	var out C.trtshim_dims
	if len(d) > C.TRTSHIM_MAX_DIMS {
		return out, fmt.Errorf("%w: %d dimensions, at most %d", ErrShape, len(d), C.TRTSHIM_MAX_DIMS)
	}
	out.nb = C.int32_t(len(d))
	for i, v := range d {
		out.d[i] = C.int64_t(v)
	}
	return out, nil
}

// Load deserializes a plan on the calling thread's CUDA device. The plan
// bytes are only read during the call.
func (l *Library) Load(plan []byte) (*Engine, error) {
	if len(plan) == 0 {
		return nil, fmt.Errorf("%w: empty plan", ErrDeserialize)
	}
	var ce *C.trtshim_engine
	var e C.trtshim_err
	if err := check("engine_load", C.trtgo_engine_load(l.api, unsafe.Pointer(&plan[0]), C.size_t(len(plan)), &ce, &e), &e); err != nil {
		return nil, err
	}
	eng := &Engine{lib: l, e: ce}
	if err := eng.describe(); err != nil {
		eng.Close()
		return nil, err
	}
	return eng, nil
}

func (eng *Engine) describe() error {
	api := eng.lib.api
	var n C.int32_t
	var e C.trtshim_err
	if err := check("engine_io_count", C.trtgo_engine_io_count(api, eng.e, &n, &e), &e); err != nil {
		return err
	}
	for i := range int(n) {
		var ci C.trtshim_io_info
		if err := check("engine_io_info", C.trtgo_engine_io_info(api, eng.e, C.int32_t(i), &ci, &e), &e); err != nil {
			return err
		}
		io := IO{
			Name: C.GoString(&ci.name[0]), Input: ci.mode == C.TRTSHIM_IO_INPUT, DataType: DataType(ci.dtype),
			Shape: dims(ci.shape), DataDependent: ci.data_dependent != 0, Linear: ci.linear != 0,
		}
		if ci.has_profile != 0 {
			io.Min, io.Opt, io.Max = dims(ci.min), dims(ci.opt), dims(ci.max)
		}
		eng.io = append(eng.io, io)
	}
	var mem C.int64_t
	if err := check("engine_device_memory_size", C.trtgo_engine_device_memory_size(api, eng.e, &mem, &e), &e); err != nil {
		return err
	}
	eng.mem = int64(mem)
	return nil
}

// IO lists the engine's tensors in TensorRT's order.
func (eng *Engine) IO() []IO { return eng.io }

// DeviceMemorySize is the activation memory one context needs.
func (eng *Engine) DeviceMemorySize() int64 { return eng.mem }

// Close frees the engine; close its contexts first. Safe to call twice.
func (eng *Engine) Close() error {
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if eng.e != nil {
		C.trtgo_engine_free(eng.lib.api, eng.e)
		eng.e = nil
	}
	return nil
}

// Context is an execution context: one batch in flight at a time, driven
// from one goroutine.
type Context struct {
	lib   *Library
	c     *C.trtshim_context
	names map[string]*C.char // C copies of tensor names, made once
}

// NewContext makes an execution context. With userMemory, the caller gives
// it activation memory (SetDeviceMemory) before the first Enqueue.
func (eng *Engine) NewContext(userMemory bool) (*Context, error) {
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if eng.e == nil {
		return nil, fmt.Errorf("new context: engine %w", ErrClosed)
	}
	var cc *C.trtshim_context
	var e C.trtshim_err
	um := C.int32_t(0)
	if userMemory {
		um = 1
	}
	if err := check("context_create", C.trtgo_context_create(eng.lib.api, eng.e, um, &cc, &e), &e); err != nil {
		return nil, err
	}
	ctx := &Context{lib: eng.lib, c: cc, names: map[string]*C.char{}}
	for _, io := range eng.io {
		ctx.names[io.Name] = C.CString(io.Name)
	}
	return ctx, nil
}

func (c *Context) name(op, n string) (*C.char, error) {
	if c.c == nil {
		return nil, fmt.Errorf("%s: context %w", op, ErrClosed)
	}
	cn, ok := c.names[n]
	if !ok {
		return nil, &Error{Op: op, Code: C.TRTSHIM_ERR_NOT_FOUND, Msg: fmt.Sprintf("no tensor named %q", n)}
	}
	return cn, nil
}

// SetDeviceMemory gives the context its activation memory (a device
// address, as an integer: C keeps it, so it must not be Go memory).
func (c *Context) SetDeviceMemory(addr uintptr, size int64) error {
	if c.c == nil {
		return fmt.Errorf("set_device_memory: context %w", ErrClosed)
	}
	var e C.trtshim_err
	return check("context_set_device_memory", C.trtgo_context_set_device_memory(c.lib.api, c.c, C.uintptr_t(addr), C.int64_t(size), &e), &e)
}

// SetProfile selects an optimization profile, queuing any copies on stream.
func (c *Context) SetProfile(profile int, stream uintptr) error {
	if c.c == nil {
		return fmt.Errorf("set_profile: context %w", ErrClosed)
	}
	var e C.trtshim_err
	return check("context_set_profile", C.trtgo_context_set_profile(c.lib.api, c.c, C.int32_t(profile), C.uintptr_t(stream), &e), &e)
}

// SetInputShape fixes an input's dynamic dimensions for the next Enqueue.
func (c *Context) SetInputShape(name string, shape []int64) error {
	cn, err := c.name("context_set_input_shape", name)
	if err != nil {
		return err
	}
	d, err := cdims(shape)
	if err != nil {
		return err
	}
	var e C.trtshim_err
	return check("context_set_input_shape", C.trtgo_context_set_input_shape(c.lib.api, c.c, cn, &d, &e), &e)
}

// TensorShape is a tensor's shape once every input shape is set.
func (c *Context) TensorShape(name string) ([]int64, error) {
	cn, err := c.name("context_tensor_shape", name)
	if err != nil {
		return nil, err
	}
	var d C.trtshim_dims
	var e C.trtshim_err
	if err := check("context_tensor_shape", C.trtgo_context_tensor_shape(c.lib.api, c.c, cn, &d, &e), &e); err != nil {
		return nil, err
	}
	return dims(d), nil
}

// SetTensorAddress binds a tensor to device memory (an integer address:
// the context keeps it).
func (c *Context) SetTensorAddress(name string, addr uintptr) error {
	cn, err := c.name("context_set_tensor_address", name)
	if err != nil {
		return err
	}
	var e C.trtshim_err
	return check("context_set_tensor_address", C.trtgo_context_set_tensor_address(c.lib.api, c.c, cn, C.uintptr_t(addr), &e), &e)
}

// SetInputConsumedEvent makes each Enqueue record event once the inputs
// may be overwritten.
func (c *Context) SetInputConsumedEvent(event uintptr) error {
	if c.c == nil {
		return fmt.Errorf("set_input_consumed_event: context %w", ErrClosed)
	}
	var e C.trtshim_err
	return check("context_set_input_consumed_event", C.trtgo_context_set_input_consumed_event(c.lib.api, c.c, C.uintptr_t(event), &e), &e)
}

// Enqueue queues the network on stream.
func (c *Context) Enqueue(stream uintptr) error {
	if c.c == nil {
		return fmt.Errorf("enqueue: context %w", ErrClosed)
	}
	var e C.trtshim_err
	return check("context_enqueue", C.trtgo_context_enqueue(c.lib.api, c.c, C.uintptr_t(stream), &e), &e)
}

// Close frees the context; safe to call twice.
func (c *Context) Close() error {
	if c.c == nil {
		return nil
	}
	C.trtgo_context_free(c.lib.api, c.c)
	c.c = nil
	for _, cn := range c.names {
		C.free(unsafe.Pointer(cn))
	}
	c.names = nil
	return nil
}
