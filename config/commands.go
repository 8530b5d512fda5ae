package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caarlos0/env/v10"
)

// The subcommands other than serve: each has its typed configuration here,
// read from the environment (the same variables serve reads, where they
// mean the same) and then its flags, so that cmd/trtserve reads neither.
// usage is the command's description, printed above its flags by -h.

// Build is `trtserve build`.
type Build struct {
	// Model is the ONNX file, Out the engine file to write.
	Model, Out string
	Precision  string
	// MinBatch, OptBatch (0: MaxBatch) and MaxBatch are the batch range of
	// the derived profile; InputSize ("640", "640x480") its image size.
	MinBatch, OptBatch, MaxBatch int
	InputSize                    string
	// Profiles are explicit input ranges (name:MIN:OPT:MAX), replacing the
	// derived profile.
	Profiles       []string
	Workspace      string
	OptLevel       int
	TimingCache    string
	HardwareCompat string
	VersionCompat  bool
	TF32           bool
	TRTShimLib     string `env:"TRTSERVE_TRTSHIM_LIB"`
	TensorRTLib    string `env:"TRTSERVE_TENSORRT_LIB"`
	CUDALib        string `env:"TRTSERVE_CUDART_LIB"`
	GPU            int
	Quiet          bool
	// TF32Override is NVIDIA's NVIDIA_TF32_OVERRIDE, which TensorRT honours
	// at build time: the summary says when it keeps TF32 out.
	TF32Override string `env:"NVIDIA_TF32_OVERRIDE"`
}

