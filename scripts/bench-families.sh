#!/usr/bin/env bash
# The model-family rows of docs/benchmarks.md: each family's tiny test model
# through the server at concurrency 64 (ONNX Runtime, CPU) and the backend
# alone (trtserve bench --raw), one after the other in one run. Needs
# `make build ort` and .venv-goldens (for the COCO class names). Usage:
#   scripts/bench-families.sh > families.txt
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
B=${B:-bin/trtserve}
PORT=${PORT:-9191}
R=$(mktemp -d) C=$(mktemp -d)
here=$PWD
for m in yolov9t-160 yolo11n-160 yolo11n-seg-160 yolo11n-pose-160 yolov7-seg-160; do
  mkdir -p "$R/$m/1" && ln -sf "$here/testdata/models/$m/weights.onnx" "$R/$m/1/model.onnx"
done
for m in yolov10n-160 yolo26n-seg-160 yolo26n-pose-160 resnet-cls-224 vit-cls-224 deeplabv3plus-128; do
  cp -r "testdata/models/$m" "$R/"
done
# YOLO-NAS and RF-DETR exports carry no metadata: Roboflow cache folders.
for m in "yolonas:yolonas-s-320:object-detection:yolo_nas_s:320" \
  "rfdetr-nano:rfdetr-nano-112:object-detection:rfdetr-nano:112" \
  "rfdetr-seg:rfdetr-seg-112:instance-segmentation:rfdetr-seg-nano:112"; do
  IFS=: read -r id f task mt sz <<<"$m"
  mkdir -p "$C/$id/1"
  ln -s "$here/testdata/models/$f/weights.onnx" "$C/$id/1/weights.onnx"
  echo "{\"project_task_type\":\"$task\",\"model_type\":\"$mt\"}" >"$C/$id/1/model_type.json"
  echo "{\"PREPROCESSING\":\"{\\\"resize\\\":{\\\"enabled\\\":true,\\\"width\\\":$sz,\\\"height\\\":$sz,\\\"format\\\":\\\"Stretch to\\\"}}\",\"RESOLUTION\":$sz}" >"$C/$id/1/environment.json"
done
.venv-goldens/bin/python -c "import json;print('\n'.join(json.load(open('testdata/goldens/class_names.json'))))" >"$C/yolonas/1/class_names.txt"
printf 'background_class83422\nperson\nbus\ncar\n' >"$C/rfdetr-nano/1/class_names.txt"
printf 'background_class83422\nperson\nbus\ncar\n' >"$C/rfdetr-seg/1/class_names.txt"
"$B" serve --port "$PORT" --model-repository "$R" --model-cache-dir "$C" --load-models none >"$R/serve.log" 2>&1 &
server=$!
trap 'kill $server; rm -rf "$R" "$C"' EXIT
for _ in $(seq 60); do curl -sf "localhost:$PORT/healthz" >/dev/null && break; sleep 1; done
run() { # model task repository-for-raw
  local id=$1 task=$2 repo=$3
  curl -s -X POST "localhost:$PORT/model/add" -H 'Content-Type: application/json' -d "{\"model_id\":\"$id\"}" >/dev/null
  echo "=== $id ($task)"
  "$B" bench --quiet --url "trtserve=http://127.0.0.1:$PORT" --model "$id" --task "$task" \
    --images testdata/bench/640 --concurrency 64 --duration 8s 2>&1 | tail -4
  echo "--- raw"
  "$B" bench --raw --model-repository "$repo" --model "$id" --duration 5s 2>&1 | tail -12
  curl -s -X POST "localhost:$PORT/model/remove" -H 'Content-Type: application/json' -d "{\"model_id\":\"$id\"}" >/dev/null
}
run yolov9t-160/1 object_detection "$R"
run yolo11n-160/1 object_detection "$R"
run yolo11n-seg-160/1 instance_segmentation "$R"
run yolo11n-pose-160/1 keypoints_detection "$R"
run yolov7-seg-160/1 instance_segmentation "$R"
run yolov10n-160/1 object_detection "$R"
run yolo26n-seg-160/1 instance_segmentation "$R"
run yolo26n-pose-160/1 keypoints_detection "$R"
run yolonas/1 object_detection "$C"
run rfdetr-nano/1 object_detection "$C"
run rfdetr-seg/1 instance_segmentation "$C"
run resnet-cls-224/1 classification "$R"
run vit-cls-224/1 classification "$R"
run deeplabv3plus-128/1 semantic_segmentation "$R"
