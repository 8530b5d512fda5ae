"""OpenCV's decode + preprocess of one JPEG, the way Roboflow's
inference-core does it for a Fit (grey edges) model: cv2.imdecode (BGR),
resize keeping the aspect ratio with INTER_LINEAR, grey 114 border,
BGR -> RGB, HWC -> CHW float32, /255. Prints ms per image (median of
rounds), for scripts/bench-decode.sh to set beside trtserve's figures.

Usage: python bench-decode.py IMAGE SIZE [ROUNDS]
"""
import statistics
import sys
import time

import cv2
import numpy as np


def letterbox(img, size):
    # inference-core's letterbox_image: int() placement, pad top/left = //2
    h, w = img.shape[:2]
    ratio = w / h
    if ratio >= 1:
        nw, nh = size, int(size / ratio)
    else:
        nw, nh = int(size * ratio), size
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = (size - nh) // 2, (size - nw) // 2
    return cv2.copyMakeBorder(resized, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT,
                              value=(114, 114, 114))


def main():
    path, size = sys.argv[1], int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    data = np.frombuffer(open(path, "rb").read(), np.uint8)
    times = []
    for _ in range(rounds + 10):
        t0 = time.perf_counter()
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
        x = letterbox(img, size)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB).transpose(2, 0, 1).astype(np.float32) / 255.0
        times.append(time.perf_counter() - t0)
    print("%.3f" % (statistics.median(times[10:]) * 1000))


if __name__ == "__main__":
    main()
