package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

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
	fs := flag.NewFlagSet("trtserve doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, doctorUsage); fs.PrintDefaults() }
	gpu := fs.Int("gpu", envInt("TRTSERVE_GPU", 0), "GPU to check; no other GPU gets a context (TRTSERVE_GPU)")
	out := fs.String("out", "", "write doctor.md and CSVs to this folder")
	cudaLib := fs.String("cudart-lib", os.Getenv("TRTSERVE_CUDART_LIB"), "path to libcudart.so (TRTSERVE_CUDART_LIB; default: the loader's path)")
	shimLib := fs.String("trtshim-lib", os.Getenv("TRTSERVE_TRTSHIM_LIB"), "path to libtrtshim.so (TRTSERVE_TRTSHIM_LIB)")
	trtLib := fs.String("tensorrt-lib", os.Getenv("TRTSERVE_TENSORRT_LIB"), "TensorRT library the shim opens (TRTSERVE_TENSORRT_LIB)")
	quick := fs.Bool("quick", false, "small sizes and short rounds: a first look, not figures to keep")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("doctor: unexpected argument %q", fs.Arg(0))
	}
	if *gpu < 0 {
		return fmt.Errorf("doctor: --gpu %d: must be 0 or more", *gpu)
	}
	opts := doctor.Options{
		GPU: *gpu, CUDALib: *cudaLib, ShimLib: *shimLib, TensorRTLib: *trtLib, SimKernelLib: os.Getenv("TRTSERVE_SIMKERNEL_LIB"),
		Quick: *quick, Progress: stderr,
	}
	if mock, _ := strconv.ParseBool(os.Getenv("TRTSERVE_CUDA_MOCK")); mock {
		m, err := app.OpenCUDAMock(1, "", nil)
		if err != nil {
			return fmt.Errorf("doctor: %w", err)
		}
		defer m.Runtime.Close()
		opts.Runtime, opts.Mock = m.Runtime, true
	}
	rep, err := doctor.Run(opts)
	rep.Summary(stdout)
	if *out != "" {
		if werr := rep.WriteFiles(*out); werr != nil {
			return errors.Join(err, fmt.Errorf("doctor: write report: %w", werr))
		}
		fmt.Fprintf(stdout, "report: %s/doctor.md\n", *out)
	}
	return err
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
