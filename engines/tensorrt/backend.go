package tensorrt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/trt"
)

// Name is the backend's name in config.yaml and the registry.
const Name = model.BackendTensorRT

// Options configure the backend.
type Options struct {
	Lib     *trt.Library
	Runtime cuda.Runtime
	Device  int
	Pool    *cuda.Pool
	// CacheDir holds built engines and timing caches.
	CacheDir string
	// Depth is the device buffer sets per instance (default 2).
	Depth int
	// WorkspaceBytes caps the builder's scratch memory (0: TensorRT's
	// default).
	WorkspaceBytes int64
	// TF32Override is NVIDIA_TF32_OVERRIDE as the process started with it
	// (package config reads it): TensorRT honours it when building, so it
	// is part of the engine cache key.
	TF32Override string
	Log          *slog.Logger
}

// Backend builds and loads TensorRT engines on one GPU.
type Backend struct {
	opts    Options
	dev     cuda.DeviceInfo
	buildMu sync.Mutex // one build at a time per GPU: builds take all of it
}

// New makes the backend for opts.Device.
func New(opts Options) (*Backend, error) {
	if opts.Lib == nil || opts.Runtime == nil || opts.Pool == nil {
		return nil, errors.New("tensorrt backend: library, runtime and pool are required")
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Depth < 1 {
		opts.Depth = 2
	}
	dev, err := opts.Runtime.DeviceInfo(opts.Device)
	if err != nil {
		return nil, err
	}
	if opts.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		opts.CacheDir = filepath.Join(dir, "trtserve", "engines")
	}
	return &Backend{opts: opts, dev: dev}, nil
}

// Name is "tensorrt".
func (b *Backend) Name() string { return Name }

// Device is the GPU the backend runs on.
func (b *Backend) Device() cuda.DeviceInfo { return b.dev }

// Close does nothing: engines close themselves, the library stays loaded.
func (b *Backend) Close() error { return nil }

// onDevice runs f on a thread with the backend's device current, as every
// TensorRT call that touches the GPU needs.
func (b *Backend) onDevice(f func() error) error {
	return cuda.OnDevice(b.opts.Runtime, b.opts.Device, f)
}

// Settings are config.yaml's TensorRT keys, which only this backend reads.
type Settings struct {
	// Precision is what an ONNX model is built with: fp32 (the default),
	// fp16, bf16, int8 or strongly-typed.
	Precision string
	// DisableTF32 is tf32: false: the build clears kTF32 so fp32 layers
	// run in strict fp32. Absent or true is TensorRT's default (TF32
	// allowed), so only an explicit false changes the build.
	DisableTF32 bool
}

// SettingsOf decodes spec's TensorRT keys, checking them as the rest of
// config.yaml is checked: a bad value fails the model's load with the
// reason, it is never built some other way.
func SettingsOf(spec *model.Spec) (Settings, error) {
	var c struct {
		Precision         string `yaml:"precision"`
		TF32              *bool  `yaml:"tf32"` // a pointer: absent and true mean the same, false is a choice
		engines.OtherKeys `yaml:",inline"`
	}
	if err := engines.DecodeConfig(spec, &c); err != nil {
		return Settings{}, err
	}
	s := Settings{Precision: "fp32", DisableTF32: c.TF32 != nil && !*c.TF32}
	switch c.Precision {
	case "":
	case "fp32", "fp16", "bf16", "int8", "strongly-typed":
		s.Precision = c.Precision
	default:
		return Settings{}, fmt.Errorf("%w: config.yaml: precision must be fp32, fp16, bf16, int8 or strongly-typed, got %q", model.ErrBadModel, c.Precision)
	}
	return s, nil
}

// Load deserializes the model's engine, building it first if needed.
func (b *Backend) Load(ctx context.Context, spec *model.Spec) (engines.Engine, error) {
	settings, err := SettingsOf(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.ID(), err)
	}
	plan, err := b.plan(ctx, spec, settings)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.ID(), cannotRun(err))
	}
	e := &Engine{b: b, spec: spec}
	if err := b.onDevice(func() error { return e.load(plan) }); err != nil {
		e.Close()
		return nil, fmt.Errorf("%s: %w", spec.ID(), cannotRun(err))
	}
	return e, nil
}

// cannotRun marks the errors that say TensorRT cannot run this model on
// this machine — its ONNX does not parse or build here (an op TensorRT
// lacks, a precision it refuses, a lean runtime that cannot build) or
// TensorRT cannot start CUDA — as engines.ErrBackendCannotRun, so the
// manager serves the model on ONNX Runtime instead. Other errors (a
// corrupt file, a bad config, out of memory) are the model's or the
// machine's, and another backend would not help.
func cannotRun(err error) error {
	for _, e := range []error{trt.ErrParse, trt.ErrBuild, trt.ErrUnsupported, trt.ErrCUDAInit} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %w", engines.ErrBackendCannotRun, err)
		}
	}
	return err
}

