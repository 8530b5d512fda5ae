"""TLS and mutual TLS on both protocols, driven by tritonclient's HTTP
(ssl=True with an SSL context) and gRPC (ssl=True with root_certificates,
private_key, certificate_chain) clients against bin/trtserve, with
certificates made here by the openssl CLI; answers checked against ONNX
Runtime. Certificates reload on SIGHUP."""
import os
import signal
import subprocess
import time

import gevent.ssl
import numpy as np
import onnxruntime as ort
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import ROOT, TESTDATA, free_port, wait_port
from test_kserve import MODEL, batch


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}", cwd=d)
    return os.path.join(d, f"{name}.crt")


def make_cert(d, name, ca, usage):
    """<name>.crt/.key signed by <ca>, for 127.0.0.1 and localhost."""
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=d)
    return os.path.join(d, f"{name}.crt"), os.path.join(d, f"{name}.key")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """ca: the server's and clients' CA; other: a CA the server does not
    know; server/client certificates from ca, intruder's from other; ca2 and
    server2 for the SIGHUP rotation."""
    d = str(tmp_path_factory.mktemp("certs"))
    c = {"dir": d, "ca": make_ca(d, "ca"), "other": make_ca(d, "other"), "ca2": make_ca(d, "ca2")}
    c["server"] = make_cert(d, "server", "ca", "serverAuth")
    c["server2"] = make_cert(d, "server2", "ca2", "serverAuth")
    c["client"] = make_cert(d, "client", "ca", "clientAuth")
    c["intruder"] = make_cert(d, "intruder", "other", "clientAuth")
    return c


class Server:
    def __init__(self, proc, port, gport, log):
        self.proc, self.log = proc, log
        self.http, self.grpc = f"127.0.0.1:{port}", f"127.0.0.1:{gport}"


def start_tls(tmp_path_factory, certs, *args):
    """trtserve with HTTP and gRPC on TLS (the cert and key copied to files
    the test may rewrite), ready once HTTPS /readiness answers."""
    d = str(tmp_path_factory.mktemp("tls"))
    cert, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    for src, dst in zip(certs["server"], (cert, key)):
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
    binary = os.environ.get("TRTSERVE_BIN", os.path.join(ROOT, "bin", "trtserve"))
    port, gport = free_port(), free_port()
    env = dict(os.environ, PORT=str(port), MODEL_CACHE_DIR=str(tmp_path_factory.mktemp("cache")))
    log = open(os.path.join(d, "server.log"), "w+")
    proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--grpc-port", str(gport),
                             "--model-repository", os.path.join(TESTDATA, "models"),
                             "--load-models", f"{MODEL}/1", "--tls-cert", cert, "--tls-key", key, *args],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    ready, deadline = False, time.time() + 60
    while not ready and time.time() < deadline and proc.poll() is None:
        try:
            ready = requests.get(f"https://127.0.0.1:{port}/readiness", verify=certs["ca"],
                                 cert=certs["client"], timeout=1).status_code == 200
        except requests.exceptions.RequestException:
            time.sleep(0.2)
    if not ready:
        proc.kill()
        proc.wait()
        log.seek(0)
        pytest.fail("trtserve did not start:\n" + log.read())
    wait_port(gport)
    s = Server(proc, port, gport, log)
    s.cert, s.key = cert, key
    return s


def stop(s):
    s.proc.terminate()
    assert s.proc.wait(timeout=30) == 0, "trtserve did not exit 0 on SIGTERM"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, certs):
    s = start_tls(tmp_path_factory, certs)
    yield s
    stop(s)


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory, certs):
    s = start_tls(tmp_path_factory, certs, "--tls-client-ca", certs["ca"])
    yield s
    stop(s)


@pytest.fixture(scope="module")
def session():
    return ort.InferenceSession(os.path.join(TESTDATA, "models", MODEL, "1", "model.onnx"),
                                providers=["CPUExecutionProvider"])


