package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/doctor"
	"github.com/trtserve/trtserve/internal/app"
)

const doctorUsage = `usage: trtserve doctor [--gpu N] [--out DIR]

Check this host's GPU side: the libraries the server loads (libcudart,
NVML, the TensorRT shim and TensorRT, the simulated kernel), the GPU's
facts, pinned / write-combined / pageable copy bandwidth both ways,
copy/compute overlap of the simulated engine, 10,000 alloc/free cycles
(no growth allowed) and NVML's metrics. Prints a summary; --out writes
doctor.md and CSVs. Without a GPU it prints "no GPU: nothing checked"
with what is missing and why, and exits 0. It exits 1 when a check finds
a problem. TRTSERVE_CUDA_MOCK=1 runs the checks on the CUDA mock (tests;
every figure labelled MOCK).

flags:
`

func runDoctor(args []string, stdout, stderr io.Writer) error {
	c, err := config.LoadDoctor(args, stderr, doctorUsage)
	if err != nil {
		return err
	}
	opts := doctor.Options{
		GPU: c.GPU, CUDALib: c.CUDALib, ShimLib: c.TRTShimLib, TensorRTLib: c.TensorRTLib, SimKernelLib: c.SimKernelLib,
		Quick: c.Quick, Progress: stderr,
	}
	if c.CUDAMock {
		m, err := app.OpenCUDAMock(1, "", nil)
		if err != nil {
			return fmt.Errorf("doctor: %w", err)
		}
		defer m.Runtime.Close()
		opts.Runtime, opts.Mock = m.Runtime, true
	}
	rep, err := doctor.Run(opts)
	rep.Summary(stdout)
	if c.Out != "" {
		if werr := rep.WriteFiles(c.Out); werr != nil {
			return errors.Join(err, fmt.Errorf("doctor: write report: %w", werr))
		}
		fmt.Fprintf(stdout, "report: %s/doctor.md\n", c.Out)
	}
	return err
}
