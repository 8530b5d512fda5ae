package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

// fallBack loads spec on its backend's fallback after the backend failed
// to load it with loadErr. Only a backend that cannot run this model here
// (engines.ErrBackendCannotRun: TensorRT cannot parse or build its ONNX,
// or cannot start CUDA) falls back, and only a model with an ONNX file: an
// engine-only folder has nothing another backend could run. The model then
// serves from the same ONNX, with a warning in the log and the reason in
// spec.FallbackReason (shown by its status), rather than not at all.
func (mg *Manager) fallBack(ctx context.Context, spec *model.Spec, loadErr error) (engines.Engine, error) {
	to, ok := mg.Backends.Alternative(spec.Backend)
	if !ok || spec.Source == model.SourceEngine || spec.ONNX == nil || !errors.Is(loadErr, engines.ErrBackendCannotRun) {
		return nil, loadErr
	}
	backend, err := mg.Backends.Get(to)
	if err != nil {
		return nil, errors.Join(loadErr, err)
	}
	// The backend's error starts "<id>: cannot run this model here: ";
	// the status names the model already.
	why := strings.TrimPrefix(loadErr.Error(), spec.ID()+": ")
	mg.opts.Log.Warn("the model cannot run on its backend here: falling back", "model", spec.ID(), "backend", spec.Backend, "instead", to, "why", why)
	asked := spec.Backend
	spec.FallbackReason = fmt.Sprintf("serving on %s: %s %s", to, asked, why)
	spec.Backend = to
	eng, err := backend.Load(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("%w (tried on %s because %s could not run it: %v)", err, to, asked, loadErr)
	}
	return eng, nil
}
