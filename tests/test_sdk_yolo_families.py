"""End-to-end through Roboflow's own client (inference-sdk's
InferenceHTTPClient): the YOLOv7 (segmentation), YOLOv9, YOLO11 (detection,
segmentation, pose) and YOLOv12 test models, each served from a Roboflow
model-cache folder with the model_type Roboflow gives it, answer as
inference-core 1.8.3's own class for that family does
(testdata/goldens/yf-*.json.gz, scripts/fixtures/make_yolo_family_goldens.py).

The same tolerances as test_sdk.py (ONNX Runtime versions differ between
the goldens' wheel and the server's library); the Go test
TestYOLOFamiliesMatchRoboflow compares the same answers exactly.
"""
import os

import conftest
import pytest
from inference_sdk import InferenceConfiguration, InferenceHTTPClient
from test_sdk import check, poly_iou, same

ROOT = conftest.ROOT
TESTDATA = conftest.TESTDATA
BOX_TOL = 1.0
CONF_TOL = 1e-3

FAMILIES = ["yf-yolov9-det", "yf-yolo11-det", "yf-yolo11-det-fitgrey", "yf-yolo12-det", "yf-yolo11-seg",
            "yf-yolo11-pose", "yf-yolov7-seg"]


def cache_folder(tmp, name):
    g = conftest.golden(name)
    files = {"keypoints_metadata.json": conftest.keypoints_metadata(g["keypoint_names"])} if "keypoint_names" in g else None
    conftest.golden_folder(tmp, name, class_names=g["class_names"], files=files)


@pytest.fixture(scope="module")
def yolo_server(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("yfcache"))
    for name in FAMILIES:
        cache_folder(cache, name)
    yield from conftest.serve(tmp_path_factory, cache, "--load-models", "none", "--max-image-pixels", "50000000")


def family_cases():
    out = []
    for name in FAMILIES:
        for c in conftest.golden(name)["cases"]:
            out.append((name, c))
    return out


@pytest.mark.parametrize("name,case", family_cases(),
                         ids=lambda v: v if isinstance(v, str) else v["image"] + "-" + "-".join(
                             str(x) for x in v["params"].values()))
def test_yolo_family_matches_roboflow(yolo_server, name, case):
    g = conftest.golden(name)
    p = case["params"]
    conf = dict(confidence_threshold=p["confidence"], iou_threshold=p["iou_threshold"])
    if g["task"] == "object-detection":
        conf.update(class_agnostic_nms=p["class_agnostic_nms"], max_detections=p["max_detections"])
    elif g["task"] == "instance-segmentation":
        conf.update(mask_decode_mode=p["mask_decode_mode"], tradeoff_factor=p["tradeoff_factor"])
    else:
        conf.update(keypoint_confidence_threshold=p["keypoint_confidence"])
    client = InferenceHTTPClient(api_url=yolo_server)
    client.configure(InferenceConfiguration(**conf))
    result = client.infer(os.path.join(TESTDATA, "images", case["image"]), model_id=name + "/1")
    assert result["image"] == case["image_size"]
    check(result["predictions"], case["predictions"], p["confidence"], 1.0)
    shape = (case["image_size"]["height"], case["image_size"]["width"])
    for got in result["predictions"]:
        twins = [w for w in case["predictions"] if same(got, w, 1.0)]
        if not twins:
            continue  # a detection at the threshold, allowed by check()
        want = twins[0]
        if "points" in want and len(want["points"]) >= 3:
            assert poly_iou(got["points"], want["points"], shape) >= 0.95
        if "keypoints" in want:
            margin = 0.02
            kw = {k["class"]: k for k in want["keypoints"]}
            kg = {k["class"]: k for k in got["keypoints"]}
            for k, w in kw.items():
                if w["confidence"] >= p["keypoint_confidence"] + margin:
                    assert abs(kg[k]["x"] - w["x"]) <= BOX_TOL and abs(kg[k]["y"] - w["y"]) <= BOX_TOL
                    assert abs(kg[k]["confidence"] - w["confidence"]) <= CONF_TOL
