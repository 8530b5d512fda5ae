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
import json
import os
import subprocess
import time

import conftest
import pytest
import requests
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
    d = os.path.join(tmp, name, "1")
    os.makedirs(d)
    os.symlink(os.path.join(ROOT, g["model"]), os.path.join(d, "weights.onnx"))
    with open(os.path.join(d, "environment.json"), "w") as f:
        json.dump({"PREPROCESSING": json.dumps(g["environment_preprocessing"])}, f)
    with open(os.path.join(d, "class_names.txt"), "w") as f:
        f.write("\n".join(g["class_names"]) + "\n")
    with open(os.path.join(d, "model_type.json"), "w") as f:
        json.dump({"project_task_type": g["task"], "model_type": g["model_type"]}, f)
    if "keypoint_names" in g:
        with open(os.path.join(d, "keypoints_metadata.json"), "w") as f:
            json.dump([{"object_class_id": 0, "keypoints": {str(i): n for i, n in enumerate(g["keypoint_names"])}}], f)


@pytest.fixture(scope="module")
def yolo_server(tmp_path_factory):
    binary = os.environ.get("TRTSERVE_BIN", os.path.join(ROOT, "bin", "trtserve"))
    assert os.path.exists(binary), f"{binary} missing: run `make build`"
    cache = str(tmp_path_factory.mktemp("yfcache"))
    for name in FAMILIES:
        cache_folder(cache, name)
    port = conftest.free_port()
    log = open(os.path.join(str(tmp_path_factory.mktemp("yflog")), "server.log"), "w+")
    proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--model-cache-dir", cache, "--load-models",
                             "none", "--max-image-pixels", "50000000"],
                            env=dict(os.environ, PORT=str(port)), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        try:
            if requests.get(url + "/readiness", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    if proc.poll() is not None:
        log.seek(0)
        pytest.fail("trtserve did not start:\n" + log.read())
    yield url
    proc.terminate()
    assert proc.wait(timeout=30) == 0, "trtserve did not exit 0 on SIGTERM"


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
