package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/engines/tensorrt"
	"github.com/trtserve/trtserve/internal/gpustack"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/trt"
)

const buildUsage = `usage: trtserve build model.onnx -o model.engine [flags]

Compiles an ONNX model into a TensorRT engine for this machine's GPU and
TensorRT version. Dynamic inputs get one optimization profile: the batch
range from --min-batch/--opt-batch/--max-batch and the image size from
--input-size (default: the model's imgsz metadata); --profile gives any
input's range explicitly.

Precision: fp32 (default), fp16, bf16, int8 (a Q/DQ ONNX, e.g. from NVIDIA
ModelOpt: no calibration is done here) or strongly-typed (types exactly as
in the ONNX). TensorRT 11 builds strongly typed networks only: there, fp16,
bf16 and int8 are refused with what to bring instead. On Ampere and newer
GPUs TensorRT (10 and 11 alike) lets fp32 layers run as TF32 by default:
products of 10-bit mantissas, accumulated in fp32. For strict fp32, build
with --tf32=false (the builder's kTF32 flag is cleared; config.yaml's
tf32: false does the same for the server's builds). NVIDIA's
NVIDIA_TF32_OVERRIDE=0 in the environment also keeps TF32 kernels out.

Building needs the full TensorRT library (libnvinfer with its ONNX parser):
the lean and dispatch runtimes only run engines.

flags:
`

