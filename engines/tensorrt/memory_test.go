package tensorrt

import (
	"os"
	"testing"

	"github.com/trtserve/trtserve/model"
)

// Before any build: the file's size on the GPU, and per instance the
// executor's ring of Depth sets of max_batch_size items plus 4 batches of
// inputs for activations; the batch buffers are pinned.
func TestEstimateLoad(t *testing.T) {
	const file = "../../testdata/models/yolov8n-cls-320/1/model.onnx"
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	spec := &model.Spec{File: file, InputWidth: 320, InputHeight: 320, MaxBatchSize: 4, InstanceCount: 3, ONNX: &model.ONNXInfo{
		Inputs:  []model.TensorInfo{{Name: "images", Shape: []int64{-1, 3, 320, 320}}},
		Outputs: []model.TensorInfo{{Name: "output0", Shape: []int64{-1, 1000}}},
	}}
	b := &Backend{opts: Options{Depth: 2}}
	est, err := b.EstimateLoad(spec)
	in, out := int64(3*320*320*4), int64(1000*4)
	want := fi.Size() + 3*(2*4*(in+out)+activationFactor*4*in)
	if err != nil || est.Own.Device != want || est.Own.Host != 0 || !est.PinnedBuffers || est.Depth != 2 {
		t.Fatalf("EstimateLoad = %+v, %v; want %d device bytes, pinned buffers, depth 2", est, err, want)
	}
}
