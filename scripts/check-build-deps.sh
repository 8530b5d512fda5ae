#!/usr/bin/env bash
# What `make build` needs from the system, checked without root: a C
# compiler (cgo) and libjpeg-turbo's header and library (vision's JPEG
# decoder). It installs nothing; it says what is missing and how to get it.
set -euo pipefail
cc=${CC:-cc}
fix="run scripts/install-deps.sh (it uses sudo when not root)"
if ! command -v "$cc" >/dev/null; then
  echo "make build: no C compiler ($cc): cgo needs one; $fix" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include <stddef.h>\n#include <turbojpeg.h>\nint main(void) { return tjInitDecompress() == NULL; }\n' >"$tmp/t.c"
# shellcheck disable=SC2086 # CGO_CFLAGS is a list of flags
if ! "$cc" ${CGO_CFLAGS:-} "$tmp/t.c" -lturbojpeg -o "$tmp/t" 2>"$tmp/err"; then
  echo "make build: libjpeg-turbo's turbojpeg.h and libturbojpeg are needed for vision's JPEG decoder:" >&2
  sed 's/^/  /' "$tmp/err" | head -5 >&2
  echo "$fix, or build without it: go build -tags noturbojpeg -o bin/trtserve ./cmd/trtserve (slower, pixels differ slightly)" >&2
  exit 1
fi
