"""KServe v2 / Triton protocol, driven by Triton's own client (tritonclient[http])
against bin/trtserve, with answers checked against ONNX Runtime run directly."""
import json
import os

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import requests
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import TESTDATA

MODEL = "yolov8n-320"
CLS = "yolov8n-cls-320"


@pytest.fixture(scope="module")
def client(server):
    c = httpclient.InferenceServerClient(server.removeprefix("http://"))
    yield c
    c.close()


@pytest.fixture(scope="module")
def session():
    return ort.InferenceSession(os.path.join(TESTDATA, "models", MODEL, "1", "model.onnx"),
                                providers=["CPUExecutionProvider"])


def image_tensor(name, size=320):
    """A real image as the model's NCHW float input (stretched, RGB, 0..1)."""
    img = cv2.imread(os.path.join(TESTDATA, "images", name))
    img = cv2.cvtColor(cv2.resize(img, (size, size)), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / 255.0


def batch(*names):
    return np.stack([image_tensor(n) for n in names])


def test_server_and_model_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    md = client.get_server_metadata()
    assert md["name"] == "trtserve"
    assert {"binary_tensor_data", "model_repository", "statistics", "model_configuration"} <= set(md["extensions"])
    mm = client.get_model_metadata(MODEL)
    assert mm["platform"] == "onnxruntime_onnx" and mm["versions"] == ["1"]
    assert mm["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 3, 320, 320]}]
    assert mm["outputs"] == [{"name": "output0", "datatype": "FP32", "shape": [-1, 84, 2100]}]
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, "1")
    assert not client.is_model_ready(MODEL, "7")
    cfg = client.get_model_config(MODEL)
    assert cfg["max_batch_size"] == 8 and cfg["input"][0]["dims"] == [3, 320, 320]
    assert cfg["parameters"]["task"]["string_value"] == "object-detection"
    with pytest.raises(InferenceServerException) as e:
        client.get_model_metadata("no-such-model")
    assert e.value.status() == "404"


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_matches_onnxruntime(client, session, binary):
    x = batch("bus.jpg", "zidane.jpg")
    inp = httpclient.InferInput("images", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = httpclient.InferRequestedOutput("output0", binary_data=binary)
    res = client.infer(MODEL, [inp], outputs=[out], request_id="req-1")
    got = res.as_numpy("output0")
    want = session.run(None, {"images": x})[0]
    assert got.dtype == np.float32 and got.shape == want.shape == (2, 84, 2100)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)
    assert res.get_response()["id"] == "req-1"
    assert res.get_response()["model_version"] == "1"


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_requests_and_responses(client, session, algorithm):
    x = batch("bus.jpg")
    inp = httpclient.InferInput("images", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    res = client.infer(MODEL, [inp], request_compression_algorithm=algorithm,
                       response_compression_algorithm="gzip")
    np.testing.assert_allclose(res.as_numpy("output0"), session.run(None, {"images": x})[0], rtol=1e-4, atol=2e-3)


def test_raw_binary_request(server, session):
    """Inference-Header-Content-Length: 0: the body is the one input, batch 1."""
    x = batch("zidane.jpg")
    r = requests.post(server + f"/v2/models/{MODEL}/infer", data=x.tobytes(),
                      headers={"Inference-Header-Content-Length": "0", "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    n = int(r.headers["Inference-Header-Content-Length"])
    header = json.loads(r.content[:n])
    out = header["outputs"][0]
    assert out["shape"] == [1, 84, 2100] and out["parameters"]["binary_data_size"] == 84 * 2100 * 4
    got = np.frombuffer(r.content[n:], np.float32).reshape(out["shape"])
    np.testing.assert_allclose(got, session.run(None, {"images": x})[0], rtol=1e-4, atol=2e-3)


@pytest.mark.parametrize("shape,dtype,status,text", [
    ([1, 3, 32, 32], "FP32", "400", "unexpected shape"),
    ([1, 3, 320, 320], "INT32", "400", "data-type"),
    ([0, 3, 320, 320], "FP32", "400", "unexpected shape"),
])
def test_bad_tensors_are_refused(client, shape, dtype, status, text):
    inp = httpclient.InferInput("images", shape, dtype)
    np_type = np.float32 if dtype == "FP32" else np.int32
    inp.set_data_from_numpy(np.zeros(shape, np_type), binary_data=True)
    with pytest.raises(InferenceServerException) as e:
        client.infer(MODEL, [inp])
    assert e.value.status() == status and text in e.value.message()
    assert client.is_model_ready(MODEL)  # and it keeps serving


def test_wrong_byte_count_and_malformed_json(server):
    header = json.dumps({"inputs": [{"name": "images", "shape": [1, 3, 320, 320], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 100}}]}).encode()
    r = requests.post(server + f"/v2/models/{MODEL}/infer", data=header + b"\0" * 100,
                      headers={"Inference-Header-Content-Length": str(len(header))})
    assert r.status_code == 400 and "binary data" in r.json()["error"]
    r = requests.post(server + f"/v2/models/{MODEL}/infer", data=b"{not json")
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]


def test_statistics_count_inferences_and_executions(client):
    def stats():
        return client.get_inference_statistics(MODEL)["model_stats"][0]
    before = stats()
    x = np.zeros((3, 3, 320, 320), np.float32)
    inp = httpclient.InferInput("images", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    client.infer(MODEL, [inp])
    after = stats()
    assert after["name"] == MODEL and after["version"] == "1"
    assert after["inference_count"] - before["inference_count"] == 3
    assert 1 <= after["execution_count"] - before["execution_count"] <= 3
    s0, s1 = before["inference_stats"], after["inference_stats"]
    assert int(s1["success"]["count"]) == int(s0["success"]["count"]) + 1
    for stage in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert int(s1[stage]["ns"]) > int(s0[stage]["ns"])
    assert sum(int(b["compute_infer"]["count"]) for b in after["batch_stats"]) == after["execution_count"]
    everything = client.get_inference_statistics()["model_stats"]
    assert MODEL in {m["name"] for m in everything}


def test_repository_index_load_unload(client):
    index = {m["name"]: m for m in client.get_model_repository_index()}
    assert index[MODEL]["state"] == "READY"
    assert index[CLS]["state"] == "UNAVAILABLE"
    client.load_model(CLS)
    assert client.is_model_ready(CLS)
    assert client.get_model_config(CLS)["parameters"]["task"]["string_value"] == "classification"
    # A config override (config.yaml's keys, as JSON) applies to this load.
    client.load_model(CLS, config=json.dumps({"max_batch_size": 2}))
    assert client.get_model_config(CLS)["max_batch_size"] == 2
    x = np.zeros((1, 3, 320, 320), np.float32)
    inp = httpclient.InferInput("images", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    assert client.infer(CLS, [inp]).as_numpy("output0").shape == (1, 1000)
    client.unload_model(CLS)
    assert not client.is_model_ready(CLS)
    index = {m["name"]: m for m in client.get_model_repository_index()}
    assert index[CLS]["state"] == "UNAVAILABLE" and index[CLS]["reason"] == "unloaded"
    with pytest.raises(InferenceServerException) as e:
        client.infer(CLS, [inp])
    assert e.value.status() == "503"
    with pytest.raises(InferenceServerException):
        client.load_model("no-such-model")
    with pytest.raises(InferenceServerException) as e:
        client.load_model(CLS, config="{max_batch_size: [")
    assert "load failed" in e.value.message()
    assert client.is_model_ready(MODEL)
