"""Issue 20: model control behind its own key, and loads that cannot blow
the server up, through the clients users have: inference-sdk (Roboflow's
routes) and tritonclient (KServe's).

The server runs with an inference key and an admin key. inference-sdk,
given the inference key, still adds a repository model (/model/add) and
infers; tritonclient needs the admin key to load or unload; and the
config bomb of issue 20 is refused with 400 naming the bound."""
import json
import os

import conftest
import pytest
import tritonclient.http as httpclient
from inference_sdk import InferenceHTTPClient
from inference_sdk.http.errors import HTTPCallErrorError
from tritonclient.utils import InferenceServerException

INFER_KEY, ADMIN_KEY = "inference-key-20", "admin-key-20"
MODEL = "yolov8n-320"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("empty-cache"))
    yield from conftest.serve(tmp_path_factory, cache, "--model-repository", os.path.join(conftest.TESTDATA, "models"),
                              "--load-models", "none", "--api-key", INFER_KEY, "--admin-api-key", ADMIN_KEY)


def bearer(key):
    return {"Authorization": "Bearer " + key}


@pytest.fixture(scope="module")
def triton(keyed):
    c = httpclient.InferenceServerClient(keyed.removeprefix("http://"))
    yield c
    c.close()


def test_sdk_adds_a_repository_model_with_the_inference_key(keyed):
    client = InferenceHTTPClient(api_url=keyed, api_key=INFER_KEY)
    client.load_model(MODEL + "/1")
    assert MODEL + "/1" in [m.model_id for m in client.list_loaded_models().models]
    result = client.infer(os.path.join(conftest.TESTDATA, "images", "bus.jpg"), model_id=MODEL + "/1")
    assert result["image"] == {"width": 810, "height": 1080}
    # Unloading is model control: the inference key is not enough (and
    # inference-sdk 1.x sends no key with unload_model at all).
    with pytest.raises(HTTPCallErrorError) as e:
        client.unload_model(MODEL + "/1")
    assert e.value.status_code in (401, 403)


def test_sdk_with_a_wrong_key_is_refused(keyed):
    client = InferenceHTTPClient(api_url=keyed, api_key="wrong")
    with pytest.raises(HTTPCallErrorError) as e:
        client.load_model(MODEL + "/1")
    assert e.value.status_code == 401


def test_triton_load_needs_the_admin_key(triton):
    with pytest.raises(InferenceServerException, match="admin key") as e:
        triton.load_model(MODEL, headers=bearer(INFER_KEY))
    assert e.value.status() == "403"
    with pytest.raises(InferenceServerException) as e:
        triton.unload_model(MODEL, headers=bearer(INFER_KEY))
    assert e.value.status() == "403"
    triton.load_model(MODEL, headers=bearer(ADMIN_KEY), config=json.dumps({"max_batch_size": 2}))
    assert triton.is_model_ready(MODEL, headers=bearer(INFER_KEY))  # metadata takes the inference key


def test_config_bomb_is_refused_with_the_bound(triton):
    bomb = json.dumps({"max_batch_size": 1000000000, "instance_count": 100000})
    with pytest.raises(InferenceServerException, match="max_batch_size 1000000000 is above the limit 1024") as e:
        triton.load_model(MODEL, headers=bearer(ADMIN_KEY), config=bomb)
    assert e.value.status() == "400"
    with pytest.raises(InferenceServerException, match="instance_count 100000 is above the limit 64"):
        triton.load_model(MODEL, headers=bearer(ADMIN_KEY), config=json.dumps({"instance_count": 100000}))
