#!/usr/bin/env bash
# System packages the build needs: libjpeg-turbo's headers and library for
# vision's cgo JPEG decoder. Debian/Ubuntu only; elsewhere install
# libturbojpeg yourself or build with CGO_ENABLED=0 (pure-Go JPEG, slower).
set -euo pipefail
if [ -f /usr/include/turbojpeg.h ] || [ "${CGO_ENABLED:-1}" = 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-deps: need libturbojpeg headers (turbojpeg.h); install them or build with CGO_ENABLED=0" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libturbojpeg0-dev >/dev/null