// Profile is the optimization profile trtserve builds a model with: batch
// 1..max_batch_size (optimized for the largest, which dynamic batching
// fills under load) and the model's configured input size.
func Profile(spec *model.Spec) ([]trt.ProfileDim, error) {
	if spec.ONNX == nil {
		return nil, fmt.Errorf("%w: no ONNX inputs to build from", model.ErrBadModel)
	}
	b := max(spec.MaxBatchSize, 1)
	return BuildProfile(spec.ONNX.Inputs, 1, b, b, spec.InputHeight, spec.InputWidth)
}

// BuildProfile is the profile of the ONNX inputs with a dynamic dimension:
// the batch dimension from minB/optB/maxB, spatial dimensions of NCHW
// images fixed to h×w (a fixed dimension keeps its value).
func BuildProfile(inputs []model.TensorInfo, minB, optB, maxB, h, w int) ([]trt.ProfileDim, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("%w: the model has no inputs", model.ErrBadModel)
	}
	if minB < 1 || minB > optB || optB > maxB {
		return nil, fmt.Errorf("%w: batch range min %d, opt %d, max %d: want 1 <= min <= opt <= max", trt.ErrInvalidArgument, minB, optB, maxB)
	}
	var out []trt.ProfileDim
	for _, in := range inputs {
		dynamic := false
		for _, d := range in.Shape {
			dynamic = dynamic || d < 0
		}
		if !dynamic {
			continue
		}
		if len(in.Shape) != 4 {
			return nil, fmt.Errorf("%w: input %s has dynamic dimensions %v that trtserve cannot choose (only NCHW images): give a profile", model.ErrBadModel, in.Name, in.Shape)
		}
		at := func(n int) []int64 {
			d := append([]int64(nil), in.Shape...)
			if d[0] < 0 {
				d[0] = int64(n)
			}
			if d[1] < 0 {
				d[1] = 3
			}
			for i, v := range map[int]int{2: h, 3: w} {
				if d[i] < 0 {
					d[i] = int64(v)
				}
			}
			return d
		}
		if (in.Shape[2] < 0 || in.Shape[3] < 0) && (h <= 0 || w <= 0) {
			return nil, fmt.Errorf("%w: input %s has a dynamic image size: say which (input size)", model.ErrBadModel, in.Name)
		}
		out = append(out, trt.ProfileDim{Name: in.Name, Min: at(minB), Opt: at(optB), Max: at(maxB)})
	}
	return out, nil
}

