#!/usr/bin/env bash
# Generates the Go code of the KServe v2 / Triton gRPC protocol
# (grpcapi/inference/*.proto -> grpcapi/inference/*.pb.go) with pinned tools:
#   protoc             from PyPI's grpcio-tools (a venv in build/proto-venv)
#   protoc-gen-go      google.golang.org/protobuf  (the go.mod version)
#   protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc
# Both plugins are `go install`ed into build/bin, so the output depends only
# on the versions below, never on what is on the PATH.
#
#   scripts/gen-proto.sh            regenerate in place (make proto)
#   scripts/gen-proto.sh check      regenerate into a temporary folder and
#                                   fail if it differs from the committed
#                                   files (make proto-check, part of lint)
set -euo pipefail

GRPCIO_TOOLS_VERSION=1.85.1
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
src=grpcapi/inference
venv=build/proto-venv
bin=$root/build/bin

mkdir -p build "$bin"
if [[ ! -x $venv/bin/python || "$("$venv/bin/python" -m pip show grpcio-tools 2>/dev/null | sed -n 's/^Version: //p')" != "$GRPCIO_TOOLS_VERSION" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "grpcio-tools==$GRPCIO_TOOLS_VERSION"
fi
# A stamp per version: go install only when a pin changes (or the binary is gone).
install_plugin() { # name module@version
  local stamp="$bin/.$1.version"
  if [[ ! -x $bin/$1 || "$(cat "$stamp" 2>/dev/null)" != "$2" ]]; then
    GOBIN=$bin "$GO" install "$2"
    echo "$2" >"$stamp"
  fi
}
install_plugin protoc-gen-go "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
install_plugin protoc-gen-go-grpc "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"

gen() { # output folder
  "$venv/bin/python" -m grpc_tools.protoc -I "$src" \
    --plugin=protoc-gen-go="$bin/protoc-gen-go" --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
    --go_out="$1" --go_opt=paths=source_relative \
    --go-grpc_out="$1" --go-grpc_opt=paths=source_relative \
    "$src"/*.proto
}

case "${1:-gen}" in
gen)
  gen "$src"
  echo "generated: $(cd "$src" && ls ./*.pb.go | tr '\n' ' ')"
  ;;
check)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  gen "$tmp"
  stale=0
  for f in "$tmp"/*.pb.go; do
    if ! diff -u "$src/$(basename "$f")" "$f" >"$tmp/diff" 2>&1; then
      echo "proto-check: $src/$(basename "$f") is stale (run make proto):" >&2
      head -40 "$tmp/diff" >&2
      stale=1
    fi
  done
  for f in "$src"/*.pb.go; do
    [[ -e $tmp/$(basename "$f") ]] || { echo "proto-check: $f has no .proto any more" >&2; stale=1; }
  done
  [[ $stale == 0 ]] && echo "proto-check: generated code is up to date"
  exit $stale
  ;;
*)
  echo "usage: $0 [gen|check]" >&2
  exit 2
  ;;
esac
