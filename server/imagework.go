package server

import (
	"context"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/tasks"
)

// preFlags are the request's disable_preproc_* switches.
type preFlags struct {
	DisableAutoOrient *bool `json:"disable_preproc_auto_orient"`
	DisableStaticCrop *bool `json:"disable_preproc_static_crop"`
	DisableGrayscale  *bool `json:"disable_preproc_grayscale"`
	DisableContrast   *bool `json:"disable_preproc_contrast"`
}

func isTrue(b *bool) bool { return b != nil && *b }

// imageReq is what every image of one request shares.
type imageReq struct {
	model       *pipeline.Model
	input       tasks.Input
	inferenceID string
	start       time.Time
	// vis asks for a drawing of the predictions (nil: none).
	vis *visOptions
}

// id is the request's inference_id, or a fresh one per image.
func (r *imageReq) id() string {
	if r.inferenceID != "" {
		return r.inferenceID
	}
	return uuid.NewString()
}

// imageWork is one image on its way through a model: Preprocess decodes it
// straight into its batch slot (tasks.Preprocess); the task's work then
// computes its result and encodes its answer into body, all on pipeline
// workers.
type imageWork struct {
	ir    *imageReq
	src   imageSrc
	frame tasks.Frame
	body  []byte
	jpeg  []byte // the drawing, for the legacy format=image
}

func (w *imageWork) Preprocess(in [][]float32) error {
	f, err := tasks.Preprocess(&w.ir.input, w.src.data, in[0])
	w.frame, w.src = f, imageSrc{} // the encoded bytes are no longer needed
	return err
}

// dims are the original image's, which answers report (static crop or not).
func (w *imageWork) dims() imageDims { return imageDims{w.frame.Width, w.frame.Height} }

// taskReq is a request for one task: the task turns each image's outputs
// into a result with opts, and encode shapes that result (with the drawing,
// base64, when one was asked for) as the route's JSON answer.
type taskReq[O, R any] struct {
	imageReq
	task   tasks.Decoder[O, R]
	opts   O
	encode func(w *imageWork, r R, visualization string) any
}

// newTaskReq is what the images of a request for model m share.
func newTaskReq[O, R any](s *Server, m *pipeline.Model, id string, start time.Time, f preFlags, v visFlags,
	task tasks.Decoder[O, R], opts O, encode func(*imageWork, R, string) any) (*taskReq[O, R], error) {
	vis, err := v.options()
	if err != nil {
		return nil, err
	}
	return &taskReq[O, R]{
		imageReq: imageReq{model: m, inferenceID: id, start: start, vis: vis, input: tasks.Input{
			Spec: m.Spec, MaxPixels: s.opts.MaxImagePixels, DCTScale: s.opts.JPEGDCTScaling, KeepImage: vis != nil,
			Disable: tasks.Disable{
				AutoOrient: isTrue(f.DisableAutoOrient), StaticCrop: isTrue(f.DisableStaticCrop),
				Grayscale: isTrue(f.DisableGrayscale), Contrast: isTrue(f.DisableContrast),
			},
		}},
		task: task, opts: opts, encode: encode,
	}, nil
}

// taskWork is one image of a request for a task. Its Postprocess computes
// the task's result and encodes the answer on the same postprocess
// worker, so neither waits for the handler's goroutine.
type taskWork[O, R any] struct {
	imageWork
	req *taskReq[O, R]
}

func (w *taskWork[O, R]) Postprocess(out [][]float32) error {
	m := w.req.model
	r, err := w.req.task.Postprocess(m.Spec, m.Engine.Outputs(), out, &w.frame, w.req.opts)
	if err != nil {
		return err
	}
	var vis string
	if w.ir.vis != nil {
		drawing, err := tasks.DrawResult(w.req.task, m.Spec, &w.frame, r, w.ir.vis.draw)
		if err != nil {
			return err
		}
		vis = w.visualization(drawing)
	}
	w.body, err = gojson.Marshal(w.req.encode(&w.imageWork, r, vis))
	return err
}

// runTask sends one work per image through the request's model and answers
// with their bodies (or the drawing itself for format=image). The bytes the
// request holds while it waits, its encoded images (the body is released
// once they are read), are admitted to the server's in-flight bound first
// and released once the model has answered.
func runTask[O, R any](s *Server, ctx context.Context, c *fiber.Ctx, req *taskReq[O, R], images []imageSrc, list bool) error {
	var held int64
	works := make([]pipeline.Work, len(images))
	ws := make([]*taskWork[O, R], len(images))
	for i, src := range images {
		ws[i] = &taskWork[O, R]{imageWork: imageWork{ir: &req.imageReq, src: src}, req: req}
		works[i] = ws[i]
		held += src.held()
	}
	if err := s.opts.InflightBytes.Acquire(held); err != nil {
		return err
	}
	errs := req.model.Do(ctx, works)
	s.opts.InflightBytes.Release(held)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if v := req.vis; v != nil && v.image {
		c.Set(fiber.HeaderContentType, "image/jpeg")
		return c.Send(ws[0].jpeg)
	}
	bodies := make([][]byte, len(ws))
	for i, w := range ws {
		bodies[i] = w.body
	}
	return s.sendJSON(c, req.model, bodies, list)
}
