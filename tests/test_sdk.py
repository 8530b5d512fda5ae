"""End-to-end: Roboflow's own client (inference-sdk's InferenceHTTPClient)
against the real bin/trtserve, checked against goldens made by Roboflow's
own pipeline (inference-core: OpenCV decode and resize, ONNX Runtime,
its NMS and box rescaling) on the same ONNX file and images.

The model is served from a Roboflow model-cache folder with Roboflow's
default "Stretch to" preprocessing, where trtserve's tensors equal
OpenCV's (vision/golden_test.go measures 0.000 grey levels). ONNX Runtime
versions differ (the goldens' Python wheel vs the server's library), so the
comparison allows for float noise, and only for that:

* every golden detection clearly above the threshold (confidence >= thr +
  MARGIN) must be found, same class, box corners within BOX_TOL pixels,
  confidence within CONF_TOL;
* every trtserve detection clearly above the threshold must be in the
  goldens the same way.

The exact postprocessing (same numbers in, same detections out) is checked
bit-for-bit in vision/golden_test.go.
"""
import json
import os

import conftest
import pytest
from inference_sdk import InferenceConfiguration, InferenceHTTPClient

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TESTDATA = os.path.join(ROOT, "testdata")
MARGIN = 0.02
CONF_TOL = 1e-3
BOX_TOL = 1.0  # rounded original-image pixels


def corners(p):
    return (p["x"] - p["width"] / 2, p["y"] - p["height"] / 2, p["x"] + p["width"] / 2, p["y"] + p["height"] / 2)


def same(a, b, scale):
    return (a["class_id"] == b["class_id"] and abs(a["confidence"] - b["confidence"]) <= CONF_TOL
            and all(abs(x - y) <= BOX_TOL * scale for x, y in zip(corners(a), corners(b))))


def check(got, want, thr, scale):
    for w in want:
        if w["confidence"] >= thr + MARGIN:
            assert any(same(g, w, scale) for g in got), f"golden detection missing: {w}\ngot: {got}"
    for g in got:
        if g["confidence"] >= thr + MARGIN:
            assert any(same(g, w, scale) for w in want), f"unexpected detection: {g}\ngolden: {want}"


def cases(golden_name):
    """The JPEG cases of a golden file (the SDK sends files it can read as JPEG)."""
    golden = conftest.golden(golden_name)
    return [c for c in golden["cases"] if c["image"].endswith(".jpg")]


@pytest.mark.parametrize("model_id,golden_name,case",
                         [("coco-dets/3", "det-stretch", c) for c in cases("det-stretch")]
                         # YOLOv5 from a Roboflow folder (yolov5s_weights.onnx, model_type yolov5v6n)
                         + [("coco-v5/3", "det-v5-stretch", c) for c in cases("det-v5-stretch")]
                         # and the pretrained demo model: real people, buses and cats
                         + [("coco-yolov5s/7", "det-v5s-coco-stretch", c) for c in cases("det-v5s-coco-stretch")],
                         ids=lambda v: v if isinstance(v, str) else v["image"] + "-" + str(v["params"]["confidence"]))
def test_object_detection_matches_roboflow(server, model_id, golden_name, case):
    client = InferenceHTTPClient(api_url=server)
    p = case["params"]
    client.configure(InferenceConfiguration(
        confidence_threshold=p["confidence"], iou_threshold=p["iou_threshold"],
        class_agnostic_nms=p["class_agnostic_nms"], max_detections=p["max_detections"]))
    result = client.infer(os.path.join(TESTDATA, "images", case["image"]), model_id=model_id)
    assert result["image"] == case["image_size"]
    check(result["predictions"], case["predictions"], p["confidence"], 1.0)
    for pred in result["predictions"]:
        assert set(pred) >= {"x", "y", "width", "height", "confidence", "class", "class_id", "detection_id"}


