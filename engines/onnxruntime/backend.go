package onnxruntime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

// Name is the backend name models use in config.yaml.
const Name = model.BackendONNXRuntime

// InstallHint is the command that installs the library this backend needs.
const InstallHint = "./scripts/install-onnxruntime.sh"

// ErrLibraryMissing means libonnxruntime.so was not found.
var ErrLibraryMissing = errors.New("onnxruntime library not found")

// Options configure the backend.
type Options struct {
	// LibraryPath is libonnxruntime.so; empty searches the usual places.
	LibraryPath string
	// IntraOpThreads per session; 0 lets ONNX Runtime pick (one per core).
	IntraOpThreads int
}

// FindLibrary resolves the ONNX Runtime shared library: the explicit path,
// else third_party/onnxruntime/lib next to the working directory or the
// executable (where scripts/install-onnxruntime.sh puts it), else the
// system's libonnxruntime.so.
func FindLibrary(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("%w: %s: %v (install it with %s)", ErrLibraryMissing, explicit, err, InstallHint)
		}
		return explicit, nil
	}
	var candidates []string
	rel := filepath.Join("third_party", "onnxruntime", "lib", "libonnxruntime.so")
	if wd, err := os.Getwd(); err == nil {
		candidates = append(candidates, filepath.Join(wd, rel))
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		candidates = append(candidates, filepath.Join(dir, rel), filepath.Join(dir, "..", rel))
	}
	candidates = append(candidates, "/usr/local/lib/libonnxruntime.so", "/usr/lib/libonnxruntime.so",
		"/usr/lib/x86_64-linux-gnu/libonnxruntime.so", "/usr/lib/aarch64-linux-gnu/libonnxruntime.so")
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w (looked in ./%s and system library folders): install it with %s, or pass --onnxruntime-lib", ErrLibraryMissing, rel, InstallHint)
}

var (
	envMu   sync.Mutex // guards envRefs and the ORT environment's lifetime
	envRefs int
)

// Backend runs models on ONNX Runtime's CPU execution provider.
type Backend struct {
	opts   Options
	closed bool
	mu     sync.Mutex // guards closed
}

// New opens ONNX Runtime. Several backends may exist; the environment is
// refcounted and destroyed with the last one.
func New(opts Options) (*Backend, error) {
	lib, err := FindLibrary(opts.LibraryPath)
	if err != nil {
		return nil, err
	}
	envMu.Lock()
	defer envMu.Unlock()
	if envRefs == 0 {
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			return nil, fmt.Errorf("start onnxruntime from %s: %w", lib, err)
		}
	}
	envRefs++
	return &Backend{opts: opts}, nil
}

// Version is the loaded ONNX Runtime's version string.
func Version() string { return ort.GetVersion() }

// Name implements engines.Backend.
func (b *Backend) Name() string { return Name }

// Close releases this backend's hold on the ORT environment; safe twice.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	envMu.Lock()
	defer envMu.Unlock()
	envRefs--
	if envRefs == 0 {
		return ort.DestroyEnvironment()
	}
	return nil
}

// Load creates a session for the model and resolves every output shape by
// one warm-up run at batch 1 (Ultralytics' dynamic exports leave the anchor
// count symbolic), so later runs write into fixed-size buffers.
func (b *Backend) Load(ctx context.Context, m *model.Spec) (engines.Engine, error) {
	ins, outs, err := ort.GetInputOutputInfo(m.File)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", model.ErrBadModel, m.ID(), err)
	}
	e := &Engine{model: m}
	for _, in := range ins {
		t, err := tensorInfo(in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.ID(), err)
		}
		e.inputs = append(e.inputs, t)
		e.inputNames = append(e.inputNames, in.Name)
	}
	for _, out := range outs {
		t, err := tensorInfo(out)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.ID(), err)
		}
		e.outputs = append(e.outputs, t)
		e.outputNames = append(e.outputNames, out.Name)
	}
	if len(e.inputs) != 1 {
		return nil, fmt.Errorf("%w: %s: image models have one input, this one has %d", model.ErrBadModel, m.ID(), len(e.inputs))
	}
	in := e.inputs[0]
	if len(in.Shape) != 4 {
		return nil, fmt.Errorf("%w: %s: input %s must be NCHW", model.ErrBadModel, m.ID(), in.Name)
	}
	if in.Shape[0] > 0 {
		e.fixedBatch = true
		e.maxBatch = int(in.Shape[0])
	} else {
		e.maxBatch = m.MaxBatchSize
	}
	for i, want := range []int64{int64(m.InputHeight), int64(m.InputWidth)} {
		if got := in.Shape[2+i]; got > 0 && got != want {
			return nil, fmt.Errorf("%w: %s: input is %dx%d but the model config says %dx%d", engines.ErrBadShape, m.ID(), in.Shape[2], in.Shape[3], m.InputHeight, m.InputWidth)
		}
		in.Shape[2+i] = want
	}
	e.inputs[0] = in

	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if b.opts.IntraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(b.opts.IntraOpThreads); err != nil {
			return nil, err
		}
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	e.session, err = ort.NewDynamicAdvancedSession(m.File, e.inputNames, e.outputNames, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", model.ErrBadModel, m.ID(), err)
	}
	if err := e.resolveOutputs(); err != nil {
		e.Close()
		return nil, fmt.Errorf("%s: warm-up run: %w", m.ID(), err)
	}
	return e, nil
}

