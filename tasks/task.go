package tasks

import (
	"fmt"
	"sort"
	"strings"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// Task is what every task offers before a request arrives: a check that a
// loaded model's outputs have the shape the task reads. It runs once at
// load, so a model of the wrong layout fails its load with the reason
// instead of loading and failing every request.
type Task interface {
	Validate(spec *model.Spec, outputs []model.TensorInfo) error
}

// Decoder is a task's compute half: Postprocess turns one image's slice of
// each output into a result R, given the request's options O, and Overlays
// says what to draw for that result. Results are plain values; the
// protocol adapter that asked for them encodes them.
type Decoder[O, R any] interface {
	Task
	Postprocess(spec *model.Spec, outputs []model.TensorInfo, out [][]float32, f *Frame, o O) (R, error)
	Overlays(spec *model.Spec, r R) []vision.Overlay
}

// registry maps each model.Task to its implementation; each task's file
// adds itself (register), so a new task is one file here.
var registry = map[model.Task]Task{}

func register(t model.Task, impl Task) {
	if _, dup := registry[t]; dup {
		panic("tasks: " + string(t) + " registered twice")
	}
	registry[t] = impl
}

// For returns the implementation of task t.
func For(t model.Task) (Task, error) {
	if impl, ok := registry[t]; ok {
		return impl, nil
	}
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, string(name))
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%w: no task %q (trtserve serves %s)", model.ErrBadModel, t, strings.Join(names, ", "))
}

// Validate checks that a model's outputs fit its task. The pipeline calls
// it after a backend loads the model (pipeline.ManagerOptions.Validate);
// the error wraps model.ErrBadModel and says what was expected and what
// the model has.
func Validate(spec *model.Spec, outputs []model.TensorInfo) error {
	impl, err := For(spec.Task)
	if err != nil {
		return err
	}
	return impl.Validate(spec, outputs)
}

// badOutputs is the error of a model whose outputs do not fit its task.
func badOutputs(spec *model.Spec, outputs []model.TensorInfo, format string, args ...any) error {
	have := make([]string, len(outputs))
	for i, o := range outputs {
		have[i] = o.String()
	}
	if len(have) == 0 {
		have = []string{"none"}
	}
	return fmt.Errorf("%w: %s model: %s (its outputs: %s)", model.ErrBadModel, spec.Task, fmt.Sprintf(format, args...), strings.Join(have, ", "))
}