// runBuild is `trtserve build`.
func runBuild(args []string, stdout, stderr io.Writer) error {
	c, err := config.LoadBuild(args, stderr, buildUsage)
	if err != nil {
		return err
	}
	model := c.Model
	prec, err := trt.ParsePrecision(c.Precision)
	if err != nil {
		return err
	}
	opts := trt.BuildOptions{Precision: prec, OptimizationLevel: c.OptLevel, VersionCompat: c.VersionCompat, DisableTF32: !c.TF32}
	switch c.HardwareCompat {
	case "none":
	case "ampere+":
		opts.HardwareCompat = trt.HWCompatAmperePlus
	case "same-cc":
		opts.HardwareCompat = trt.HWCompatSameComputeCapability
	default:
		return fmt.Errorf("hardware-compat must be none, ampere+ or same-cc, got %q", c.HardwareCompat)
	}
	if c.Workspace != "" {
		if opts.WorkspaceBytes, err = parseBytes(c.Workspace); err != nil {
			return err
		}
	}
	onnx, err := os.ReadFile(model)
	if err != nil {
		return err
	}
	info, err := repository.ParseONNXInfo(onnx)
	if err != nil {
		return fmt.Errorf("%s: %w", model, err)
	}
	if len(c.Profiles) > 0 {
		for _, p := range c.Profiles {
			d, err := parseProfile(p)
			if err != nil {
				return err
			}
			opts.Profile = append(opts.Profile, d)
		}
	} else {
		w, h, err := inputSize(c.InputSize, info)
		if err != nil {
			return err
		}
		optB := c.OptBatch
		if optB == 0 {
			optB = c.MaxBatch
		}
		if opts.Profile, err = tensorrt.BuildProfile(info.Inputs, c.MinBatch, optB, c.MaxBatch, h, w); err != nil {
			return err
		}
	}
	if c.TimingCache != "" {
		opts.TimingCache, _ = os.ReadFile(c.TimingCache) // absent: start one
	}

	stack, err := gpustack.Open(gpustack.Options{
		ShimLib: c.TRTShimLib, TensorRTLib: c.TensorRTLib, AllowEngineHostCode: true, CUDALib: c.CUDALib, GPU: c.GPU,
		Check: func(li trt.Info) error {
			if !li.CanBuild {
				return fmt.Errorf("%w: %s is the TensorRT %s runtime, which runs engines but cannot build them: run build with the full TensorRT (libnvinfer and its ONNX parser: the trtserve TensorRT container, or --tensorrt-lib pointing at libnvinfer.so)",
					trt.ErrUnsupported, li.TensorRTPath, li.Runtime)
			}
			return nil
		},
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	var cudaErr *gpustack.CUDAError
	switch {
	case errors.As(err, &cudaErr):
		return fmt.Errorf("TensorRT builds for the GPU it runs on: %w", err)
	case errors.Is(err, trt.ErrNoShim):
		return fmt.Errorf("%w\nbuild needs TensorRT: run it in the trtserve TensorRT container (./build.sh) or point --trtshim-lib at a libtrtshim.so built with `make shim` on a TensorRT install", err)
	case err != nil:
		return err
	}
	defer stack.Close()
	lib, li := stack.Shim, stack.Info
	gpuName := "(no GPU used: the shim runs no GPU code)"
	if stack.Runtime != nil {
		gpuName = fmt.Sprintf("%s (%s)", stack.Device.Name, stack.Device.ComputeCapability())
	}
	tf32State := "allowed"
	if opts.DisableTF32 {
		tf32State = "off"
	}
	fmt.Fprintf(stderr, "building %s → %s\n  TensorRT %s (%s)\n  GPU %s\n  precision %s, tf32 %s\n", model, c.Out, li.Version(), li.Path, gpuName, prec, tf32State)
	for _, p := range opts.Profile {
		fmt.Fprintf(stderr, "  profile %s: min %v opt %v max %v\n", p.Name, p.Min, p.Opt, p.Max)
	}
	bar := newProgressBar(stderr, c.Quiet)
	opts.Progress = bar
	// Ctrl-C cancels at the next step instead of killing a half-written build.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			bar.cancel()
		}
	}()
	var plan, tc []byte
	t0 := time.Now()
	// TensorRT builds for the calling thread's current device.
	err = stack.OnDevice(func() error {
		var err error
		plan, tc, err = lib.Build(onnx, filepath.Dir(model), opts)
		return err
	})
	bar.end()
	if err != nil {
		return err
	}
	took := time.Since(t0)
	if err := os.WriteFile(c.Out, plan, 0o644); err != nil {
		return err
	}
	if c.TimingCache != "" && len(tc) > 0 {
		if err := os.WriteFile(c.TimingCache, tc, 0o644); err != nil {
			return fmt.Errorf("timing cache: %w", err)
		}
	}
	fmt.Fprintf(stdout, "built %s in %v: %s, precision %s\n", c.Out, took.Round(time.Millisecond), humanBytes(int64(len(plan))), prec)
	if note := tf32Note(prec, opts.DisableTF32, c.TF32Override); note != "" {
		fmt.Fprintln(stdout, note)
	}
	// Read back what was built (deserializing needs the GPU it was built on).
	var eng *trt.Engine
	if err := stack.OnDevice(func() error {
		var err error
		eng, err = lib.Load(plan)
		return err
	}); err != nil {
		return fmt.Errorf("the engine was written but does not load back: %w", err)
	}
	// Freeing the engine frees device memory: on --gpu's thread, or CUDA
	// would create a context on GPU 0 for it.
	defer stack.OnDevice(eng.Close)
	printIO(stdout, eng.IO())
	return nil
}

// tf32Note is what the summary says about TF32 for a build at precision
// p: TensorRT's builder allows TF32 for fp32 tensors by default (kTF32 is
// on in TensorRT 10 and 11), which users of an "fp32" engine do not expect.
// disabled is --tf32=false (kTF32 cleared); override is
// NVIDIA_TF32_OVERRIDE, which TensorRT also honours at build time. Either
// one turning TF32 off is said whatever the precision, since fp16 or bf16
// builds keep some layers in fp32; the advice is only for the fp32 ones.
func tf32Note(p trt.Precision, disabled bool, override string) string {
	switch {
	case disabled:
		return "  TF32 off (--tf32=false): layers that run in fp32 use strict fp32"
	case override == "0":
		return "  TF32 off (NVIDIA_TF32_OVERRIDE=0): layers that run in fp32 use strict fp32"
	case p != trt.FP32 && p != trt.StronglyTyped:
		return ""
	}
	return "  note: on Ampere and newer GPUs fp32 layers may run as TF32 (TensorRT's default); for strict fp32 rebuild with --tf32=false (NVIDIA_TF32_OVERRIDE=0 in the environment also works)"
}

