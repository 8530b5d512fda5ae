"""Triton's system shared-memory extension, driven by
tritonclient.utils.shared_memory and tritonclient's HTTP and gRPC clients
against bin/trtserve: regions registered by key, inputs read from and
outputs written into them, answers checked against ONNX Runtime; wrong
offsets and sizes refused, and a randomized run over region parameters
showing the server never reaches outside a region and keeps serving."""
import base64
import os
import random
import shutil
import struct
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException

from conftest import ROOT, TESTDATA, serve_grpc
from test_grpc import IMAGES, check
from test_kserve import MODEL, batch

IMAGE_BYTES = 3 * 320 * 320 * 4
OUT_BYTES = 84 * 2100 * 4
PAGE = 4096


class Client:
    """One face over tritonclient's HTTP and gRPC clients for what differs
    between them: statuses, the status listing, request objects."""

    def __init__(self, proto, addresses):
        self.proto = proto
        if proto == "http":
            self.mod = httpclient
            self.c = httpclient.InferenceServerClient(addresses[0].removeprefix("http://"))
        else:
            self.mod = grpcclient
            self.c = grpcclient.InferenceServerClient(addresses[1])

    def refused(self):
        """The status tritonclient reports when the server refuses a region
        or a window of one."""
        return "400" if self.proto == "http" else "StatusCode.INVALID_ARGUMENT"

    def missing(self):
        """Statuses for a region name nobody registered (Triton: NOT_FOUND,
        "Unable to find shared memory region")."""
        return {"400", "404"} if self.proto == "http" else {"StatusCode.NOT_FOUND"}

    def exists(self):
        """Statuses for a name registered twice (Triton: ALREADY_EXISTS,
        "already in manager")."""
        return {"400", "409"} if self.proto == "http" else {"StatusCode.ALREADY_EXISTS"}

    def status(self, name=""):
        """{name: (key, offset, byte_size)} of the registered system regions."""
        s = self.c.get_system_shared_memory_status(name)
        if self.proto == "http":
            return {r["name"]: (r["key"], int(r.get("offset", 0)), int(r["byte_size"])) for r in s}
        return {n: (r.key, r.offset, r.byte_size) for n, r in s.regions.items()}

    def inp(self, region, byte_size, offset=0, shape=(1, 3, 320, 320)):
        i = self.mod.InferInput("images", list(shape), "FP32")
        i.set_shared_memory(region, byte_size, offset)
        return i

    def out(self, region, byte_size, offset=0):
        o = self.mod.InferRequestedOutput("output0")
        o.set_shared_memory(region, byte_size, offset)
        return o

    def shm_output(self, result):
        """The answer's output0 written to shared memory: its (shape,
        datatype), after checking the answer carries none of its bytes
        (tritonclient's as_numpy cannot be used on such an output)."""
        o = result.get_output("output0")
        if self.proto == "http":
            assert "data" not in o and "binary_data_size" not in o.get("parameters", {})
            return o["shape"], o["datatype"]
        r = result.get_response()
        k = [x.name for x in r.outputs].index("output0")
        assert k >= len(r.raw_output_contents) or len(r.raw_output_contents[k]) == 0
        assert not o.contents.fp32_contents
        return list(o.shape), o.datatype

    def close(self):
        self.c.unregister_system_shared_memory()
        self.c.close()


@pytest.fixture(scope="module")
def session():
    return ort.InferenceSession(os.path.join(TESTDATA, "models", MODEL, "1", "model.onnx"),
                                providers=["CPUExecutionProvider"])


def read(h, shape, offset):
    """A copy of a float32 tensor in a region (a view would keep the
    mapping busy and its destruction would fail)."""
    return np.array(shm.get_contents_as_numpy(h, np.float32, shape, offset=offset))


@pytest.fixture(params=["http", "grpc"])
def client(request, grpc_server):
    c = Client(request.param, grpc_server)
    c.c.unregister_system_shared_memory()
    yield c
    c.close()


@pytest.fixture
def regions():
    """Creates POSIX shm objects (/dev/shm/<key>) and removes them after the test."""
    made = []

    def make(name, size):
        key = f"/trtserve-test-{os.getpid()}-{name}"
        h = shm.create_shared_memory_region(name, key, size, create_only=True)
        made.append(h)
        return key, h
    yield make
    for h in made:
        shm.destroy_shared_memory_region(h)


