// Package pipeline owns per-model scheduling: which models are loaded (the
// Manager), their engine instances and the batch buffers those instances
// run on, and how one image's Work travels through preprocess, inference
// and postprocess.
//
// This first version runs every image serially on the caller's goroutine
// (decode → infer at batch 1 → postprocess), borrowing an instance from
// the model's pool: it is the baseline the parallel pipeline (dynamic
// batcher, decode and postprocess pools) is measured against.
//
// It must not know about HTTP or request formats (server/ builds Work) and
// must not touch native runtimes directly (engines/ does).
package pipeline