def test_zero_config_yolov5_export(server):
    # ultralytics/yolov5's export says nothing of its task; its output shape
    # [batch, anchors, 5 + classes] does, and its names metadata names the
    # classes. (A bare export is letterboxed with Roboflow's int() sizing,
    # where Ultralytics' own LetterBox rounds, so its exact goldens are the
    # Roboflow-folder ones above and in cmd/trtserve's Fit-mode test.)
    client = InferenceHTTPClient(api_url=server)
    client.configure(InferenceConfiguration(confidence_threshold=0.4))
    result = client.infer(os.path.join(TESTDATA, "images", "bus.jpg"), model_id="yolov5n-320/1")
    names = json.load(open(os.path.join(TESTDATA, "goldens", "class_names.json")))
    assert result["image"] == {"width": 810, "height": 1080} and result["predictions"]
    for p in result["predictions"]:
        assert p["confidence"] >= 0.4 and p["class"] == names[p["class_id"]]


def ultralytics_cases():
    """nms-ultralytics.json's cases on bus.jpg's raw outputs under Roboflow's
    Stretch preprocessing, with the folder serving that model."""
    g = conftest.golden("nms-ultralytics")
    folders = {"det-stretch-bus.bin.gz": "coco-ultra/1", "det-v5-stretch-bus.bin.gz": "coco-v5-ultra/1"}
    return [(folders[c["raw_output"]], c) for c in g["cases"] if c["raw_output"] in folders]


@pytest.mark.parametrize("model_id,case", ultralytics_cases(),
                         ids=lambda v: v if isinstance(v, str) else "-".join(str(x) for x in v["params"].values()))
def test_ultralytics_nms_through_sdk(server, model_id, case):
    # config.yaml's nms: ultralytics keeps what Ultralytics' own NMS keeps
    # (its goldens are in model-input pixels); boxes are then answered in
    # Roboflow's format: Stretch undone, clipped, rounded half to even.
    client = InferenceHTTPClient(api_url=server)
    p = case["params"]
    client.configure(InferenceConfiguration(
        confidence_threshold=p["confidence"], iou_threshold=p["iou_threshold"], class_agnostic_nms=p["class_agnostic_nms"],
        max_detections=p["max_detections"], max_candidates=p["max_candidates"]))
    result = client.infer(os.path.join(TESTDATA, "images", "bus.jpg"), model_id=model_id)
    w, h = result["image"]["width"], result["image"]["height"]
    assert (w, h) == (810, 1080)
    names = json.load(open(os.path.join(TESTDATA, "goldens", "class_names.json")))
    want = []
    for d in case["detections"]:
        x1, x2 = (round(min(max(v * (w / 320), 0), w)) for v in (d["x1"], d["x2"]))  # as trtserve: x * (ow / W)
        y1, y2 = (round(min(max(v * (h / 320), 0), h)) for v in (d["y1"], d["y2"]))
        want.append({"x": (x1 + x2) / 2, "y": (y1 + y2) / 2, "width": x2 - x1, "height": y2 - y1,
                     "confidence": d["confidence"], "class_id": d["class_id"], "class": names[d["class_id"]]})
    check(result["predictions"], want, p["confidence"], 1.0)
    assert [g["class"] for g in result["predictions"]][:5] == [x["class"] for x in want][:5]


def test_registry_and_add_through_sdk(server):
    client = InferenceHTTPClient(api_url=server)
    client.unload_model("coco-dets/3") if "coco-dets/3" in [m.model_id for m in client.list_loaded_models().models] else None
    client.load_model("coco-dets/3")
    ids = [m.model_id for m in client.list_loaded_models().models]
    assert "coco-dets/3" in ids and "yolov8n-320/1" in ids
    desc = [m for m in client.list_loaded_models().models if m.model_id == "coco-dets/3"][0]
    assert desc.task_type == "object-detection" and desc.input_width == 320


def test_batch_of_images_answers_a_list(server):
    client = InferenceHTTPClient(api_url=server)
    imgs = [os.path.join(TESTDATA, "images", n) for n in ("bus.jpg", "astronaut.jpg")]
    result = client.infer(imgs, model_id="yolov8n-320/1")
    assert isinstance(result, list) and len(result) == 2
    assert result[0]["image"] == {"width": 810, "height": 1080}
    assert result[1]["image"] == {"width": 512, "height": 512}