def test_register_status_unregister(client, regions):
    k1, _ = regions("r1", 2 * PAGE)
    k2, _ = regions("r2", 3 * PAGE)
    client.c.register_system_shared_memory("r1", k1, 2 * PAGE)
    client.c.register_system_shared_memory("r2", k2, PAGE, offset=PAGE)
    assert client.status() == {"r1": (k1, 0, 2 * PAGE), "r2": (k2, PAGE, PAGE)}
    assert client.status("r2") == {"r2": (k2, PAGE, PAGE)}
    with pytest.raises(InferenceServerException) as e:  # the name is taken
        client.c.register_system_shared_memory("r1", k2, PAGE)
    assert e.value.status() in client.exists() and "r1" in e.value.message()
    client.c.unregister_system_shared_memory("r1")
    assert client.status() == {"r2": (k2, PAGE, PAGE)}
    with pytest.raises(InferenceServerException) as e:  # no such region
        client.status("r1")
    assert e.value.status() in client.missing() and "r1" in e.value.message()
    client.c.register_system_shared_memory("r1", k1, PAGE)  # the name is free again
    client.c.unregister_system_shared_memory()  # every region
    assert client.status() == {}


@pytest.mark.parametrize("key,size,offset", [
    ("missing", PAGE, 0),                 # no such shm object
    ("r", 2 * PAGE, 0),                   # larger than the object
    ("r", PAGE, PAGE + 1),                # starts inside, ends outside
    ("r", 1, 2 * PAGE),                   # starts at its end
    ("r", 2**64 - 1, 0),                  # offset + size overflows 64 bits
    ("r", 16, 2**64 - 8),
])
def test_regions_outside_the_object_are_refused(client, regions, key, size, offset):
    # The object "r" is 2 pages less one byte.
    k, _ = regions("r", 2 * PAGE - 1) if key == "r" else (f"/trtserve-test-{os.getpid()}-missing", None)
    with pytest.raises(InferenceServerException) as e:
        client.c.register_system_shared_memory("bad", k, size, offset=offset)
    assert e.value.message()
    assert client.status() == {}
    assert client.c.is_server_ready()


@pytest.mark.parametrize("n", [1, 4])
def test_infer_in_and_out_of_shared_memory(client, regions, session, n):
    x = batch(*(IMAGES * 2)[:n])
    # The input sits one page into its region, the output at an offset too.
    kin, hin = regions("in", PAGE + n * IMAGE_BYTES)
    kout, hout = regions("out", 2 * PAGE + n * OUT_BYTES)
    shm.set_shared_memory_region(hin, [x], offset=PAGE)
    client.c.register_system_shared_memory("in", kin, PAGE + n * IMAGE_BYTES)
    client.c.register_system_shared_memory("out", kout, PAGE + n * OUT_BYTES, offset=PAGE)
    res = client.c.infer(MODEL, [client.inp("in", n * IMAGE_BYTES, PAGE, x.shape)],
                         outputs=[client.out("out", n * OUT_BYTES, PAGE)])
    assert client.shm_output(res) == ([n, 84, 2100], "FP32")
    # The output's region offset is PAGE, its tensor offset PAGE: 2 pages into the object.
    check(read(hout, [n, 84, 2100], 2 * PAGE), session, x)
    # Input in shm, output in the answer; and the other way round.
    res = client.c.infer(MODEL, [client.inp("in", n * IMAGE_BYTES, PAGE, x.shape)])
    check(res.as_numpy("output0"), session, x)
    i = client.mod.InferInput("images", list(x.shape), "FP32")
    i.set_data_from_numpy(x)
    shm.set_shared_memory_region(hout, [np.zeros(n * 84 * 2100, np.float32)], offset=2 * PAGE)
    client.c.infer(MODEL, [i], outputs=[client.out("out", n * OUT_BYTES, PAGE)])
    check(read(hout, [n, 84, 2100], 2 * PAGE), session, x)
    # A region stays registered across requests until unregistered.
    assert set(client.status()) == {"in", "out"}
    client.c.unregister_system_shared_memory("in")
    with pytest.raises(InferenceServerException) as e:
        client.c.infer(MODEL, [client.inp("in", n * IMAGE_BYTES, PAGE, x.shape)])
    assert e.value.status() in client.missing() and "'in'" in e.value.message()


