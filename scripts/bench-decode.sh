#!/usr/bin/env bash
# Decode + preprocess of one 1920x1080 q90 JPEG into a 640x640 letterboxed
# float tensor, three decoders of trtserve (go test -bench) and OpenCV the
# way inference-core does it (scripts/bench-decode.py, in .venv), back to
# back in one run, as a markdown table with ratios. `make bench-decode`.
set -euo pipefail
cd "$(dirname "$0")/.."
img=testdata/images/zidane_1080p.jpg
out=$(go test -run '^$' -bench DecodePreprocess1080p -benchtime 2s -count "${COUNT:-3}" ./vision/)
cv=()
for _ in $(seq "${COUNT:-3}"); do cv+=("$(.venv/bin/python scripts/bench-decode.py "$img" 640 300)"); done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { echo "$out" | awk -v n="$1" '$1 ~ n {printf "%.3f\n", $3/1e6}'; }
turbo=$(median $(ms 'libjpeg-turbo/full'))
dct=$(median $(ms 'libjpeg-turbo/dct-scaled'))
gojpeg=$(median $(ms 'image-jpeg/full'))
opencv=$(median "${cv[@]}")
echo "$img -> 640x640 letterbox, median of ${COUNT:-3} runs each (ms/image):"
echo
echo "| decoder | ms/image | ÷ image/jpeg | ÷ OpenCV |"
echo "|---|---|---|---|"
for row in "libjpeg-turbo, full decode (default):$turbo" "libjpeg-turbo, DCT 1/2 scale (--jpeg-dct-scaling):$dct" \
  "Go image/jpeg (-tags noturbojpeg):$gojpeg" "OpenCV $(.venv/bin/python -c 'import cv2; print(cv2.__version__)') imdecode + inference-core letterbox:$opencv"; do
  name=${row%:*} v=${row##*:}
  awk -v n="$name" -v v="$v" -v g="$gojpeg" -v o="$opencv" 'BEGIN {printf "| %s | %.2f | %.2f | %.2f |\n", n, v, v/g, v/o}'
done
