package simgpu

import (
	"time"

	"github.com/trtserve/trtserve/cuda"
)

// HostKernel stands in for csrc/simkernel on the CUDA mock, where "device"
// memory is host memory and every call is synchronous: it reads the whole
// input through the runtime, writes what the kernel writes (output byte k
// = input byte sum + the index of k's item, mod 256) and sleeps out the
// busy time. Nothing it does runs on a GPU; the server uses it only under
// TRTSERVE_CUDA_MOCK=1.
type HostKernel struct{ Runtime cuda.Runtime }

// Launch implements Launcher.
func (k HostKernel) Launch(_ cuda.Stream, in cuda.DevicePtr, inBytes int, out cuda.DevicePtr, outBytes int, busy time.Duration, batch int) error {
	t0 := time.Now()
	var sum byte
	if inBytes > 0 {
		buf := make([]byte, inBytes)
		if err := k.Runtime.MemcpyDtoH(buf, in); err != nil {
			return err
		}
		for _, b := range buf {
			sum += b
		}
	}
	if outBytes > 0 {
		o := make([]byte, outBytes)
		part := max(outBytes/max(batch, 1), 1)
		for i := range o {
			o[i] = sum + byte(min(i/part, batch-1))
		}
		if err := k.Runtime.MemcpyHtoD(out, o); err != nil {
			return err
		}
	}
	time.Sleep(busy - time.Since(t0))
	return nil
}