def test_legacy_route_through_sdk_v0(server):
    # The v0 (legacy route) client insists on an API key; trtserve ignores it.
    client = InferenceHTTPClient(api_url=server, api_key="unused").select_api_v0()
    result = client.infer(os.path.join(TESTDATA, "images", "bus.jpg"), model_id="coco-dets/3")
    golden = conftest.golden("det-stretch")
    want = [c for c in golden["cases"] if c["image"] == "bus.jpg" and c["params"]["confidence"] == 0.4][0]
    check(result["predictions"], want["predictions"], 0.4, 1.0)


CLS_MARGIN = 0.0003  # scores of this random 1000-class model sit 0.001 apart at most
CLS_TOL = 1e-4


@pytest.mark.parametrize("case", cases("cls-single"), ids=lambda c: f'{c["image"]}-{c["confidence"]}')
def test_classification_matches_roboflow(server, case):
    client = InferenceHTTPClient(api_url=server)
    client.configure(InferenceConfiguration(confidence_threshold=case["confidence"]))
    got = client.infer(os.path.join(TESTDATA, "images", case["image"]), model_id="imagenet-cls/2")
    want = case["response"]
    assert got["image"] == want["image"]
    thr = case["confidence"]
    for w in want["predictions"]:
        if w["confidence"] >= thr + CLS_MARGIN:
            assert any(g["class_id"] == w["class_id"] and abs(g["confidence"] - w["confidence"]) <= CLS_TOL
                       for g in got["predictions"]), f"missing {w}: {got['predictions']}"
    for g in got["predictions"]:
        if g["confidence"] >= thr + CLS_MARGIN:
            assert any(g["class_id"] == w["class_id"] for w in want["predictions"]), f"unexpected {g}"
    if want["predictions"] and want["confidence"] >= thr + CLS_MARGIN:
        assert got["top"] == want["top"] and abs(got["confidence"] - want["confidence"]) <= CLS_TOL
    if not want["predictions"]:
        assert got["predictions"] == [] and got["top"] == "" and got["confidence"] == 0.0


@pytest.mark.parametrize("case", cases("cls-multi")[:6], ids=lambda c: f'{c["image"]}-{c["confidence"]}')
def test_multilabel_classification_matches_roboflow(server, case):
    client = InferenceHTTPClient(api_url=server)
    client.configure(InferenceConfiguration(confidence_threshold=case["confidence"]))
    got = client.infer(os.path.join(TESTDATA, "images", case["image"]), model_id="imagenet-multi/1")
    want = case["response"]
    assert got["image"] == want["image"]  # width and height swapped, as inference-core does
    assert set(got["predictions"]) == set(want["predictions"])
    thr = case["confidence"]
    for name, w in want["predictions"].items():
        g = got["predictions"][name]
        assert g["class_id"] == w["class_id"] and abs(g["confidence"] - w["confidence"]) <= CLS_TOL
        if w["confidence"] > thr + CLS_MARGIN:
            assert name in got["predicted_classes"]
        if w["confidence"] < thr - CLS_MARGIN:
            assert name not in got["predicted_classes"]


@pytest.mark.parametrize("case", cases("kp-stretch"),
                         ids=lambda c: f'{c["image"]}-{c["params"]["confidence"]}-{c["params"]["keypoint_confidence"]}')
