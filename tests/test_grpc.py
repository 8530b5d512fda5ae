"""KServe v2 / Triton gRPC (inference.GRPCInferenceService), driven by
Triton's own client (tritonclient[grpc] 2.73.0) against bin/trtserve, with
answers checked against ONNX Runtime run directly, as test_kserve.py does
for HTTP. The server runs both protocols (--grpc-port); where the two must
agree (metadata, statistics) both are asked."""
import json
import os
import queue
import re
import signal
import subprocess
import time

import grpc
import numpy as np
import onnxruntime as ort
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from conftest import ROOT, TESTDATA, free_port, serve_grpc, wait_port
from test_kserve import CLS, MODEL, batch

IMAGES = ("bus.jpg", "zidane.jpg", "chelsea.jpg", "coffee.jpg")
BIG = [("grpc.max_send_message_length", 2**31 - 1), ("grpc.max_receive_message_length", 2**31 - 1)]


@pytest.fixture(scope="module")
def client(grpc_server):
    c = grpcclient.InferenceServerClient(grpc_server[1])
    yield c
    c.close()


@pytest.fixture(scope="module")
def http(grpc_server):
    c = httpclient.InferenceServerClient(grpc_server[0].removeprefix("http://"))
    yield c
    c.close()


@pytest.fixture(scope="module")
def stub(grpc_server):
    """The bare generated stub, for what tritonclient does not send (typed contents)."""
    with grpc.insecure_channel(grpc_server[1], options=BIG) as ch:
        yield service_pb2_grpc.GRPCInferenceServiceStub(ch)


@pytest.fixture(scope="module")
def session():
    return ort.InferenceSession(os.path.join(TESTDATA, "models", MODEL, "1", "model.onnx"),
                                providers=["CPUExecutionProvider"])


def code(e):
    """The gRPC status of an InferenceServerException, as tritonclient.grpc words it."""
    return e.value.status()


def raw_input(x, name="images", datatype="FP32"):
    inp = grpcclient.InferInput(name, list(x.shape), datatype)
    inp.set_data_from_numpy(x)  # raw_input_contents
    return inp


def check(got, session, x):
    want = session.run(None, {"images": x})[0]
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)


def test_health_and_server_metadata(client, http):
    assert client.is_server_live() and client.is_server_ready()
    md = client.get_server_metadata()
    hmd = http.get_server_metadata()
    assert md.name == hmd["name"] == "trtserve" and md.version == hmd["version"]
    # One server-wide list on both protocols, as Triton answers.
    assert list(md.extensions) == hmd["extensions"]
    assert {"system_shared_memory", "cuda_shared_memory", "model_repository", "statistics"} <= set(md.extensions)
    assert client.get_server_metadata(as_json=True)["name"] == "trtserve"


def test_grpc_health_checking(grpc_server):
    """grpc.health.v1.Health/Check, as Kubernetes' gRPC probe sends it: the
    empty request asks about the whole server (SERVING = field 1, value 1)."""
    with grpc.insecure_channel(grpc_server[1]) as ch:
        check_rpc = ch.unary_unary("/grpc.health.v1.Health/Check")
        assert check_rpc(b"", timeout=10) == b"\x08\x01"


def test_model_metadata_readiness_and_config(client, http):
    mm = client.get_model_metadata(MODEL)
    assert mm.name == MODEL and mm.platform == "onnxruntime_onnx" and list(mm.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in mm.inputs] == [("images", "FP32", [-1, 3, 320, 320])]
    assert [(t.name, t.datatype, list(t.shape)) for t in mm.outputs] == [("output0", "FP32", [-1, 84, 2100])]
    assert client.get_model_metadata(MODEL, "1") == mm
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, "1")
    assert not client.is_model_ready(MODEL, "7")
    assert not client.is_model_ready(CLS)  # in the repository, not loaded
    cfg = client.get_model_config(MODEL).config
    assert cfg.name == MODEL and cfg.max_batch_size == 8
    assert [(t.name, list(t.dims)) for t in cfg.input] == [("images", [3, 320, 320])]
    assert [(t.name, list(t.dims)) for t in cfg.output] == [("output0", [84, 2100])]
    assert cfg.input[0].data_type == cfg.output[0].data_type == grpcclient.model_config_pb2.TYPE_FP32
    assert cfg.parameters["task"].string_value == "object-detection"
    hcfg = http.get_model_config(MODEL)
    assert cfg.platform == hcfg["platform"] and cfg.backend == hcfg.get("backend", "")
    assert {k: v.string_value for k, v in cfg.parameters.items()} == \
        {k: v["string_value"] for k, v in hcfg["parameters"].items()}
    for call in (client.get_model_metadata, client.get_model_config):
        with pytest.raises(InferenceServerException) as e:
            call("no-such-model")
        assert code(e) == "StatusCode.NOT_FOUND" and "no-such-model" in e.value.message()


