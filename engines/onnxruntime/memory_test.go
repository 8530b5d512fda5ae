package onnxruntime

import (
	"os"
	"testing"

	"github.com/trtserve/trtserve/model"
)

// The estimate reads the file's size and the input, nothing else: the
// weights once, and per instance a copy's worth plus 4 batches of inputs.
func TestEstimateLoad(t *testing.T) {
	const file = "../../testdata/models/yolov8n-320/1/model.onnx"
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	spec := &model.Spec{File: file, InputWidth: 320, InputHeight: 320, MaxBatchSize: 8, InstanceCount: 2, ONNX: &model.ONNXInfo{
		Inputs: []model.TensorInfo{{Name: "images", Shape: []int64{-1, 3, -1, -1}}},
	}}
	est, err := (&Backend{}).EstimateLoad(spec)
	want := fi.Size() + 2*(fi.Size()+activationFactor*8*3*320*320*4)
	if err != nil || est.Own.Host != want || est.Own.Pinned != 0 || est.Own.Device != 0 || est.PinnedBuffers {
		t.Fatalf("EstimateLoad = %+v, %v; want %d host bytes", est, err, want)
	}
	if _, err := (&Backend{}).EstimateLoad(&model.Spec{File: "/nonexistent.onnx"}); err == nil {
		t.Fatal("a missing file estimated")
	}
}