func printIO(w io.Writer, ios []trt.IO) {
	for _, io := range ios {
		kind := "output"
		if io.Input {
			kind = "input "
		}
		fmt.Fprintf(w, "  %s %-16s %-5s %v", kind, io.Name, io.DataType, io.Shape)
		if io.Min != nil {
			fmt.Fprintf(w, "  profile min %v opt %v max %v", io.Min, io.Opt, io.Max)
		}
		if io.DataDependent {
			fmt.Fprint(w, "  (data-dependent shape)")
		}
		fmt.Fprintln(w)
	}
}

// inputSize is --input-size, or the Ultralytics imgsz metadata.
func inputSize(s string, info *model.ONNXInfo) (w, h int, err error) {
	if s == "" {
		h, w, err := repository.MetadataImageSize(info.Metadata)
		return w, h, err // 0, 0 without imgsz: fixed-size models need none
	}
	a, b, ok := strings.Cut(s, "x")
	if !ok {
		b = a
	}
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("input size %q: want 640 or 640x480", s)
	}
	return w, h, nil
}

func parseProfile(s string) (trt.ProfileDim, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 4 {
		return trt.ProfileDim{}, fmt.Errorf("profile %q: want name:MIN:OPT:MAX with dims like 1x3x640x640", s)
	}
	p := trt.ProfileDim{Name: parts[0]}
	for i, dst := range []*[]int64{&p.Min, &p.Opt, &p.Max} {
		for _, f := range strings.Split(parts[i+1], "x") {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return p, fmt.Errorf("profile %q: %q is not a dimension", s, f)
			}
			*dst = append(*dst, v)
		}
	}
	return p, nil
}

func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
			if err != nil || v < 0 {
				break
			}
			return int64(v * float64(u.mult)), nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: want bytes or a number with GiB, MiB, KiB, GB, MB or KB", s)
	}
	return v, nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progressBar draws TensorRT's build phases: on a terminal one line
// redrawn in place (the innermost phase's bar, its parents as a path),
// elsewhere a line per phase start and end.
type progressBar struct {
	w         io.Writer
	tty, off  bool
	mu        sync.Mutex // guards the fields below: TensorRT reports from its own threads
	phases    []phase
	cancelled bool
}

type phase struct {
	name        string
	step, total int
	start       time.Time
}

func newProgressBar(w io.Writer, quiet bool) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, tty: tty, off: quiet}
}

func (p *progressBar) Start(name, parent string, steps int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phases = append(p.phases, phase{name: name, total: steps, start: time.Now()})
	if !p.off && !p.tty {
		fmt.Fprintf(p.w, "%s%s (%d steps)\n", strings.Repeat("  ", len(p.phases)), name, steps)
	}
	p.draw()
}

func (p *progressBar) Step(name string, step int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.phases {
		if p.phases[i].name == name {
			p.phases[i].step = step + 1
		}
	}
	p.draw()
	return !p.cancelled
}

func (p *progressBar) Finish(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.phases) - 1; i >= 0; i-- {
		if p.phases[i].name == name {
			if !p.off && !p.tty {
				fmt.Fprintf(p.w, "%sdone: %s in %v\n", strings.Repeat("  ", i+1), name, time.Since(p.phases[i].start).Round(time.Millisecond))
			}
			p.phases = append(p.phases[:i], p.phases[i+1:]...)
			break
		}
	}
	p.draw()
}

// draw redraws the terminal line; p.mu is held.
func (p *progressBar) draw() {
	if p.off || !p.tty || len(p.phases) == 0 {
		return
	}
	cur := p.phases[len(p.phases)-1]
	const width = 30
	filled := 0
	if cur.total > 0 {
		filled = min(width, cur.step*width/cur.total)
	}
	var path []string
	for _, ph := range p.phases {
		path = append(path, ph.name)
	}
	line := fmt.Sprintf("[%s%s] %d/%d %s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), cur.step, cur.total, strings.Join(path, " › "))
	fmt.Fprintf(p.w, "\r\033[K%s", line)
}

func (p *progressBar) cancel() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancelled = true
	fmt.Fprintln(p.w, "\ncancelling the build at the next step...")
}

func (p *progressBar) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && !p.off {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