@pytest.mark.parametrize("n", [1, 4])
def test_infer_raw_contents_matches_onnxruntime(client, session, n):
    x = batch(*IMAGES[:n])
    res = client.infer(MODEL, [raw_input(x)], outputs=[grpcclient.InferRequestedOutput("output0")],
                       request_id=f"raw-{n}")
    check(res.as_numpy("output0"), session, x)
    r = res.get_response()
    assert r.id == f"raw-{n}" and r.model_name == MODEL and r.model_version == "1"
    assert [(o.name, o.datatype, list(o.shape)) for o in r.outputs] == [("output0", "FP32", [n, 84, 2100])]
    assert len(r.raw_output_contents) == 1 and len(r.raw_output_contents[0]) == n * 84 * 2100 * 4


def test_infer_without_requested_outputs_answers_every_output(client, session):
    x = batch("zidane.jpg")
    res = client.infer(MODEL, [raw_input(x)], model_version="1")
    check(res.as_numpy("output0"), session, x)
    assert [o.name for o in res.get_response().outputs] == ["output0"]


def test_request_parameters_are_accepted(client, session):
    """Parameters the model does not use ride along, as on Triton (which
    hands them to the backend)."""
    x = batch("bus.jpg")
    res = client.infer(MODEL, [raw_input(x)], parameters={"note": "x", "n": 3, "flag": True})
    check(res.as_numpy("output0"), session, x)


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_infer(client, session, algorithm):
    x = batch("bus.jpg")
    res = client.infer(MODEL, [raw_input(x)], compression_algorithm=algorithm)
    check(res.as_numpy("output0"), session, x)


@pytest.mark.parametrize("n", [1, 4])
def test_infer_typed_contents_matches_onnxruntime(stub, session, n):
    """contents.fp32_contents instead of raw_input_contents (tritonclient
    always sends raw; other KServe clients send typed contents)."""
    x = batch(*IMAGES[:n])
    req = service_pb2.ModelInferRequest(model_name=MODEL, id=f"typed-{n}")
    t = req.inputs.add(name="images", datatype="FP32", shape=x.shape)
    t.contents.fp32_contents.extend(x.ravel().tolist())
    req.outputs.add(name="output0")
    resp = stub.ModelInfer(req, timeout=120)
    assert resp.id == f"typed-{n}" and resp.model_name == MODEL
    check(grpcclient.InferResult(resp).as_numpy("output0"), session, x)