def test_wrong_offsets_and_sizes_are_refused(client, regions):
    kin, _ = regions("in", IMAGE_BYTES + PAGE)
    kout, _ = regions("out", OUT_BYTES)
    client.c.register_system_shared_memory("in", kin, IMAGE_BYTES + PAGE)
    client.c.register_system_shared_memory("out", kout, OUT_BYTES)
    ok_out = client.out("out", OUT_BYTES)
    cases = [
        ([client.inp("in", IMAGE_BYTES - 4)], [ok_out]),                 # fewer bytes than the shape
        ([client.inp("in", IMAGE_BYTES + 4)], [ok_out]),                 # more bytes than the shape
        ([client.inp("in", IMAGE_BYTES, PAGE + 4)], [ok_out]),           # runs past the region's end
        ([client.inp("in", IMAGE_BYTES, 2**62)], [ok_out]),              # far outside
        ([client.inp("nope", IMAGE_BYTES)], [ok_out]),                   # not registered
        ([client.inp("in", IMAGE_BYTES)], [client.out("out", OUT_BYTES - 4)]),   # output does not fit
        ([client.inp("in", IMAGE_BYTES)], [client.out("out", OUT_BYTES, 4)]),    # output runs past the end
        ([client.inp("in", IMAGE_BYTES)], [client.out("nope", OUT_BYTES)]),
    ]
    for k, (inputs, outputs) in enumerate(cases):
        with pytest.raises(InferenceServerException) as e:
            client.c.infer(MODEL, inputs, outputs=outputs)
        unknown = k == 4 or k == len(cases) - 1
        assert e.value.status() in (client.missing() if unknown else {client.refused()}), (k, e.value)
        assert e.value.message()
    assert client.c.is_model_ready(MODEL)
    client.c.infer(MODEL, [client.inp("in", IMAGE_BYTES)], outputs=[ok_out])


def test_fuzz_region_parameters(client, regions, session):
    """Random registrations and requests around one object's bounds: each
    is refused, or accepted only inside the object and answered right, the
    input read from and the output written to exactly the window asked."""
    rng = random.Random(18)
    size = IMAGE_BYTES + OUT_BYTES + 3 * PAGE
    key, h = regions("fz", size)
    x = batch("bus.jpg")
    want = session.run(None, {"images": x})[0]
    counts = {"registered": 0, "refused": 0, "served": 0, "window refused": 0}

    def near(n):
        return rng.choice([0, 1, 4, PAGE, n - 1, n, n + 1, n + PAGE, rng.randrange(max(n, 1)), 2**63 - 1])

    for i in range(60):
        name = f"fz{i}"
        if i % 2:  # inside the object
            off = rng.randrange(0, size - IMAGE_BYTES)
            length = rng.randrange(IMAGE_BYTES, size - off + 1)
        else:
            off, length = near(size), rng.choice([near(size), size, IMAGE_BYTES, 2**64 - 1])
        try:
            client.c.register_system_shared_memory(name, key, length, offset=off)
        except InferenceServerException as e:
            # Refused: it must reach outside the object (an empty one may go either way).
            assert length == 0 or off + length > size, (off, length, e)
            counts["refused"] += 1
            continue
        assert off + length <= size, (off, length)
        counts["registered"] += 1
        if length == 0:
            client.c.unregister_system_shared_memory(name)
            continue
        # A tensor somewhere in (or around) the registered window, of the
        # right size or not, and maybe the output in the same region.
        t_off = max(0, min(rng.choice([0, 4, length - IMAGE_BYTES, length - IMAGE_BYTES + 4, near(length)]), 2**62))
        t_size = rng.choice([IMAGE_BYTES, IMAGE_BYTES, IMAGE_BYTES, IMAGE_BYTES - 4, IMAGE_BYTES + 4])
        fits = t_off + t_size <= length and t_size == IMAGE_BYTES
        o_off = rng.choice([None, 0, length - OUT_BYTES, length - OUT_BYTES + 4, near(length)])
        if o_off is not None:
            o_off = max(0, min(o_off, 2**62))
            fits = fits and o_off + OUT_BYTES <= length
        if fits:
            shm.set_shared_memory_region(h, [x], offset=off + t_off)
        outputs = None if o_off is None else [client.out(name, OUT_BYTES, o_off)]
        try:
            res = client.c.infer(MODEL, [client.inp(name, t_size, t_off)], outputs=outputs)
        except InferenceServerException as e:
            assert not fits and e.status() == client.refused(), (off, length, t_off, t_size, o_off, e)
            counts["window refused"] += 1
        else:
            assert fits, (off, length, t_off, t_size, o_off)
            got = res.as_numpy("output0") if o_off is None else read(h, [1, 84, 2100], off + o_off)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)
            counts["served"] += 1
        client.c.unregister_system_shared_memory(name)
    assert all(counts.values()), counts  # every path was taken
    assert client.status() == {}
    assert client.c.is_server_live() and client.c.is_model_ready(MODEL)