func tensorInfo(io ort.InputOutputInfo) (model.TensorInfo, error) {
	if io.OrtValueType != ort.ONNXTypeTensor {
		return model.TensorInfo{}, fmt.Errorf("%w: %s is a %s, only tensors are supported", model.ErrBadModel, io.Name, io.OrtValueType)
	}
	if io.DataType != ort.TensorElementDataTypeFloat {
		return model.TensorInfo{}, fmt.Errorf("%w: %s is %s; the onnxruntime backend feeds float32 tensors only", model.ErrBadModel, io.Name, io.DataType)
	}
	shape := make([]int64, len(io.Dimensions))
	copy(shape, io.Dimensions)
	return model.TensorInfo{Name: io.Name, DataType: model.FP32, Shape: shape}, nil
}

// Engine is one ONNX Runtime session. ORT sessions are safe for concurrent
// Run calls, so instances share it.
type Engine struct {
	model                   *model.Spec
	session                 *ort.DynamicAdvancedSession
	inputs, outputs         []model.TensorInfo
	inputNames, outputNames []string
	maxBatch                int
	fixedBatch              bool
	closeOnce               sync.Once
}

func (e *Engine) resolveOutputs() error {
	batch := int64(1)
	if e.fixedBatch {
		batch = int64(e.maxBatch)
	}
	shape := append([]int64{batch}, e.inputs[0].Shape[1:]...)
	data := make([]float32, ort.Shape(shape).FlattenedSize())
	in, err := ort.NewTensor(ort.Shape(shape), data)
	if err != nil {
		return err
	}
	defer in.Destroy()
	outs := make([]ort.Value, len(e.outputs))
	if err := e.session.Run([]ort.Value{in}, outs); err != nil {
		return err
	}
	for i, v := range outs {
		got := v.GetShape()
		v.Destroy()
		if len(got) == 0 || got[0] != batch {
			return fmt.Errorf("%w: output %s has shape %v; trtserve needs the batch dimension first", engines.ErrBadShape, e.outputs[i].Name, got)
		}
		e.outputs[i].Shape = append([]int64{e.inputs[0].Shape[0]}, got[1:]...)
	}
	return nil
}

// Inputs implements engines.Engine.
func (e *Engine) Inputs() []model.TensorInfo { return e.inputs }

// Outputs implements engines.Engine.
func (e *Engine) Outputs() []model.TensorInfo { return e.outputs }

// MaxBatch implements engines.Engine.
func (e *Engine) MaxBatch() int { return e.maxBatch }

// FixedBatch implements engines.Engine.
func (e *Engine) FixedBatch() bool { return e.fixedBatch }

// NewInstance implements engines.Engine.
func (e *Engine) NewInstance() (engines.Instance, error) { return &instance{e: e}, nil }

// Close destroys the session; safe twice.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() {
		if e.session != nil {
			err = e.session.Destroy()
		}
	})
	return err
}

type instance struct{ e *Engine }

func (i *instance) Close() error { return nil }

// Run wraps the first batch items of each buffer in ORT tensors (no copy)
// and runs the session.
func (i *instance) Run(ctx context.Context, batch int, in, out []*engines.HostBuffer) error {
	e := i.e
	if batch < 1 || batch > e.maxBatch || (e.fixedBatch && batch != e.maxBatch) {
		return fmt.Errorf("%w: batch %d outside 1..%d (fixed=%v)", engines.ErrBadShape, batch, e.maxBatch, e.fixedBatch)
	}
	if len(in) != len(e.inputs) || len(out) != len(e.outputs) {
		return fmt.Errorf("%w: got %d inputs and %d outputs, want %d and %d", engines.ErrBadShape, len(in), len(out), len(e.inputs), len(e.outputs))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	values := make([]ort.Value, 0, len(in)+len(out))
	defer func() {
		for _, v := range values {
			v.Destroy()
		}
	}()
	wrap := func(info model.TensorInfo, buf *engines.HostBuffer) (ort.Value, error) {
		shape := append([]int64{int64(batch)}, info.Shape[1:]...)
		n := int(ort.Shape(shape).FlattenedSize())
		data := buf.Float32s()
		if len(data) < n {
			return nil, fmt.Errorf("%w: buffer for %s holds %d floats, batch %d needs %d", engines.ErrBadShape, info.Name, len(data), batch, n)
		}
		t, err := ort.NewTensor(ort.Shape(shape), data[:n])
		if err != nil {
			return nil, err
		}
		values = append(values, t)
		return t, nil
	}
	inputs := make([]ort.Value, len(in))
	for k := range in {
		v, err := wrap(e.inputs[k], in[k])
		if err != nil {
			return err
		}
		inputs[k] = v
	}
	outputs := make([]ort.Value, len(out))
	for k := range out {
		v, err := wrap(e.outputs[k], out[k])
		if err != nil {
			return err
		}
		outputs[k] = v
	}
	if err := e.session.Run(inputs, outputs); err != nil {
		return fmt.Errorf("onnxruntime: %s: %w", e.model.ID(), err)
	}
	return nil
}
