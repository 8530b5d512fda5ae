"""Start the real bin/trtserve on a loopback port for the end-to-end tests."""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TESTDATA = os.path.join(ROOT, "testdata")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def roboflow_cache(tmp):
    """A Roboflow model-cache folder, laid out as inference-core's cache is,
    around the same ONNX file the det-stretch goldens were made from."""
    golden = json.load(open(os.path.join(TESTDATA, "goldens", "det-stretch.json")))
    d = os.path.join(tmp, "coco-dets", "3")
    os.makedirs(d)
    os.symlink(os.path.join(ROOT, golden["model"]), os.path.join(d, "weights.onnx"))
    with open(os.path.join(d, "environment.json"), "w") as f:
        json.dump({"PREPROCESSING": json.dumps(golden["environment_preprocessing"])}, f)
    names = json.load(open(os.path.join(TESTDATA, "goldens", "class_names.json")))
    with open(os.path.join(d, "class_names.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    with open(os.path.join(d, "model_type.json"), "w") as f:
        json.dump({"project_task_type": "object-detection", "model_type": "yolov8n"}, f)
    # Classification folders as inference-core lays them out: classes in
    # environment.json's CLASS_MAP, MULTICLASS for multi-label.
    multi = json.load(open(os.path.join(TESTDATA, "goldens", "cls-multi.json")))
    class_map = {str(v["class_id"]): k for k, v in multi["cases"][0]["response"]["predictions"].items()}
    for model_id, golden_name in (("imagenet-cls/2", "cls-single"), ("imagenet-multi/1", "cls-multi")):
        golden = json.load(open(os.path.join(TESTDATA, "goldens", golden_name + ".json")))
        d = os.path.join(tmp, *model_id.split("/"))
        os.makedirs(d)
        os.symlink(os.path.join(ROOT, golden["model"]), os.path.join(d, "weights.onnx"))
        env = {"PREPROCESSING": json.dumps(golden["environment_preprocessing"]), "CLASS_MAP": class_map, **golden["environment"]}
        with open(os.path.join(d, "environment.json"), "w") as f:
            json.dump(env, f)
        with open(os.path.join(d, "model_type.json"), "w") as f:
            json.dump({"project_task_type": "classification", "model_type": "yolov8n"}, f)
    # A keypoints folder: keypoints_metadata.json names the skeleton.
    kp = json.load(open(os.path.join(TESTDATA, "goldens", "kp-stretch.json")))
    d = os.path.join(tmp, "coco-pose", "1")
    os.makedirs(d)
    os.symlink(os.path.join(ROOT, kp["model"]), os.path.join(d, "weights.onnx"))
    with open(os.path.join(d, "environment.json"), "w") as f:
        json.dump({"PREPROCESSING": json.dumps(kp["environment_preprocessing"])}, f)
    with open(os.path.join(d, "class_names.txt"), "w") as f:
        f.write("person\n")
    with open(os.path.join(d, "keypoints_metadata.json"), "w") as f:
        json.dump([{"object_class_id": 0, "keypoints": {str(i): n for i, n in enumerate(kp["keypoint_names"])}}], f)
    with open(os.path.join(d, "model_type.json"), "w") as f:
        json.dump({"project_task_type": "keypoint-detection", "model_type": "yolov8n"}, f)
    # An instance segmentation folder.
    seg = json.load(open(os.path.join(TESTDATA, "goldens", "seg-stretch.json")))
    d = os.path.join(tmp, "coco-seg", "1")
    os.makedirs(d)
    os.symlink(os.path.join(ROOT, seg["model"]), os.path.join(d, "weights.onnx"))
    with open(os.path.join(d, "environment.json"), "w") as f:
        json.dump({"PREPROCESSING": json.dumps(seg["environment_preprocessing"])}, f)
    with open(os.path.join(d, "class_names.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    with open(os.path.join(d, "model_type.json"), "w") as f:
        json.dump({"project_task_type": "instance-segmentation", "model_type": "yolov8n"}, f)
    return tmp


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    binary = os.environ.get("TRTSERVE_BIN", os.path.join(ROOT, "bin", "trtserve"))
    assert os.path.exists(binary), f"{binary} missing: run `make build`"
    cache = roboflow_cache(str(tmp_path_factory.mktemp("cache")))
    port = free_port()
    env = dict(os.environ, PORT=str(port), MODEL_CACHE_DIR=cache)
    log = open(os.path.join(str(tmp_path_factory.mktemp("log")), "server.log"), "w+")
    proc = subprocess.Popen(
        [binary, "serve", "--host", "127.0.0.1", "--model-repository", os.path.join(TESTDATA, "models"),
         "--load-models", "yolov8n-320/1", "--max-image-pixels", "50000000"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(url + "/readiness", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    else:
        proc.kill()
    if proc.poll() is not None:
        log.seek(0)
        pytest.fail("trtserve did not start:\n" + log.read())
    yield url
    proc.terminate()
    assert proc.wait(timeout=30) == 0, "trtserve did not exit 0 on SIGTERM"
