package kserve

import (
	"errors"
	"runtime/debug"

	"github.com/trtserve/trtserve/shm"
)

// The tensor parameters of Triton's shared-memory extensions.
const (
	ParamSHMRegion   = "shared_memory_region"
	ParamSHMOffset   = "shared_memory_offset"
	ParamSHMByteSize = "shared_memory_byte_size"
)

// region is a tensor's window of a shared-memory region, leased from
// Prepare to Release.
type region struct {
	name         string
	offset, size uint64
	lease        *shm.Lease
}

type lease = *shm.Lease

// params are the window's shared_memory_* parameters, as the answer
// echoes them.
func (r *region) params() map[string]Param {
	return map[string]Param{
		ParamSHMRegion:   StringParam(r.name),
		ParamSHMOffset:   IntParam(int64(r.offset)),
		ParamSHMByteSize: IntParam(int64(r.size)),
	}
}

// shmWindow reads a tensor's shared_memory_* parameters: the region (a
// string), the offset (a non-negative integer, 0 when absent) and the
// byte size (a non-negative integer, required).
func shmWindow(kind, tensor string, params map[string]Param) (name string, offset, size uint64, err error) {
	v := params[ParamSHMRegion]
	if v.String == nil {
		return "", 0, 0, invalid("%s '%s': parameter %s must be a string naming a registered region", kind, tensor, ParamSHMRegion)
	}
	num := func(key string, required bool) (uint64, error) {
		v, ok := params[key]
		switch {
		case !ok && !required:
			return 0, nil
		case !ok:
			return 0, invalid("%s '%s': parameter %s is required with %s", kind, tensor, key, ParamSHMRegion)
		}
		if v.Int == nil || *v.Int < 0 {
			return 0, invalid("%s '%s': parameter %s must be a non-negative integer", kind, tensor, key)
		}
		return uint64(*v.Int), nil
	}
	if offset, err = num(ParamSHMOffset, false); err != nil {
		return "", 0, 0, err
	}
	if size, err = num(ParamSHMByteSize, true); err != nil {
		return "", 0, 0, err
	}
	return *v.String, offset, size, nil
}

func (p *Prepared) acquire(regions *shm.Registry, kind, tensor, name string, offset, size uint64) (*region, error) {
	if regions == nil {
		return nil, invalid("%s '%s': shared memory is not enabled on this server", kind, tensor)
	}
	l, err := regions.Acquire(name, offset, size)
	if err != nil {
		e := RegionError(err)
		return nil, &Error{Code: e.Code, Msg: kind + " '" + Clip(tensor) + "': " + e.Msg, Err: err}
	}
	p.leases = append(p.leases, l)
	return &region{name: name, offset: offset, size: size, lease: l}, nil
}

// inputRegion is an input's bytes in a shared-memory region: the window
// must hold exactly the tensor (Triton's rule). A system region's bytes
// are a view into the mapping; a CUDA region's are copied out once, here.
func (p *Prepared) inputRegion(in *Input, size int, regions *shm.Registry) ([]byte, *region, error) {
	name, offset, n, err := shmWindow("input", in.Name, in.Params)
	if err != nil {
		return nil, nil, err
	}
	if n != uint64(size) {
		return nil, nil, invalid("input '%s': shared_memory_byte_size is %d; shape %v of %s needs %d", in.Name, n, in.Shape, in.Datatype, size)
	}
	r, err := p.acquire(regions, "input", in.Name, name, offset, n)
	if err != nil {
		return nil, nil, err
	}
	if b := r.lease.Bytes(); b != nil {
		return b[:size:size], r, nil
	}
	if err := p.hold(size); err != nil { // the host copy of device memory
		return nil, nil, err
	}
	buf := make([]byte, size)
	if err := r.lease.Read(buf); err != nil {
		return nil, nil, &Error{Code: Internal, Msg: "reading input '" + Clip(in.Name) + "' from shared-memory region '" + Clip(name) + "' failed", Err: err}
	}
	return buf, nil, nil
}

// outputRegion is the region an output goes to, nil when its parameters
// name none. The window must hold at least the tensor's size bytes.
func (p *Prepared) outputRegion(o RequestedOutput, size int, regions *shm.Registry) (*region, error) {
	if _, ok := o.Params[ParamSHMRegion]; !ok {
		return nil, nil
	}
	name, offset, n, err := shmWindow("output", o.Name, o.Params)
	if err != nil {
		return nil, err
	}
	if n < uint64(size) {
		return nil, invalid("output '%s': shared_memory_byte_size is %d; the output needs %d", o.Name, n, size)
	}
	return p.acquire(regions, "output", o.Name, name, offset, n)
}

// RegionError classifies an error of the shared-memory registry as Triton
// does: an unknown region is NotFound (HTTP 404, gRPC NOT_FOUND); a name
// taken, a window out of bounds, a bad key, handle or size, or CUDA
// regions on a server without CUDA are InvalidArgument; anything else
// (a failed copy) is Internal. The message is the registry's, which names
// the region and the bound.
func RegionError(err error) *Error {
	if err == nil {
		return nil
	}
	var ke *Error
	if errors.As(err, &ke) {
		return ke
	}
	switch {
	case errors.Is(err, shm.ErrNotFound):
		return &Error{Code: NotFound, Msg: err.Error(), Err: err}
	case errors.Is(err, shm.ErrExists), errors.Is(err, shm.ErrBounds), errors.Is(err, shm.ErrInvalid), errors.Is(err, shm.ErrNoCUDA):
		return &Error{Code: InvalidArgument, Msg: err.Error(), Err: err}
	}
	return &Error{Code: Internal, Msg: "shared memory: internal error", Err: err}
}

// guardedCopy copies between a request's memory and a mapping of a
// client's file. A client that shrinks its file under a registered region
// makes the mapping fault (SIGBUS); on this goroutine that becomes an
// error instead of the end of the process.
func guardedCopy(dst, src []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if _, fault := p.(interface{ Addr() uintptr }); !fault {
				panic(p)
			}
			err = errFault
		}
	}()
	copy(dst, src)
	return nil
}

var errFault = errors.New("memory fault")

// faulted is the error of a tensor whose region faulted.
func (r *region) faulted(kind, tensor string) error {
	return invalid("%s '%s': shared-memory region '%s' faulted: its file was shrunk below the registered window", kind, tensor, r.name)
}