// LoadBuild parses the environment, then args. The model path may come
// before the flags, as users type it.
func LoadBuild(args []string, stderr io.Writer, usage string) (*Build, error) {
	c := Build{Precision: DefaultBuildPrecision, MinBatch: DefaultBuildMinBatch, MaxBatch: DefaultBuildMaxBatch,
		OptLevel: DefaultBuildOptLevel, HardwareCompat: DefaultBuildHardwareCompat, TF32: DefaultBuildTF32}
	if err := env.Parse(&c); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	fs := newFlagSet("trtserve build", stderr, usage)
	fs.StringVar(&c.Out, "o", c.Out, "engine file to write (required)")
	fs.StringVar(&c.Precision, "precision", c.Precision, "fp32, fp16, bf16, int8 or strongly-typed")
	fs.IntVar(&c.MinBatch, "min-batch", c.MinBatch, "smallest batch of the profile")
	fs.IntVar(&c.OptBatch, "opt-batch", c.OptBatch, "batch the kernels are tuned for (default: --max-batch)")
	fs.IntVar(&c.MaxBatch, "max-batch", c.MaxBatch, "largest batch of the profile")
	fs.StringVar(&c.InputSize, "input-size", c.InputSize, "image size for dynamic spatial dims: 640 or 640x480 (WxH)")
	fs.Func("profile", "an input's range as name:MINxDIMS:OPTxDIMS:MAXxDIMS, e.g. images:1x3x640x640:8x3x640x640:8x3x640x640 (repeatable; replaces the derived profile)", func(v string) error {
		c.Profiles = append(c.Profiles, v)
		return nil
	})
	fs.StringVar(&c.Workspace, "workspace", c.Workspace, "builder scratch memory cap, e.g. 4GiB or 512MiB (default: TensorRT's)")
	fs.IntVar(&c.OptLevel, "opt-level", c.OptLevel, "builder optimization level 0..5 (-1: TensorRT's default, 3)")
	fs.StringVar(&c.TimingCache, "timing-cache", c.TimingCache, "timing cache file: read if it exists, written after the build")
	fs.StringVar(&c.HardwareCompat, "hardware-compat", c.HardwareCompat, "none, ampere+ (one engine for every GPU from Ampere on) or same-cc (any GPU of this compute capability)")
	fs.BoolVar(&c.VersionCompat, "version-compat", c.VersionCompat, "an engine later TensorRT versions can run (slower; Volta+)")
	fs.BoolVar(&c.TF32, "tf32", c.TF32, "let fp32 layers run as TF32 on Ampere and newer (TensorRT's default); --tf32=false builds strict fp32")
	fs.StringVar(&c.TRTShimLib, "trtshim-lib", c.TRTShimLib, "path to libtrtshim.so")
	fs.StringVar(&c.TensorRTLib, "tensorrt-lib", c.TensorRTLib, "TensorRT library the shim opens (default: the usual places); must be the full libnvinfer to build")
	fs.StringVar(&c.CUDALib, "cudart-lib", c.CUDALib, "path to libcudart.so")
	fs.IntVar(&c.GPU, "gpu", c.GPU, "CUDA device to build for")
	fs.BoolVar(&c.Quiet, "quiet", c.Quiet, "no progress bar")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c.Model, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.Model == "" && fs.NArg() > 0 {
		c.Model = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.Model == "" || c.Out == "" {
		fs.Usage()
		return nil, errors.New("build needs a model.onnx and -o")
	}
	return &c, nil
}

// Inspect is `trtserve inspect`.
type Inspect struct {
	File        string
	JSON        bool
	TRTShimLib  string `env:"TRTSERVE_TRTSHIM_LIB"`
	TensorRTLib string `env:"TRTSERVE_TENSORRT_LIB"`
	CUDALib     string `env:"TRTSERVE_CUDART_LIB"`
	GPU         int
}

// LoadInspect parses the environment, then args (the file may come first).
func LoadInspect(args []string, stderr io.Writer, usage string) (*Inspect, error) {
	var c Inspect
	if err := env.Parse(&c); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	fs := newFlagSet("trtserve inspect", stderr, usage)
	fs.BoolVar(&c.JSON, "json", c.JSON, "print JSON")
	fs.StringVar(&c.TRTShimLib, "trtshim-lib", c.TRTShimLib, "path to libtrtshim.so (for engine files)")
	fs.StringVar(&c.TensorRTLib, "tensorrt-lib", c.TensorRTLib, "TensorRT library the shim opens for engine files (default: the usual places; the lean runtime reads version-compatible engines)")
	fs.StringVar(&c.CUDALib, "cudart-lib", c.CUDALib, "path to libcudart.so (for engine files)")
	fs.IntVar(&c.GPU, "gpu", c.GPU, "CUDA device that reads an engine file; no other GPU is touched")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c.File, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.File == "" && fs.NArg() == 1 {
		c.File = fs.Arg(0)
	}
	if c.File == "" {
		fs.Usage()
		return nil, errors.New("inspect needs a file")
	}
	return &c, nil
}

// Doctor is `trtserve doctor`.
type Doctor struct {
	GPU          int    `env:"TRTSERVE_GPU" envDefault:"0"`
	Out          string // folder for doctor.md and the CSVs ("" writes none)
	CUDALib      string `env:"TRTSERVE_CUDART_LIB"`
	TRTShimLib   string `env:"TRTSERVE_TRTSHIM_LIB"`
	TensorRTLib  string `env:"TRTSERVE_TENSORRT_LIB"`
	SimKernelLib string `env:"TRTSERVE_SIMKERNEL_LIB"`
	// CUDAMock runs the checks on the CUDA mock (tests; every figure
	// labelled MOCK). Environment only.
	CUDAMock bool `env:"TRTSERVE_CUDA_MOCK" envDefault:"false"`
	Quick    bool
}

// LoadDoctor parses the environment, then args.
func LoadDoctor(args []string, stderr io.Writer, usage string) (*Doctor, error) {
	var c Doctor
	if err := env.Parse(&c); err != nil {
		return nil, fmt.Errorf("doctor: environment: %w", err)
	}
	fs := newFlagSet("trtserve doctor", stderr, usage)
	fs.IntVar(&c.GPU, "gpu", c.GPU, "GPU to check; no other GPU gets a context (TRTSERVE_GPU)")
	fs.StringVar(&c.Out, "out", c.Out, "write doctor.md and CSVs to this folder")
	fs.StringVar(&c.CUDALib, "cudart-lib", c.CUDALib, "path to libcudart.so (TRTSERVE_CUDART_LIB; default: the loader's path)")
	fs.StringVar(&c.TRTShimLib, "trtshim-lib", c.TRTShimLib, "path to libtrtshim.so (TRTSERVE_TRTSHIM_LIB)")
	fs.StringVar(&c.TensorRTLib, "tensorrt-lib", c.TensorRTLib, "TensorRT library the shim opens (TRTSERVE_TENSORRT_LIB)")
	fs.BoolVar(&c.Quick, "quick", c.Quick, "small sizes and short rounds: a first look, not figures to keep")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("doctor: unexpected argument %q", fs.Arg(0))
	}
	if c.GPU < 0 {
		return nil, fmt.Errorf("doctor: --gpu %d: must be 0 or more", c.GPU)
	}
	return &c, nil
}

// Bench is `trtserve bench`.
type Bench struct {
	// Targets are the servers to load, as given to --url and --compare
	// ("URL" or "name=URL"), in order; none means DefaultBenchURL.
	Targets []string
	// Params are extra request fields, "key=value" each.
	Params              []string
	Model, Task, Images string
	Concurrency, Rates  string // comma-separated levels
	Warmup, Duration    time.Duration
	Timeout             time.Duration
	APIKey, CSV, Plot   string
	JSON                string // write the levels as JSON here
	// CACert, Cert and Key are PEM files for https targets: CAs to trust
	// (beyond the system's), and a client certificate for mutual TLS;
	// Insecure skips verifying the server's certificate.
	CACert, Cert, Key string
	Insecure          bool
	Title             string
	Quiet             bool
	Raw               bool // measure a backend alone; the fields below are for it
	ModelRepository   string
	Backend           string
	MaxBatchSize      int
	Batches           string
	ORTLibrary        string
	IntraOpThreads    int
}

