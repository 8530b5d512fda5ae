package model

// ONNXInfo is what trtserve reads from an ONNX file without a runtime: its
// IO tensors, opsets and metadata_props (where Ultralytics stores names,
// imgsz, task, stride).
type ONNXInfo struct {
	IRVersion int64
	Producer  string
	Opsets    map[string]int64
	Metadata  map[string]string
	Inputs    []TensorInfo
	Outputs   []TensorInfo
	// DimParams names the symbolic dimensions by tensor, e.g. "batch".
	DimParams map[string][]string
}