def test_object_shrunk_under_a_region(client, regions, session):
    """A client truncates its object after registering it: the server must
    not touch the pages that are gone (SIGBUS), refuse the request, and keep
    serving."""
    key, h = regions("shrink", IMAGE_BYTES)
    client.c.register_system_shared_memory("shrink", key, IMAGE_BYTES)
    os.truncate(os.path.join("/dev/shm", key.lstrip("/")), PAGE)
    with pytest.raises(InferenceServerException) as e:
        client.c.infer(MODEL, [client.inp("shrink", IMAGE_BYTES)])
    assert e.value.message()
    assert client.c.is_server_live() and client.c.is_model_ready(MODEL)
    x = batch("bus.jpg")
    i = client.mod.InferInput("images", list(x.shape), "FP32")
    i.set_data_from_numpy(x)
    check(client.c.infer(MODEL, [i]).as_numpy("output0"), session, x)


def test_cuda_regions_on_a_server_without_cuda(client):
    """The CUDA shared-memory RPCs answer on a CPU-only server: no regions,
    and a registration refused with a message (the CUDA path itself is
    tested on the CUDA mock and on a lent GPU)."""
    handle = base64.b64encode(bytes(64))
    with pytest.raises(InferenceServerException) as e:
        client.c.register_cuda_shared_memory("gpu", handle if client.proto == "grpc" else handle.decode(), 0, PAGE)
    assert e.value.message()
    s = client.c.get_cuda_shared_memory_status()
    assert (s == [] if client.proto == "http" else len(s.regions) == 0), s
    assert client.status() == {}


@pytest.fixture(scope="module")
def mock_server(tmp_path_factory):
    """trtserve built with the CUDA mock (-tags cudamock; TRTSERVE_MOCK_BIN
    names a built one) and run with TRTSERVE_CUDA_MOCK=1: a CUDA region's
    "device memory" is then a /dev/shm file named by a mock IPC handle
    (cuda/cudamock/ipcfile.go), so CUDA shared memory runs end to end
    without a GPU."""
    binary = os.environ.get("TRTSERVE_MOCK_BIN")
    if not binary:
        go = shutil.which("go")
        if go is None:
            pytest.skip("no Go toolchain to build the CUDA-mock binary (or set TRTSERVE_MOCK_BIN)")
        binary = str(tmp_path_factory.mktemp("mockbin") / "trtserve")
        subprocess.run([go, "build", "-tags", "cudamock", "-o", binary, "./cmd/trtserve"], cwd=ROOT, check=True,
                       env=dict(os.environ, CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"))
    saved = {k: os.environ.get(k) for k in ("TRTSERVE_BIN", "TRTSERVE_CUDA_MOCK")}
    os.environ.update(TRTSERVE_BIN=binary, TRTSERVE_CUDA_MOCK="1")
    try:  # the environment is read when the process starts
        server = serve_grpc(tmp_path_factory, "--model-repository", os.path.join(TESTDATA, "models"),
                            "--load-models", f"{MODEL}/1")
        addresses = next(server)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield addresses
    next(server, None)


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_cuda_shared_memory_on_the_mock(mock_server, session, proto):
    c = Client(proto, mock_server)
    name = f"trtserve-test-{os.getpid()}-gpu"
    size = IMAGE_BYTES + OUT_BYTES
    h = shm.create_shared_memory_region("gpu", "/" + name, size, create_only=True)
    try:
        x = batch("zidane.jpg")
        shm.set_shared_memory_region(h, [x])
        handle = base64.b64encode(b"trtserve-mockipf" + struct.pack("<Q", size) + name.encode().ljust(40, b"\0"))
        c.c.register_cuda_shared_memory("gpu", handle if proto == "grpc" else handle.decode(), 0, size)
        s = c.c.get_cuda_shared_memory_status()
        if proto == "http":
            assert s == [{"name": "gpu", "device_id": 0, "byte_size": size}]
        else:
            assert {n: (r.device_id, r.byte_size) for n, r in s.regions.items()} == {"gpu": (0, size)}
        res = c.c.infer(MODEL, [c.inp("gpu", IMAGE_BYTES)], outputs=[c.out("gpu", OUT_BYTES, IMAGE_BYTES)])
        assert c.shm_output(res) == ([1, 84, 2100], "FP32")
        check(read(h, [1, 84, 2100], IMAGE_BYTES), session, x)
        with pytest.raises(InferenceServerException) as e:  # the output runs past the region
            c.c.infer(MODEL, [c.inp("gpu", IMAGE_BYTES)], outputs=[c.out("gpu", OUT_BYTES, IMAGE_BYTES + 4)])
        assert e.value.status() == c.refused()
        c.c.unregister_cuda_shared_memory()
        s = c.c.get_cuda_shared_memory_status()
        assert (s == [] if proto == "http" else len(s.regions) == 0), s
    finally:
        c.c.unregister_cuda_shared_memory()
        c.close()
        shm.destroy_shared_memory_region(h)