def http_client(s, ca, client=None):
    opts = {"ca_certs": ca}
    if client:
        opts.update(certfile=client[0], keyfile=client[1])
    return httpclient.InferenceServerClient(s.http, ssl=True, ssl_options=opts,
                                            ssl_context_factory=gevent.ssl.create_default_context,
                                            connection_timeout=10, network_timeout=60)


def grpc_client(s, ca, client=None):
    return grpcclient.InferenceServerClient(s.grpc, ssl=True, root_certificates=ca,
                                            private_key=client[1] if client else None,
                                            certificate_chain=client[0] if client else None)


def infer_checked(c, mod, session):
    x = batch("bus.jpg")
    inp = mod.InferInput("images", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    got = c.infer(MODEL, [inp]).as_numpy("output0")
    np.testing.assert_allclose(got, session.run(None, {"images": x})[0], rtol=1e-4, atol=2e-3)


def refused(call):
    """The call gets no answer from the model server: its handshake is
    refused, or it speaks plaintext to TLS (which at most gets a 400 saying
    so, and readiness False)."""
    try:
        answer = call()
    except InferenceServerException as e:
        assert e.status() in ("StatusCode.UNAVAILABLE", None), e
    except Exception:  # noqa: BLE001 (ssl, socket and gevent errors alike)
        pass
    else:
        assert not answer


def test_tls_http_and_grpc(tls_server, certs, session):
    h = http_client(tls_server, certs["ca"])
    assert h.is_server_ready()
    infer_checked(h, httpclient, session)
    h.close()
    g = grpc_client(tls_server, certs["ca"])
    assert g.is_server_ready() and g.get_server_metadata().name == "trtserve"
    infer_checked(g, grpcclient, session)
    g.close()


def test_tls_refuses_plaintext_and_unknown_servers(tls_server, certs):
    # Plaintext clients get no answer.
    refused(lambda: httpclient.InferenceServerClient(tls_server.http, network_timeout=10).is_server_ready())
    refused(lambda: grpcclient.InferenceServerClient(tls_server.grpc).is_server_ready(client_timeout=10))
    # Clients that do not trust the server's CA refuse it.
    refused(lambda: http_client(tls_server, certs["other"]).is_server_ready())
    refused(lambda: grpc_client(tls_server, certs["other"]).is_server_ready(client_timeout=10))
    assert grpc_client(tls_server, certs["ca"]).is_server_live()


def test_mutual_tls(mtls_server, certs, session):
    # A client certificate from the configured CA: served.
    h = http_client(mtls_server, certs["ca"], certs["client"])
    infer_checked(h, httpclient, session)
    h.close()
    g = grpc_client(mtls_server, certs["ca"], certs["client"])
    infer_checked(g, grpcclient, session)
    g.close()
    # No client certificate, or one from another CA: refused.
    for client in (None, certs["intruder"]):
        refused(lambda: http_client(mtls_server, certs["ca"], client).is_server_ready())
        refused(lambda: grpc_client(mtls_server, certs["ca"], client).is_server_ready(client_timeout=10))
    assert grpc_client(mtls_server, certs["ca"], certs["client"]).is_server_live()


def test_sighup_reloads_the_certificate(tmp_path_factory, certs, session):
    s = start_tls(tmp_path_factory, certs)
    try:
        for src, dst in zip(certs["server2"], (s.cert, s.key)):
            with open(src, "rb") as f, open(dst + ".new", "wb") as g:
                g.write(f.read())
            os.replace(dst + ".new", dst)
        s.proc.send_signal(signal.SIGHUP)
        # New connections get the new certificate once the reload is done
        # (waited for, not timed).
        deadline = time.time() + 60
        while True:
            try:
                g = grpc_client(s, certs["ca2"])
                g.is_server_ready(client_timeout=10)
                break
            except InferenceServerException:
                assert time.time() < deadline, "the new certificate was never served"
                time.sleep(0.2)
        infer_checked(g, grpcclient, session)
        g.close()
        h = http_client(s, certs["ca2"])
        infer_checked(h, httpclient, session)
        h.close()
        refused(lambda: http_client(s, certs["ca"]).is_server_ready())
        assert s.proc.poll() is None  # SIGHUP never stops the server
    finally:
        stop(s)
