"""End-to-end YOLO-NAS and RF-DETR (detection and instance segmentation)
through Roboflow's own client (inference-sdk's InferenceHTTPClient) against
the real bin/trtserve, checked against goldens made by inference-core
1.8.3's own classes for those families (YOLONASObjectDetection,
RFDETRObjectDetection, RFDETRInstanceSegmentation;
scripts/fixtures/make_nas_rfdetr_goldens.py) on the same ONNX files and
images.

Each model is served from a Roboflow model-cache folder laid out as
inference-core reads it (weights.onnx, environment.json with RF-DETR's
RESOLUTION, class_names.txt with Roboflow's background class for the
RF-DETR detector, model_type.json). The server's ONNX Runtime and the
goldens' Python wheel are different builds, and numpy's float32 exp in
RF-DETR's sigmoid is a few float32 steps from the exact one, so
confidences may differ by CONF_TOL; the rest is compared exactly: the
same predictions in the same order, classes, boxes (RF-DETR's are not
rounded), polygons point for point. cmd/trtserve/nas_rfdetr_e2e_test.go
checks the same goldens with the requests the SDK sends, from Go.
"""
import os

import conftest
import pytest
from inference_sdk import InferenceConfiguration, InferenceHTTPClient

ROOT = conftest.ROOT
TESTDATA = conftest.TESTDATA
CONF_TOL = 1e-5

GOLDENS = ["nas-stretch", "nas-fitgrey", "rfdetr-stretch", "rfdetr-fitblack", "rfdetr-seg-stretch",
           "rfdetr-seg-fitblack"]


@pytest.fixture(scope="module")
def nas_rfdetr_server(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("nas-rfdetr-cache"))
    for name in GOLDENS:
        g = conftest.golden(name)
        conftest.golden_folder(cache, name, env=g["environment"], class_names=g["class_names"])
    yield from conftest.serve(tmp_path_factory, cache, "--load-models", "none", "--max-image-pixels", "50000000")


def cases():
    return [(name, c) for name in GOLDENS for c in conftest.golden(name)["cases"]]


def configuration(params):
    keys = {"confidence": "confidence_threshold", "iou_threshold": "iou_threshold",
            "class_agnostic_nms": "class_agnostic_nms", "max_detections": "max_detections",
            "mask_decode_mode": "mask_decode_mode", "tradeoff_factor": "tradeoff_factor"}
    assert set(params) <= set(keys), params
    return InferenceConfiguration(**{keys[k]: v for k, v in params.items()})


@pytest.mark.parametrize("name,case", cases(),
                         ids=lambda v: v if isinstance(v, str) else f'{v["image"]}-{sorted(map(str, v["params"].values()))}')
def test_nas_rfdetr_match_roboflow(nas_rfdetr_server, name, case):
    client = InferenceHTTPClient(api_url=nas_rfdetr_server)
    client.configure(configuration(case["params"]))
    result = client.infer(os.path.join(TESTDATA, "images", case["image"]), model_id=f"{name}/1")
    assert result["image"] == case["image_size"]
    got, want = result["predictions"], case["predictions"]
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert (g["x"], g["y"], g["width"], g["height"], g["class"], g["class_id"]) == \
            (w["x"], w["y"], w["width"], w["height"], w["class"], w["class_id"]), (g, w)
        assert abs(g["confidence"] - w["confidence"]) <= CONF_TOL, (g, w)
        if "points" in w:
            assert [(p["x"], p["y"]) for p in g["points"]] == [(p["x"], p["y"]) for p in w["points"]]
