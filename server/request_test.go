package server

import (
	"testing"

	gojson "github.com/goccy/go-json"
)

// The disable_preproc_* switches live in an embedded struct: make sure
// the JSON decoder fills them for every request type.
func TestRequestsDecodePreprocessingSwitches(t *testing.T) {
	body := []byte(`{"model_id":"m/1","disable_preproc_auto_orient":true,"disable_preproc_static_crop":true,
		"disable_preproc_grayscale":false,"disable_preproc_contrast":true,"keypoint_confidence":0.5,"mask_decode_mode":"fast"}`)
	var od odRequest
	var cls clsRequest
	var kp kpRequest
	var seg segRequest
	for _, v := range []any{&od, &cls, &kp, &seg} {
		if err := gojson.Unmarshal(body, v); err != nil {
			t.Fatal(err)
		}
	}
	for name, f := range map[string]preFlags{"od": od.preFlags, "cls": cls.preFlags, "kp": kp.preFlags, "seg": seg.preFlags} {
		if !isTrue(f.DisableAutoOrient) || !isTrue(f.DisableStaticCrop) || f.DisableGrayscale == nil || *f.DisableGrayscale || !isTrue(f.DisableContrast) {
			t.Errorf("%s: %+v", name, f)
		}
	}
	if kp.KeypointConfidence == nil || *kp.KeypointConfidence != 0.5 || kp.ModelID != "m/1" {
		t.Errorf("keypoints request %+v", kp)
	}
	if seg.MaskDecodeMode == nil || *seg.MaskDecodeMode != "fast" || seg.ModelID != "m/1" {
		t.Errorf("segmentation request %+v", seg)
	}
}
