// Package repository owns the model repository: finding model versions in
// Triton-style folders (models/<name>/<version>/model.onnx), Roboflow
// model-cache folders and engine-only folders (scan.go, engineonly.go), and
// resolving each into a model.Spec from what the folder says about itself —
// config.yaml (configyaml.go), Ultralytics' ONNX metadata (ultralytics.go,
// onnxmeta.go, pylex.go) and Roboflow's environment.json / model_type.json
// (roboflow.go) — in that order of precedence (resolve.go). Strings from
// those files become model's typed names here, at the boundary, with the
// error that says which file and key is wrong.
//
// config.yaml's schema is this package's: every key is named in FileConfig,
// so a misspelt key is an error. Keys that belong to one backend
// (simulated:, precision:, tf32:) are named but left undecoded; the spec
// carries the document (Spec.Config) and the backend judges them on Load.
// Every setting that sizes an allocation or a wait has a bound
// (bounds.go, one table; the limits are package config's), checked on the
// document as written and on the resolved Spec, so an out-of-bounds value
// from config.yaml, a load's override, a flag or the model file fails the
// resolve (ErrOutOfBounds, naming the key and the bound) before anything
// is loaded.
//
// It reads files and nothing else: it never opens a runtime, allocates
// tensor memory or knows about HTTP, and imports no backend; a resolved
// Spec is handed to a backend (engines/) by the pipeline.
package repository