@pytest.mark.parametrize("mutate,text", [
    (lambda r: r.inputs[0].contents.fp32_contents.pop(), "images"),          # one value short
    (lambda r: r.raw_input_contents.append(b"\0" * 4), "images"),          # raw beside typed
    (lambda r: r.inputs[0].contents.int_contents.append(1), "images"),      # the wrong typed field
])
def test_inconsistent_typed_contents_are_refused(stub, mutate, text):
    x = np.zeros((1, 3, 320, 320), np.float32)
    req = service_pb2.ModelInferRequest(model_name=MODEL)
    t = req.inputs.add(name="images", datatype="FP32", shape=x.shape)
    t.contents.fp32_contents.extend(x.ravel().tolist())
    mutate(req)
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(req, timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and text in e.value.details()


def test_raw_contents_of_the_wrong_size_are_refused(stub):
    req = service_pb2.ModelInferRequest(model_name=MODEL)
    req.inputs.add(name="images", datatype="FP32", shape=[1, 3, 320, 320])
    req.raw_input_contents.append(b"\0" * 100)
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(req, timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "images" in e.value.details()


def test_stream_infer(grpc_server, session):
    """ModelStreamInfer: several requests on one bidirectional stream, an
    error among them answered on the stream without ending it."""
    c = grpcclient.InferenceServerClient(grpc_server[1])
    answers = queue.Queue()
    c.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        xs = {"s1": batch("bus.jpg"), "s2": batch("zidane.jpg", "coffee.jpg"), "s3": batch(*IMAGES)}
        c.async_stream_infer(MODEL, [raw_input(xs["s1"])], request_id="s1")
        c.async_stream_infer(MODEL, [raw_input(xs["s2"])], request_id="s2",
                             outputs=[grpcclient.InferRequestedOutput("output0")])
        c.async_stream_infer(MODEL, [raw_input(np.zeros((1, 3, 32, 32), np.float32))], request_id="bad")
        c.async_stream_infer(MODEL, [raw_input(xs["s3"])], request_id="s3")
        got, errors = {}, []
        for _ in range(4):
            result, error = answers.get(timeout=120)
            if error is not None:
                errors.append(error)
            else:
                got[result.get_response().id] = result.as_numpy("output0")
        assert sorted(got) == ["s1", "s2", "s3"]
        for rid, x in xs.items():
            check(got[rid], session, x)
        assert len(errors) == 1 and "unexpected shape" in errors[0].message()
    finally:
        c.stop_stream()
        c.close()


def test_statistics_count_inferences_and_executions(client, http):
    def stats():
        return client.get_inference_statistics(MODEL).model_stats[0]
    before = stats()
    x = np.zeros((3, 3, 320, 320), np.float32)
    client.infer(MODEL, [raw_input(x)])
    after = stats()
    assert after.name == MODEL and after.version == "1"
    assert after.inference_count - before.inference_count == 3
    assert 1 <= after.execution_count - before.execution_count <= 3
    s0, s1 = before.inference_stats, after.inference_stats
    assert s1.success.count == s0.success.count + 1
    for stage in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert getattr(s1, stage).ns > getattr(s0, stage).ns
    assert sum(b.compute_infer.count for b in after.batch_stats) == after.execution_count
    # One statistics view for both protocols.
    h = http.get_inference_statistics(MODEL)["model_stats"][0]
    assert h["inference_count"] == after.inference_count and h["execution_count"] == after.execution_count
    assert MODEL in {m.name for m in client.get_inference_statistics().model_stats}
    with pytest.raises(InferenceServerException) as e:
        client.get_inference_statistics("no-such-model")
    assert code(e) in ("StatusCode.NOT_FOUND", "StatusCode.INVALID_ARGUMENT")


def test_repository_index_load_unload(client):
    index = {m.name: m for m in client.get_model_repository_index().models}
    assert index[MODEL].state == "READY"
    assert index[CLS].state == "UNAVAILABLE"
    client.load_model(CLS)
    assert client.is_model_ready(CLS)
    assert client.get_model_config(CLS).config.parameters["task"].string_value == "classification"
    # A config override (config.yaml's keys, as JSON) applies to this load.
    client.load_model(CLS, config=json.dumps({"max_batch_size": 2}))
    assert client.get_model_config(CLS).config.max_batch_size == 2
    x = np.zeros((1, 3, 320, 320), np.float32)
    assert client.infer(CLS, [raw_input(x)]).as_numpy("output0").shape == (1, 1000)
    client.unload_model(CLS)
    assert not client.is_model_ready(CLS)
    index = {m.name: m for m in client.get_model_repository_index().models}
    assert index[CLS].state == "UNAVAILABLE" and index[CLS].reason == "unloaded"
    with pytest.raises(InferenceServerException) as e:
        client.infer(CLS, [raw_input(x)])
    assert code(e) == "StatusCode.UNAVAILABLE"
    with pytest.raises(InferenceServerException):
        client.load_model("no-such-model")
    with pytest.raises(InferenceServerException) as e:
        client.load_model(CLS, config="{max_batch_size: [")
    assert code(e) == "StatusCode.INVALID_ARGUMENT" and "load failed" in e.value.message()
    assert client.is_model_ready(MODEL)


@pytest.mark.parametrize("shape,dtype,text", [
    ([1, 3, 32, 32], "FP32", "unexpected shape"),
    ([1, 3, 320, 320], "INT32", "data-type"),
    ([0, 3, 320, 320], "FP32", "unexpected shape"),
])
def test_bad_tensors_are_refused(client, shape, dtype, text):
    x = np.zeros(shape, np.float32 if dtype == "FP32" else np.int32)
    with pytest.raises(InferenceServerException) as e:
        client.infer(MODEL, [raw_input(x, datatype=dtype)])
    assert code(e) == "StatusCode.INVALID_ARGUMENT" and text in e.value.message()
    assert client.is_model_ready(MODEL)  # and it keeps serving


def test_bad_names_are_refused(client):
    x = np.zeros((1, 3, 320, 320), np.float32)
    with pytest.raises(InferenceServerException) as e:
        client.infer(MODEL, [raw_input(x, name="pixels")])
    assert code(e) == "StatusCode.INVALID_ARGUMENT" and "pixels" in e.value.message()
    with pytest.raises(InferenceServerException) as e:
        client.infer(MODEL, [raw_input(x)], outputs=[grpcclient.InferRequestedOutput("boxes")])
    assert code(e) == "StatusCode.INVALID_ARGUMENT" and "boxes" in e.value.message()
    with pytest.raises(InferenceServerException) as e:
        client.infer("no-such-model", [raw_input(x)])
    assert code(e) == "StatusCode.NOT_FOUND" and "no-such-model" in e.value.message()
    with pytest.raises(InferenceServerException) as e:
        client.infer(MODEL, [raw_input(x)], model_version="7")
    assert code(e) in ("StatusCode.NOT_FOUND", "StatusCode.UNAVAILABLE")


def test_rpcs_not_built_say_so(client):
    """What trtserve does not build answers UNIMPLEMENTED with a message."""
    for call in (client.get_trace_settings, client.get_log_settings):
        try:
            call()
        except InferenceServerException as e:
            assert e.status() == "StatusCode.UNIMPLEMENTED" and e.message()


# A slow simulated model with a queue of one image: a burst overflows it.
SLOW = """backend: simulated
max_batch_size: 1
simulated:
  base_us: 500000
  per_item_us: 0
dynamic_batching:
  max_queue_size: 1
"""


def slow_repo(tmp_path_factory, config=SLOW):
    root = tmp_path_factory.mktemp("slowrepo")
    os.makedirs(root / "slow" / "1")
    os.symlink(os.path.join(TESTDATA, "models", MODEL, "1", "model.onnx"), root / "slow" / "1" / "model.onnx")
    (root / "slow" / "config.yaml").write_text(config)
    return root


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    root = slow_repo(tmp_path_factory)
    yield from serve_grpc(tmp_path_factory, "--model-repository", str(root), "--load-models", "slow/1",
                          "--grpc-max-message-bytes", str(2 << 20))


def test_full_queue_is_resource_exhausted(slow_server):
    c = grpcclient.InferenceServerClient(slow_server[1])
    answers = queue.Queue()
    x = np.zeros((1, 3, 320, 320), np.float32)
    n = 24
    for i in range(n):
        c.async_infer("slow", [raw_input(x)], lambda result, error: answers.put((result, error)),
                      request_id=str(i))
    results = [answers.get(timeout=300) for _ in range(n)]
    refused = [e for _, e in results if e is not None]
    served = [r for r, e in results if e is None]
    assert refused and served
    for e in refused:
        assert e.status() == "StatusCode.RESOURCE_EXHAUSTED", e
    for r in served:
        assert r.as_numpy("output0").shape == (1, 84, 2100)
    assert c.is_model_ready("slow")
    c.close()


def test_deadlines(slow_server):
    """The client's gRPC deadline, and the request's timeout parameter
    (microseconds, tritonclient's timeout=) on a model that takes 0.5 s."""
    c = grpcclient.InferenceServerClient(slow_server[1])
    with pytest.raises(InferenceServerException) as e:
        c.infer("slow", [raw_input(np.zeros((1, 3, 320, 320), np.float32))], client_timeout=0.05)
    assert code(e) == "StatusCode.DEADLINE_EXCEEDED"
    with pytest.raises(InferenceServerException) as e:
        c.infer("slow", [raw_input(np.zeros((1, 3, 320, 320), np.float32))], timeout=1000)
    assert code(e) == "StatusCode.DEADLINE_EXCEEDED"
    assert c.infer("slow", [raw_input(np.zeros((1, 3, 320, 320), np.float32))]).as_numpy("output0").shape == \
        (1, 84, 2100)
    c.close()


def test_message_larger_than_the_bound_is_refused(slow_server):
    """--grpc-max-message-bytes 2 MiB: batch 2 (2.4 MB of tensor) is refused,
    batch 1 (1.2 MB) served."""
    c = grpcclient.InferenceServerClient(slow_server[1])
    with pytest.raises(InferenceServerException) as e:
        c.infer("slow", [raw_input(np.zeros((2, 3, 320, 320), np.float32))])
    assert code(e) == "StatusCode.RESOURCE_EXHAUSTED"
    assert c.is_server_ready()
    c.close()


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    yield from serve_grpc(tmp_path_factory, "--model-repository", os.path.join(TESTDATA, "models"),
                          "--load-models", f"{MODEL}/1", "--api-key", "k")


def test_api_key(keyed_server, session):
    c = grpcclient.InferenceServerClient(keyed_server[1])
    x = batch("bus.jpg")
    for headers in (None, {"authorization": "Bearer wrong"}, {"authorization": "k"}):
        for call in (lambda: c.infer(MODEL, [raw_input(x)], headers=headers),
                     lambda: c.get_model_metadata(MODEL, headers=headers),
                     lambda: c.get_model_repository_index(headers=headers)):
            with pytest.raises(InferenceServerException) as e:
                call()
            assert code(e) == "StatusCode.UNAUTHENTICATED", headers
    ok = {"authorization": "Bearer k"}
    check(c.infer(MODEL, [raw_input(x)], headers=ok).as_numpy("output0"), session, x)
    assert c.get_model_metadata(MODEL, headers=ok).name == MODEL
    # Health checks need no key, as on HTTP.
    assert c.is_server_live() and c.is_server_ready()
    with grpc.insecure_channel(keyed_server[1]) as ch:
        assert ch.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=10) == b"\x08\x01"
    # Streams carry the key in their metadata too.
    answers = queue.Queue()
    c.start_stream(callback=lambda result, error: answers.put((result, error)), headers=ok)
    c.async_stream_infer(MODEL, [raw_input(x)], request_id="keyed")
    result, error = answers.get(timeout=120)
    assert error is None and result.get_response().id == "keyed"
    c.stop_stream()
    c.close()


def test_sigterm_drains_grpc_in_flight(tmp_path_factory):
    """SIGTERM: requests already admitted (unary and on a stream) get their
    answers, then the process exits 0."""
    root = slow_repo(tmp_path_factory, SLOW.replace("base_us: 500000", "base_us: 1500000")
                     .replace("max_queue_size: 1", "max_queue_size: 8"))
    port, gport = free_port(), free_port()
    log = open(os.path.join(str(tmp_path_factory.mktemp("drainlog")), "server.log"), "w+")
    binary = os.environ.get("TRTSERVE_BIN", os.path.join(ROOT, "bin", "trtserve"))
    proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--grpc-port", str(gport),
                             "--model-repository", str(root), "--load-models", "slow/1"],
                            env=dict(os.environ, MODEL_CACHE_DIR=str(root)), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        wait_port(gport)
        c = grpcclient.InferenceServerClient(f"127.0.0.1:{gport}")
        deadline = time.time() + 60
        while True:
            try:  # a server not ready yet answers UNAVAILABLE, as Triton's
                if c.is_model_ready("slow"):
                    break
            except InferenceServerException:
                pass
            assert time.time() < deadline and proc.poll() is None, "slow/1 never got ready"
            time.sleep(0.2)
        answers = queue.Queue()
        x = np.zeros((1, 3, 320, 320), np.float32)
        c.async_infer("slow", [raw_input(x)], lambda result, error: answers.put((result, error)), request_id="u")
        c.start_stream(callback=lambda result, error: answers.put((result, error)))
        c.async_stream_infer("slow", [raw_input(x)], request_id="s")
        # Both admitted (the server counts them pending) before the signal.
        pending = re.compile(r'^nv_inference_pending_request_count\{model="slow",version="1"\} (\S+)$', re.M)
        while True:
            m = pending.search(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
            if m and float(m.group(1)) >= 2:
                break
            assert time.time() < deadline, "the requests were never admitted"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        got = sorted((r.get_response().id, r.as_numpy("output0").shape) for r, e in
                     (answers.get(timeout=120) for _ in range(2)) if e is None)
        assert got == [("s", (1, 84, 2100)), ("u", (1, 84, 2100))]
        assert proc.wait(timeout=60) == 0
        c.stop_stream()
        c.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
