"""Start the real bin/trtserve on a loopback port for the end-to-end tests."""
import gzip
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


def golden(name):
    """testdata/goldens/<name>.json.gz (goldens are stored gzipped, see
    scripts/fixtures/make_goldens.py)."""
    with gzip.open(os.path.join(TESTDATA, "goldens", name + ".json.gz"), "rt") as f:
        return json.load(f)


def cache_folder(tmp, model_id, golden_name, task, env=None, class_names=None, files=None, model_type="yolov8n",
                 config_yaml=None, weights=None):
    """One model folder laid out as inference-core's cache is, around the
    ONNX file the named goldens were made from, with their preprocessing
    (and, when given, a trtserve config.yaml beside the version folder)."""
    g = golden(golden_name)
    d = os.path.join(tmp, *model_id.split("/"))
    os.makedirs(d)
    # inference-core's YOLOv5 classes read yolov5s_weights.onnx
    if weights is None:
        weights = "yolov5s_weights.onnx" if model_type.startswith("yolov5") else "weights.onnx"
    os.symlink(os.path.join(ROOT, g["model"]), os.path.join(d, weights))
    if config_yaml is not None:
        with open(os.path.join(os.path.dirname(d), "config.yaml"), "w") as f:
            f.write(config_yaml)
    with open(os.path.join(d, "environment.json"), "w") as f:
        json.dump({"PREPROCESSING": json.dumps(g["environment_preprocessing"]), **(env or {})}, f)
    if class_names is not None:
        with open(os.path.join(d, "class_names.txt"), "w") as f:
            f.write("\n".join(class_names) + "\n")
    with open(os.path.join(d, "model_type.json"), "w") as f:
        json.dump({"project_task_type": task, "model_type": model_type}, f)
    for name, content in (files or {}).items():
        with open(os.path.join(d, name), "w") as f:
            json.dump(content, f)


def keypoints_metadata(names):
    """keypoints_metadata.json naming one class's skeleton."""
    return [{"object_class_id": 0, "keypoints": {str(i): n for i, n in enumerate(names)}}]


def golden_folder(tmp, name, **kw):
    """cache_folder for a golden that records its own task and model_type,
    served as model id <name>/1."""
    g = golden(name)
    cache_folder(tmp, name + "/1", name, g["task"], model_type=g["model_type"], **kw)


def roboflow_cache(tmp):
    """The Roboflow model-cache folders the end-to-end tests use."""
    names = json.load(open(os.path.join(TESTDATA, "goldens", "class_names.json")))
    cache_folder(tmp, "coco-dets/3", "det-stretch", "object-detection", class_names=names)
    cache_folder(tmp, "coco-v5/3", "det-v5-stretch", "object-detection", class_names=names, model_type="yolov5v6n")
    # the pretrained demo model (models/yolov5s-coco) as a Roboflow folder
    cache_folder(tmp, "coco-yolov5s/7", "det-v5s-coco-stretch", "object-detection", class_names=names,
                 model_type="yolov5v6s")
    # config.yaml's nms: ultralytics on the same folders
    cache_folder(tmp, "coco-ultra/1", "det-stretch", "object-detection", class_names=names,
                 config_yaml="nms: ultralytics\n")
    cache_folder(tmp, "coco-v5-ultra/1", "det-v5-stretch", "object-detection", class_names=names,
                 model_type="yolov5v6n", config_yaml="nms: ultralytics\n")
    for name in ("cropgray", "stretchcontrast", "histeq", "clahe"):  # environment.json preprocessing steps
        cache_folder(tmp, f"coco-{name}/1", f"det-{name}", "object-detection", class_names=names)
    # Classification: classes in environment.json's CLASS_MAP, MULTICLASS
    # for multi-label.
    multi = golden("cls-multi")
    class_map = {str(v["class_id"]): k for k, v in multi["cases"][0]["response"]["predictions"].items()}
    for model_id, golden_name in (("imagenet-cls/2", "cls-single"), ("imagenet-multi/1", "cls-multi")):
        cache_folder(tmp, model_id, golden_name, "classification",
                     env={"CLASS_MAP": class_map, **golden(golden_name)["environment"]})
    # Keypoints: keypoints_metadata.json names the skeleton.
    kp_names = golden("kp-stretch")["keypoint_names"]
    cache_folder(tmp, "coco-pose/1", "kp-stretch", "keypoint-detection", class_names=["person"],
                 files={"keypoints_metadata.json": keypoints_metadata(kp_names)})
    cache_folder(tmp, "coco-seg/1", "seg-stretch", "instance-segmentation", class_names=names)
    return tmp


def serve(tmp_path_factory, cache, *args):
    """Runs bin/trtserve (TRTSERVE_BIN) on a free loopback port over the
    Roboflow model cache `cache` with `args`, yields its URL once ready, and
    checks that it exits 0 on SIGTERM. Fixtures `yield from` it."""
    binary = os.environ.get("TRTSERVE_BIN", os.path.join(ROOT, "bin", "trtserve"))
    assert os.path.exists(binary), f"{binary} missing: run `make build`"
    port = free_port()
    # gRPC off unless --grpc-port is passed (flags win): servers run side by
    # side, and the default 8001 is one port.
    env = dict(os.environ, PORT=str(port), MODEL_CACHE_DIR=cache, TRTSERVE_GRPC_PORT="0")
    log = open(os.path.join(str(tmp_path_factory.mktemp("log")), "server.log"), "w+")
    proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", *args],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    ready = False
    deadline = time.time() + 60
    while not ready and time.time() < deadline and proc.poll() is None:
        try:
            ready = requests.get(url + "/readiness", timeout=1).status_code == 200
        except requests.ConnectionError:
            pass
        if not ready:
            time.sleep(0.2)
    if not ready:
        proc.kill()
        proc.wait()
        log.seek(0)
        pytest.fail("trtserve did not start:\n" + log.read())
    yield url
    proc.terminate()
    assert proc.wait(timeout=30) == 0, "trtserve did not exit 0 on SIGTERM"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    cache = roboflow_cache(str(tmp_path_factory.mktemp("cache")))
    yield from serve(tmp_path_factory, cache, "--model-repository", os.path.join(TESTDATA, "models"),
                     "--load-models", "yolov8n-320/1", "--max-image-pixels", "50000000")


def wait_port(port, timeout=30):
    """Waits until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"nothing listens on 127.0.0.1:{port}")


def serve_grpc(tmp_path_factory, *args):
    """serve() with the gRPC server on a second free loopback port
    (--grpc-port) and an empty Roboflow model cache; yields (HTTP URL,
    gRPC address host:port) once both ports answer."""
    gport = free_port()
    cache = str(tmp_path_factory.mktemp("cache"))
    for url in serve(tmp_path_factory, cache, "--grpc-port", str(gport), *args):
        wait_port(gport)
        yield url, f"127.0.0.1:{gport}"


@pytest.fixture(scope="session")
def grpc_server(tmp_path_factory):
    """trtserve over testdata/models with yolov8n-320/1 loaded, HTTP and
    gRPC: (HTTP URL, gRPC address)."""
    yield from serve_grpc(tmp_path_factory, "--model-repository", os.path.join(TESTDATA, "models"),
                          "--load-models", "yolov8n-320/1")
