package gpustack

import (
	"errors"
	"testing"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
	"github.com/trtserve/trtserve/trt"
	"github.com/trtserve/trtserve/trt/trttest"
)

// The fake shim runs no GPU code, so the stack opens CUDA only when the
// caller needs it; the runtime comes from OpenRuntime (the mock) here, as
// libcudart is not on every test machine.
func TestOpen(t *testing.T) {
	fake := trttest.FakeLib(t)
	errRefused := errors.New("refused")
	for _, tc := range []struct {
		name       string
		opts       Options
		devices    int
		runtime    bool   // a Runtime in the stack
		opened     bool   // OpenRuntime was called
		wantErr    error  // errors.Is
		cudaErr    bool   // a *CUDAError
		deviceName string // Stack.Device.Name
	}{
		{name: "shim without a device", opts: Options{}, devices: 1},
		{name: "caller needs CUDA", opts: Options{NeedRuntime: true}, devices: 1, runtime: true, opened: true, deviceName: "Mock GPU"},
		{name: "second GPU", opts: Options{NeedRuntime: true, GPU: 1}, devices: 2, runtime: true, opened: true, deviceName: "Mock GPU"},
		{name: "GPU beyond the machine", opts: Options{NeedRuntime: true, GPU: 2}, devices: 2, opened: true, wantErr: cuda.ErrNoDevice, cudaErr: true},
		{name: "negative GPU", opts: Options{NeedRuntime: true, GPU: -1}, devices: 1, opened: true, wantErr: cuda.ErrNoDevice, cudaErr: true},
		{name: "no GPU at all", opts: Options{NeedRuntime: true}, devices: 0, opened: true, wantErr: cuda.ErrNoDevice, cudaErr: true},
		{name: "no shim", opts: Options{ShimLib: "/nonexistent/libtrtshim.so", NeedRuntime: true}, devices: 1, wantErr: trt.ErrNoShim},
		{name: "check refuses before CUDA", opts: Options{NeedRuntime: true, Check: func(trt.Info) error { return errRefused }}, devices: 1, wantErr: errRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := cudamock.New(tc.devices)
			opened := false
			o := tc.opts
			if o.ShimLib == "" {
				o.ShimLib = fake
			}
			o.AllowEngineHostCode = true
			o.OpenRuntime = func() (cuda.Runtime, error) { opened = true; return m, nil }
			s, err := Open(o)
			if opened != tc.opened {
				t.Errorf("OpenRuntime called %v, want %v", opened, tc.opened)
			}
			if tc.wantErr != nil {
				var ce *CUDAError
				if !errors.Is(err, tc.wantErr) || errors.As(err, &ce) != tc.cudaErr {
					t.Fatalf("err = %v, want %v (CUDAError %v)", err, tc.wantErr, tc.cudaErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if (s.Runtime != nil) != tc.runtime || s.Device.Name != tc.deviceName || s.Info.Path != fake {
				t.Fatalf("stack %+v", s)
			}
			ran := false
			if err := s.OnDevice(func() error { ran = true; return nil }); err != nil || !ran {
				t.Fatalf("OnDevice: %v, ran %v", err, ran)
			}
			if tc.runtime {
				// Only the chosen GPU got a context (OnDevice made it current).
				if got := m.Contexts(); len(got) != 1 || got[0] != tc.opts.GPU {
					t.Fatalf("contexts %v, want [%d]", got, tc.opts.GPU)
				}
			}
		})
	}
}

// OnFault hears the first sticky error of a call through the stack's
// runtime, once.
func TestFaultWatch(t *testing.T) {
	m := cudamock.New(1)
	var faults []error
	s, err := Open(Options{ShimLib: trttest.FakeLib(t), AllowEngineHostCode: true, NeedRuntime: true,
		OpenRuntime: func() (cuda.Runtime, error) { return m, nil }, OnFault: func(err error) { faults = append(faults, err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m.InjectFault(700)
	for range 2 {
		s.OnDevice(func() error { _, _, err := s.Runtime.MemGetInfo(); return err })
	}
	if len(faults) != 1 || !cuda.IsDeviceFault(faults[0]) {
		t.Fatalf("faults %v, want one sticky error", faults)
	}
}
