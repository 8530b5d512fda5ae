// Package repository owns the model repository: finding model versions in
// Triton-style folders (models/<name>/<version>/model.onnx), Roboflow
// model-cache folders and engine-only folders (scan.go, engineonly.go), and
// resolving each into a model.Spec from what the folder says about itself —
// config.yaml (configyaml.go), Ultralytics' ONNX metadata (ultralytics.go,
// onnxmeta.go, pylex.go) and Roboflow's environment.json / model_type.json
// (roboflow.go) — in that order of precedence (resolve.go).
//
// It reads files and nothing else: it never opens a runtime, allocates
// tensor memory or knows about HTTP; a resolved Spec is handed to a backend
// (engines/) by the pipeline.
package repository