def test_keypoints_match_roboflow(server, case):
    client = InferenceHTTPClient(api_url=server)
    p = case["params"]
    client.configure(InferenceConfiguration(confidence_threshold=p["confidence"], iou_threshold=p["iou_threshold"],
                                            keypoint_confidence_threshold=p["keypoint_confidence"]))
    result = client.infer(os.path.join(TESTDATA, "images", case["image"]), model_id="coco-pose/1")
    assert result["image"] == case["image_size"]
    check(result["predictions"], case["predictions"], p["confidence"], 1.0)
    for g in result["predictions"]:
        twins = [w for w in case["predictions"] if same(g, w, 1.0)]
        if not twins:
            continue  # a detection at the threshold, allowed by check()
        want = {k["class"]: k for k in twins[0]["keypoints"]}
        got = {k["class"]: k for k in g["keypoints"]}
        margin = 0.02  # keypoints near keypoint_confidence may flip with ONNX Runtime noise
        for name, w in want.items():
            if w["confidence"] >= p["keypoint_confidence"] + margin:
                k = got[name]
                assert abs(k["x"] - w["x"]) <= BOX_TOL and abs(k["y"] - w["y"]) <= BOX_TOL
                assert abs(k["confidence"] - w["confidence"]) <= CONF_TOL and k["class_id"] == w["class_id"]
        for name, k in got.items():
            assert k["confidence"] >= p["keypoint_confidence"]
            if k["confidence"] >= p["keypoint_confidence"] + margin:
                assert name in want


def poly_iou(a, b, shape):
    """IoU of two polygons rasterized on an image of the given (h, w)."""
    import cv2
    import numpy as np
    ma, mb = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    for m, poly in ((ma, a), (mb, b)):
        if len(poly) >= 3:
            cv2.fillPoly(m, [np.array([[p["x"], p["y"]] for p in poly], np.int32)], 1)
    union = int((ma | mb).sum())
    return 1.0 if union == 0 else int((ma & mb).sum()) / union


@pytest.mark.parametrize("case", cases("seg-stretch"),
                         ids=lambda c: f'{c["image"]}-{c["params"]["mask_decode_mode"]}')
def test_segmentation_matches_roboflow(server, case):
    client = InferenceHTTPClient(api_url=server)
    p = case["params"]
    client.configure(InferenceConfiguration(confidence_threshold=p["confidence"], iou_threshold=p["iou_threshold"],
                                            mask_decode_mode=p["mask_decode_mode"], tradeoff_factor=p["tradeoff_factor"]))
    result = client.infer(os.path.join(TESTDATA, "images", case["image"]), model_id="coco-seg/1")
    assert result["image"] == case["image_size"]
    check(result["predictions"], case["predictions"], p["confidence"], 1.0)
    shape = (case["image_size"]["height"], case["image_size"]["width"])
    ious = []
    for g in result["predictions"]:
        twins = [w for w in case["predictions"] if same(g, w, 1.0)]
        if twins and len(twins[0]["points"]) >= 3:
            ious.append(poly_iou(g["points"], twins[0]["points"], shape))
    # Masks threshold a sigmoid at 0.5; this random-weight model has
    # plateaus of logits at 0, so ONNX Runtime's float noise between the
    # goldens' wheel and the server's library can flip pixels on them
    # (measured: every polygon IoU >= 0.99 on these images).
    if ious:
        assert sorted(ious)[len(ious) // 2] >= 0.99, ious
        assert min(ious) >= 0.95, ious


@pytest.mark.parametrize("name,case", [(n, c) for n in ("cropgray", "stretchcontrast", "histeq", "clahe")
                                       for c in cases("det-" + n)],
                         ids=lambda v: v if isinstance(v, str) else v["image"] + "-" + str(v["params"]["confidence"]))
def test_environment_preprocessing_matches_roboflow(server, name, case):
    # environment.json steps before a Stretch resize: static crop 10..90% x
    # 20..95% + grayscale; contrast stretching; histogram equalization;
    # adaptive equalization (CLAHE).
    client = InferenceHTTPClient(api_url=server)
    p = case["params"]
    client.configure(InferenceConfiguration(
        confidence_threshold=p["confidence"], iou_threshold=p["iou_threshold"],
        class_agnostic_nms=p["class_agnostic_nms"], max_detections=p["max_detections"]))
    result = client.infer(os.path.join(TESTDATA, "images", case["image"]), model_id=f"coco-{name}/1")
    assert result["image"] == case["image_size"]
    check(result["predictions"], case["predictions"], p["confidence"], 1.0)