// CacheKey names a built engine: everything that makes one plan differ
// from another. The ONNX bytes, the GPU's compute capability and the
// TensorRT version, and every build setting that changes what the builder
// may choose: precision, workspace (tactics needing more scratch are left
// out under a smaller cap), optimisation level, hardware and version
// compatibility, DisableTF32 (kTF32 cleared), the profile, and
// tf32Override (NVIDIA_TF32_OVERRIDE at build time: "0" keeps TF32 kernels
// out even where kTF32 is left on, so it still counts). The timing cache
// and progress callback only change how long a build takes, so they are
// not part of it.
func CacheKey(onnx []byte, computeCapability, trtVersion string, o trt.BuildOptions, tf32Override string) string {
	h := sha256.New()
	sum := sha256.Sum256(onnx)
	h.Write(sum[:])
	fmt.Fprintf(h, "\x00%s\x00%s\x00%s\x00ws=%d\x00opt=%d\x00hw=%d\x00vc=%t\x00notf32=%t\x00tf32=%q\x00", computeCapability, trtVersion, o.Precision,
		o.WorkspaceBytes, o.OptimizationLevel, o.HardwareCompat, o.VersionCompat, o.DisableTF32, tf32Override)
	for _, p := range o.Profile {
		fmt.Fprintf(h, "%s:%v:%v:%v;", p.Name, p.Min, p.Opt, p.Max)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// plan is the model's serialized engine: its own model.engine/model.plan,
// or a cached build of its ONNX, or a new build.
func (b *Backend) plan(ctx context.Context, spec *model.Spec, settings Settings) ([]byte, error) {
	if f := repository.EngineFile(spec.Dir); f != "" {
		b.opts.Log.Info("loading TensorRT engine file", "model", spec.ID(), "file", f)
		return os.ReadFile(f)
	}
	onnx, err := os.ReadFile(spec.File)
	if err != nil {
		return nil, err
	}
	precision := settings.Precision
	prec, err := trt.ParsePrecision(precision)
	if err != nil {
		return nil, err
	}
	profile, err := Profile(spec)
	if err != nil {
		return nil, err
	}
	info := b.opts.Lib.Info()
	if !info.CanBuild {
		return nil, fmt.Errorf("%w: the TensorRT library here (%s runtime, %s) runs engine files only and cannot build %s: build model.engine where full TensorRT is (trtserve build) and put it in the version folder",
			trt.ErrUnsupported, info.Runtime, info.TensorRTPath, filepath.Base(spec.File))
	}
	opts := trt.BuildOptions{Precision: prec, OptimizationLevel: -1, Profile: profile, WorkspaceBytes: b.opts.WorkspaceBytes, DisableTF32: settings.DisableTF32}
	tf32 := b.opts.TF32Override
	key := CacheKey(onnx, b.dev.ComputeCapability(), info.Version(), opts, tf32)
	if err := os.MkdirAll(b.opts.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("engine cache: %w", err)
	}
	base := filepath.Join(b.opts.CacheDir, fmt.Sprintf("%s-%s-%s", safe(spec.Name), safe(spec.Version), key))
	path := base + ".plan"
	unlock, err := lockFile(ctx, base+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if plan, err := os.ReadFile(path); err == nil {
		b.opts.Log.Info("engine cache hit", "model", spec.ID(), "engine", path)
		return plan, nil
	}
	b.opts.Log.Info("building TensorRT engine: the model is not ready until it is done", "model", spec.ID(), "onnx", spec.File,
		"precision", precision, "tf32", !opts.DisableTF32, "gpu", b.dev.Name, "compute_capability", b.dev.ComputeCapability(), "tensorrt", info.Version(), "engine", path)
	plan, err := b.Build(ctx, onnx, filepath.Dir(spec.File), opts, spec.ID())
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(path, plan); err != nil {
		return nil, fmt.Errorf("engine cache: %w", err)
	}
	meta, _ := json.MarshalIndent(map[string]any{
		"model": spec.ID(), "onnx": spec.File, "onnx_sha256": fmt.Sprintf("%x", sha256.Sum256(onnx)), "gpu": b.dev.Name,
		"compute_capability": b.dev.ComputeCapability(), "tensorrt": info.Version(), "precision": precision,
		"workspace_bytes": opts.WorkspaceBytes, "optimization_level": opts.OptimizationLevel,
		"hardware_compat": opts.HardwareCompat, "version_compat": opts.VersionCompat, "tf32": !opts.DisableTF32, "nvidia_tf32_override": tf32,
		"profile": profile, "built": time.Now().UTC().Format(time.RFC3339),
	}, "", "  ")
	writeAtomic(base+".json", meta)
	return plan, nil
}

// Build compiles onnx on this backend's GPU, one build at a time, with the
// per-GPU timing cache, logging progress; ctx cancels it between steps.
func (b *Backend) Build(ctx context.Context, onnx []byte, dir string, opts trt.BuildOptions, label string) ([]byte, error) {
	b.buildMu.Lock()
	defer b.buildMu.Unlock()
	info := b.opts.Lib.Info()
	tcPath := filepath.Join(b.opts.CacheDir, fmt.Sprintf("timing-%s-%s-%s.cache", safe(b.dev.Name), b.dev.ComputeCapability(), safe(info.Version())))
	if opts.TimingCache == nil {
		opts.TimingCache, _ = os.ReadFile(tcPath)
	}
	if opts.Progress == nil {
		opts.Progress = &logProgress{ctx: ctx, log: b.opts.Log.With("model", label)}
	}
	var plan, tc []byte
	t0 := time.Now()
	err := b.onDevice(func() error {
		var err error
		plan, tc, err = b.opts.Lib.Build(onnx, dir, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(tc) > 0 {
		if err := writeAtomic(tcPath, tc); err != nil {
			b.opts.Log.Warn("timing cache not saved", "err", err)
		}
	}
	b.opts.Log.Info("TensorRT engine built", "model", label, "bytes", len(plan), "took", time.Since(t0).Round(time.Millisecond))
	return plan, nil
}

// logProgress logs build phases; it cancels the build when ctx ends.
type logProgress struct {
	ctx context.Context
	log *slog.Logger
}

func (p *logProgress) Start(phase, parent string, steps int) {
	p.log.Info("build phase", "phase", phase, "parent", parent, "steps", steps)
}
func (p *logProgress) Step(phase string, step int) bool {
	p.log.Debug("build step", "phase", phase, "step", step)
	return p.ctx.Err() == nil
}
func (p *logProgress) Finish(phase string) { p.log.Debug("build phase done", "phase", phase) }

// lockFile takes an exclusive flock, polling so ctx can end the wait.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("engine cache lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("engine cache lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another build of the same engine: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func writeAtomic(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// safe makes a name usable in a file name.
func safe(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			out[i] = '_'
		}
	}
	return string(out)
}
