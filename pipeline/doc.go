// Package pipeline owns per-model scheduling: which models are loaded, the
// engine instances and batch buffers each runs on, and how one image's Work
// travels through preprocess, inference and postprocess.
//
// Files:
//
//	manager.go   the Manager: single-flight loads, warm-up before a model is
//	             ready, Triton's READY/LOADING/UNAVAILABLE states with
//	             reasons, reloads that swap versions without dropping
//	             requests, repository polling (Sync), least-recently-used
//	             unloading, FailBackend (a backend whose GPU is lost leaves
//	             service for good)
//	estimate.go  what a load will hold (batch buffers, the backend's own
//	             through engines.MemoryEstimator), refused before anything
//	             is allocated beyond --max-model-memory or the memory free
//	             (ErrInsufficientMemory)
//	fallback.go  a model its backend cannot run here (engines.ErrBackendCannotRun,
//	             e.g. TensorRT failing to build its ONNX) loads on the
//	             registry's fallback backend, the reason kept in its status
//	options.go   Mode and Options: one model's scheduling settings; zero
//	             fields take their defaults from package config
//	model.go     Model: a loaded model, its instances, buffer sets and
//	             warm-up (at every size an engines.WarmupSizer asks for); Do
//	             and Close
//	batcher.go   decideBatch, the dynamic-batching rule as a pure function
//	scheduler.go the parallel mode's goroutines: admission, the batcher that
//	             carries out decideBatch, instance workers, postprocess
//	serial.go    the serial baseline
//	item.go      one admitted image and the states it moves through
//	pool.go      the decode and postprocess worker pools, shared by all models
//	work.go      Work, the errors and StageError the server maps to statuses
//	budget.go    ErrTooLarge / TooLargeError (a request that can never be
//	             admitted: 413, not 429) and ByteBudget, the server-wide
//	             bound on the bytes admitted requests hold
//	             (--max-inflight-bytes)
//	stats.go     per-model counters in Triton's terms
//
// Parallel mode (the default):
//
//	Do ─► admission queue (bounded: full → ErrBusy at once; a request of
//	      more images than the queue holds → TooLargeError at once)
//	        ─► batcher (one goroutine per model): takes a free buffer set,
//	           gives each image decideBatch lets in the next slot and hands
//	           its decode to the shared decode pool, which writes straight
//	           into that slot; ships the set as decideBatch says
//	        ─► instance (N per model): waits for the slots' decodes, runs
//	           the engine on the filled prefix (padded for fixed-batch
//	           engines; failed or cancelled slots run as holes whose output
//	           is dropped)
//	        ─► shared postprocess pool: each image decodes its own output
//	           slice and encodes its response; the set returns to the free
//	           list when the last image is done.
//
// The batching rule (decideBatch), Triton's dynamic batcher with
// max_batch_size, preferred_batch_size and max_queue_delay_microseconds:
//
//   - A batch that reaches the largest preferred size (max_batch_size when
//     none is set) is complete and queues for the next instance to finish.
//   - When the images at hand reach a preferred size, the largest one they
//     reach leaves as soon as an instance is idle, without waiting out the
//     delay; images beyond it stay queued for the next batch. This is
//     Triton's rule, so a model configuration tuned for Triton batches the
//     same way here.
//   - Otherwise the batch takes every image at hand and waits for more until
//     its oldest image has waited the delay (0: not at all); then it leaves,
//     as it is, when an instance is idle.
//
// A partial batch only ever goes to an idle instance, so a busy model forms
// larger batches rather than queueing small ones. Two differences from
// Triton follow from decoding into the batch slot at once: an image given
// a slot stays in that batch, and a batch never grows past the largest
// preferred size, even once the delay has passed.
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
// that owns the slot.
//
// The package must not know about HTTP or request formats (server/ builds
// Work) and must not touch native runtimes directly (engines/ does). It
// imports engines (the backend contract), model, repository and config.
package pipeline
