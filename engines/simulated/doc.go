// Package simulated is an accelerator that is not there: a Backend whose
// engines take the wall time a GPU engine would (base + per-image cost per
// batch) without using the CPU for it, read every input byte the way a
// host-to-device copy would, and write deterministic outputs of the real
// model's output shapes so postprocessing runs for real.
//
// It exists because the pipeline's purpose — keeping an accelerator busy
// while the CPU decodes and postprocesses — cannot be shown with ONNX
// Runtime on a CPU, where batching buys nothing and inference competes with
// decoding for the same cores. Its outputs are not predictions: detections
// are synthetic boxes. Everything that reports on it says "simulated".
//
// It owns config.yaml's simulated: section (Timing: base_us, per_item_us,
// and the fault injection fail_every, panic_every for the hardening
// tests), decoded on Load by TimingOf; simgpu reuses it. It must not touch
// a GPU, HTTP or the repository's files.
//
// It must not be mistaken for a model: the server marks responses from it
// with the Trtserve-Backend: simulated header, and the bench labels its
// figures.
package simulated