// LoadBench parses args. Bench reads no environment of its own: --raw
// starts from serve's (Serve).
func LoadBench(args []string, stderr io.Writer, usage string) (*Bench, error) {
	c := Bench{Model: DefaultBenchModel, Task: DefaultBenchTask, Images: DefaultBenchImages, Concurrency: DefaultBenchConcurrency,
		Warmup: DefaultBenchWarmup, Duration: DefaultBenchDuration, Timeout: DefaultBenchTimeout,
		ModelRepository: DefaultModelRepository, MaxBatchSize: DefaultMaxBatchSize}
	fs := newFlagSet("trtserve bench", stderr, usage)
	target := func(v string) error { c.Targets = append(c.Targets, v); return nil }
	fs.Func("url", "server to load, as URL or name=URL; repeat to compare targets in one run (the first is the numerator of the ratios)", target)
	fs.Func("compare", "a further target, as name=URL (same as another --url): measured in the same run, its fps ratio printed", target)
	fs.Func("param", "extra request field as key=value (repeatable), e.g. mask_decode_mode=fast", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("--param wants key=value, got %q", v)
		}
		c.Params = append(c.Params, v)
		return nil
	})
	fs.StringVar(&c.Model, "model", c.Model, "model_id to request (or, with --raw, to load)")
	fs.StringVar(&c.Task, "task", c.Task, "Roboflow route: /infer/<task>")
	fs.StringVar(&c.Images, "images", c.Images, "folder of .jpg/.png images sent round-robin")
	fs.StringVar(&c.Concurrency, "concurrency", c.Concurrency, "closed-loop concurrency levels")
	fs.StringVar(&c.Rates, "rate", c.Rates, "open-loop request rates per second (instead of --concurrency), e.g. 50,100,200")
	fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "time each level runs before measuring")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "measurement window per level")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "client timeout per request")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "api_key sent in each request (Roboflow servers), and as X-API-Key to /metrics")
	fs.StringVar(&c.CACert, "cacert", c.CACert, "PEM file of CA certificates to trust for https targets, besides the system's (a self-signed server's)")
	fs.StringVar(&c.Cert, "cert", c.Cert, "PEM client certificate for https targets that require one (mutual TLS); needs --key")
	fs.StringVar(&c.Key, "key", c.Key, "PEM private key of --cert")
	fs.BoolVar(&c.Insecure, "insecure", c.Insecure, "do not verify https targets' certificates (like curl -k)")
	fs.StringVar(&c.CSV, "csv", c.CSV, "write perf_analyzer-style CSV here")
	fs.StringVar(&c.Plot, "plot", c.Plot, "write a PNG of throughput and p99 latency against load here")
	fs.StringVar(&c.JSON, "json", c.JSON, "write the levels (fps, server CPU per image, latencies, ...) and ratios as JSON here")
	fs.StringVar(&c.Title, "title", c.Title, "plot title")
	fs.BoolVar(&c.Quiet, "quiet", c.Quiet, "no progress bar")
	fs.BoolVar(&c.Raw, "raw", c.Raw, "measure the backend alone on pre-decoded tensors (no server)")
	fs.StringVar(&c.ModelRepository, "model-repository", c.ModelRepository, "with --raw: model repository")
	fs.StringVar(&c.Backend, "backend", c.Backend, "with --raw: force a backend (onnxruntime or simulated)")
	fs.IntVar(&c.MaxBatchSize, "max-batch-size", c.MaxBatchSize, "with --raw: largest batch for dynamic-batch models")
	fs.StringVar(&c.Batches, "batches", c.Batches, "with --raw: batch sizes (default 1, 2, 4, ... max)")
	fs.StringVar(&c.ORTLibrary, "onnxruntime-lib", c.ORTLibrary, "with --raw: path to libonnxruntime.so")
	fs.IntVar(&c.IntraOpThreads, "intra-op-threads", c.IntraOpThreads, "with --raw: ONNX Runtime threads per run, 0 = one per core")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if len(c.Targets) == 0 {
		c.Targets = []string{DefaultBenchURL}
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, fmt.Errorf("bench: --cert and --key go together: got cert %q and key %q", c.Cert, c.Key)
	}
	return &c, nil
}

// Serve is the serve configuration bench --raw starts its backends with:
// serve's environment, with bench's flags for the repository and backends.
func (b *Bench) Serve(stderr io.Writer) (*Config, error) {
	cfg, err := Load(nil, stderr)
	if err != nil {
		return nil, err
	}
	cfg.ModelRepository, cfg.Backend, cfg.MaxBatchSize, cfg.IntraOpThreads = b.ModelRepository, b.Backend, b.MaxBatchSize, b.IntraOpThreads
	if b.ORTLibrary != "" {
		cfg.ORTLibrary = b.ORTLibrary
	}
	return cfg, nil
}

func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	return fs
}
