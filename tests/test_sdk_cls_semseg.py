"""End-to-end: ResNet and ViT classifiers and a DeepLabV3+ semantic
segmenter served from Roboflow model-cache folders by the real
bin/trtserve, answered through Roboflow's inference-sdk
(InferenceHTTPClient) and checked against goldens made by inference-core
1.8.3's own classes (scripts/fixtures/make_cls_semseg.py).

inference-sdk 1.8.3 has no API-v1 call for semantic segmentation: its
v1 client maps a model's task to a route and knows none for
"semantic-segmentation" (the test below shows it refusing). Its v0 client
(the legacy route, which inference serves for every task) does reach the
model, and /infer/semantic_segmentation itself is tested with plain
requests, as a client without the SDK sends it.
"""
import base64
import gzip
import hashlib
import io
import os

import conftest
import numpy as np
import pytest
import requests
from inference_sdk import InferenceConfiguration, InferenceHTTPClient
from inference_sdk.http.errors import ModelTaskTypeNotSupportedError
from PIL import Image

ROOT = conftest.ROOT
TESTDATA = conftest.TESTDATA
CLS_TOL = 1e-4  # single-label scores are rounded to 4 decimals on both sides
MULTI_TOL = 1e-5
# At most one confidence pixel in this many may differ from inference-core's,
# by 1 of 255 (cmd/trtserve/cls_semseg_e2e_test.go's semConfBound says why);
# class masks must be equal.
SEM_CONF_BOUND = 10000
CLASSIFIERS = ["resnet-single", "resnet-multi", "vit-single", "vit-multi"]


def layout(tmp, name):
    """The golden's model as inference-core's cache holds it."""
    g = conftest.golden(name)
    semantic = g["task"] == "semantic-segmentation"
    conftest.golden_folder(tmp, name, weights="weights.onnx" if semantic else "best.onnx",
                           env={"CLASS_MAP": {str(i): n for i, n in enumerate(g["class_names"])},
                                **g.get("environment", {})},
                           class_names=g["class_names"] if semantic else None)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("cache"))
    for name in CLASSIFIERS + ["deeplab"]:
        layout(cache, name)
    yield from conftest.serve(tmp_path_factory, cache, "--load-models", "none", "--max-image-pixels", "50000000")


def cases(name):
    return [(name, c) for c in conftest.golden(name)["cases"] if c["image"].endswith(".jpg")]


@pytest.mark.parametrize("name,case", [nc for n in CLASSIFIERS for nc in cases(n)],
                         ids=lambda v: v if isinstance(v, str) else f'{v["image"]}-{v["confidence"]}')
def test_classifier_families_match_roboflow(server, name, case):
    client = InferenceHTTPClient(api_url=server)
    client.configure(InferenceConfiguration(confidence_threshold=case["confidence"]))
    got = client.infer(os.path.join(TESTDATA, "images", case["image"]), model_id=f"{name}/1")
    want = case["response"]
    assert got["image"] == want["image"]
    if "predicted_classes" in want:  # multi-label: raw scores, no sigmoid
        assert set(got["predictions"]) == set(want["predictions"])
        for cls, w in want["predictions"].items():
            g = got["predictions"][cls]
            assert g["class_id"] == w["class_id"] and abs(g["confidence"] - w["confidence"]) <= MULTI_TOL, (cls, g, w)
        assert got["predicted_classes"] == want["predicted_classes"]
    else:
        assert [p["class"] for p in got["predictions"]] == [p["class"] for p in want["predictions"]]
        for g, w in zip(got["predictions"], want["predictions"]):
            assert g["class_id"] == w["class_id"] and abs(g["confidence"] - w["confidence"]) <= CLS_TOL, (g, w)
        assert got["top"] == want["top"] and abs(got["confidence"] - want["confidence"]) <= CLS_TOL


def pixels(b64png):
    img = Image.open(io.BytesIO(base64.b64decode(b64png)))
    assert img.mode == "L", img.mode
    return np.asarray(img)


def nearest(small, h, w):
    """torch's interpolate(mode="nearest") on CPU: float32 scale and index."""
    def idx(i, o):
        if o == i:
            return np.arange(o)
        s = np.float32(i) / np.float32(o)
        return np.minimum(np.floor(np.arange(o, dtype=np.float32) * s).astype(np.int64), i - 1)
    return small[idx(small.shape[0], h)][:, idx(small.shape[1], w)]


def check_masks(pred, case, size):
    seg, conf = pixels(pred["segmentation_mask"]), pixels(pred["confidence_mask"])
    assert list(seg.shape) == case["mask_shape"] and conf.shape == seg.shape
    if (hashlib.sha256(seg.tobytes()).hexdigest() == case["segmentation_sha256"]
            and hashlib.sha256(conf.tobytes()).hexdigest() == case["confidence_sha256"]):
        return
    def model_map(key):
        return np.frombuffer(gzip.decompress(base64.b64decode(case[key])), np.uint8).reshape(size)
    ws = nearest(model_map("model_segmentation"), *seg.shape)
    wc = nearest(model_map("model_confidence"), *seg.shape)
    assert hashlib.sha256(ws.tobytes()).hexdigest() == case["segmentation_sha256"]
    assert (seg != ws).sum() == 0, "class masks differ"
    d = np.abs(conf.astype(int) - wc.astype(int))
    assert d.max() <= 1 and (d > 0).sum() * SEM_CONF_BOUND <= d.size, f"{(d > 0).sum()} confidence pixels differ"


@pytest.mark.parametrize("case", conftest.golden("deeplab")["cases"], ids=lambda c: c["image"])
def test_semantic_segmentation_route_matches_roboflow(server, case):
    g = conftest.golden("deeplab")
    with open(os.path.join(TESTDATA, "images", case["image"]), "rb") as f:
        value = base64.b64encode(f.read()).decode()
    r = requests.post(server + "/infer/semantic_segmentation",
                      json={"model_id": "deeplab/1", "image": {"type": "base64", "value": value}})
    assert r.status_code == 200, r.text
    got, want = r.json(), case["response"]
    assert got["image"] == want["image"]
    for k in ("class_map", "present_class_ids"):
        assert got["predictions"][k] == want["predictions"][k]
    assert set(got["predictions"]) == set(want["predictions"])
    check_masks(got["predictions"], case, g["input_size"])


def test_semantic_segmentation_through_sdk_v0(server):
    g = conftest.golden("deeplab")
    case = next(c for c in g["cases"] if c["image"] == "bus.jpg")
    client = InferenceHTTPClient(api_url=server, api_key="unused").select_api_v0()
    got = client.infer(os.path.join(TESTDATA, "images", "bus.jpg"), model_id="deeplab/1")
    assert got["image"] == case["response"]["image"]
    assert got["predictions"]["present_class_ids"] == case["response"]["predictions"]["present_class_ids"]
    check_masks(got["predictions"], case, g["input_size"])


def test_sdk_v1_has_no_semantic_segmentation_call(server):
    client = InferenceHTTPClient(api_url=server)
    with pytest.raises(ModelTaskTypeNotSupportedError, match="semantic-segmentation"):
        client.infer(os.path.join(TESTDATA, "images", "bus.jpg"), model_id="deeplab/1")
