// Package pipeline owns per-model scheduling: which models are loaded (the
// Manager, with single-flight loads, warm-up before a model is ready,
// Triton's READY/LOADING/UNAVAILABLE states with reasons, reloads that swap
// versions without dropping requests, repository polling,
// least-recently-used unloading, and the fallback of a model its backend
// cannot run here — engines.ErrBackendCannotRun, e.g. TensorRT failing to
// build its ONNX — to the registry's fallback backend, the reason kept in
// its status; warm-up at every size an engines.WarmupSizer asks for;
// FailBackend, which takes a backend whose GPU is lost out of service for
// good),
// their engine instances and the batch buffers those instances run on, and
// how one image's Work travels through preprocess, inference and
// postprocess.
//
// Parallel mode (the default, DESIGN.md §3):
//
//	Do ─► admission queue (bounded: full → ErrBusy at once)
//	        ─► batcher (one goroutine per model): takes a free buffer set,
//	           gives each admitted image the next slot and hands its decode
//	           to the shared decode pool, which writes straight into that
//	           slot; ships the set when it holds max_batch (or the largest
//	           preferred size), or — once max_queue_delay has passed since
//	           its oldest image, or at once for a preferred size with
//	           nothing queued — as soon as an instance is idle
//	        ─► instance (N per model): waits for the slots' decodes, runs
//	           the engine on the filled prefix (padded for fixed-batch
//	           engines; failed or cancelled slots run as holes whose output
//	           is dropped)
//	        ─► shared postprocess pool: each image decodes its own output
//	           slice and encodes its response; the set returns to the free
//	           list when the last image is done.
//
// Each instance has RingDepth buffer sets (default 3: one filling, one
// running, one in postprocess), shared through one free list. A request
// whose context ends is dropped wherever it waits; a stage already running
// its Work is waited for, so no Work method runs after Do returns and no
// request ever sees another's output.
//
// Serial mode is the baseline: decode → infer at batch 1 → postprocess on
// the requester's goroutine, holding an instance throughout.
//
// An instance that implements engines.Submitter (the GPU backends) keeps
// several batches in flight — batch b+1's upload overlaps batch b's
// compute — and gets Depth+2 buffer sets so the batcher can fill the next
// one meanwhile; its completion callback hands the batch to postprocess.
//
// Buffers come from engines.Allocator (page-aligned memory, or the
// engine's own allocator when it is an engines.BufferProvider: CUDA pinned
// memory for the TensorRT backend) and are only ever touched by the stage
// that owns the slot. The package must not know about HTTP or request formats
// (server/ builds Work) and must not touch native runtimes directly
// (engines/ does).
package pipeline
