"""Images a Roboflow server reads because it decodes with OpenCV: a CMYK
JPEG and a WebP image, sent by Roboflow's own client (inference-sdk) as it
sends any file (its bytes, base64), answered as inference-core 1.8.3
answers them (testdata/goldens/formats-v5s-coco.json.gz, made by
scripts/fixtures/make_format_goldens.py with inference-core's own image
loading and YOLOv5ObjectDetection on the pretrained demo model). trtserve's
pixels for these formats equal OpenCV's exactly (vision's
TestFormatsMatchOpenCV), so the tolerances are test_sdk.py's: ONNX Runtime
float noise only.

And formats OpenCV reads that trtserve does not decode, or bytes no one
decodes, are refused with a 4xx naming the format.
"""
import base64
import os

import conftest
import pytest
import requests
from inference_sdk import InferenceConfiguration, InferenceHTTPClient
from test_sdk import check

FORMATS = os.path.join(conftest.TESTDATA, "images", "formats")
GOLDEN = conftest.golden("formats-v5s-coco")


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: c["image"] + "-" + str(c["params"]["confidence"]))
def test_cmyk_jpeg_and_webp_match_roboflow(server, case):
    client = InferenceHTTPClient(api_url=server)
    p = case["params"]
    client.configure(InferenceConfiguration(
        confidence_threshold=p["confidence"], iou_threshold=p["iou_threshold"],
        class_agnostic_nms=p["class_agnostic_nms"], max_detections=p["max_detections"]))
    result = client.infer(os.path.join(conftest.TESTDATA, "images", case["image"]), model_id="coco-yolov5s/7")
    assert result["image"] == case["image_size"]
    assert case["predictions"], "the golden should have detections to compare"
    check(result["predictions"], case["predictions"], p["confidence"], 1.0)


@pytest.mark.parametrize("name,word", [
    ("refuse-jpeg2000.jp2", "JPEG 2000"),   # OpenCV reads JPEG 2000; trtserve does not
    ("refuse-tiff-jpeg.tif", "tiff"),       # JPEG-in-TIFF: no such codec here
    ("refuse-garbage.bin", "not a JPEG"),   # OpenCV refuses it too
    ("refuse-png-truncated.png", "png"),    # likewise
])
def test_unreadable_images_get_a_4xx_naming_the_format(server, name, word):
    with open(os.path.join(FORMATS, name), "rb") as f:
        b64 = base64.b64encode(f.read()).decode()
    r = requests.post(server + "/infer/object_detection",
                      json={"model_id": "coco-yolov5s/7", "image": {"type": "base64", "value": b64}}, timeout=30)
    assert 400 <= r.status_code < 500, r.text
    assert word in r.text, r.text
