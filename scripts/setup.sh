#!/usr/bin/env bash
# Installs what the tool and its tests need on a fresh Debian/Ubuntu machine, idempotently:
#   - Go modules (go mod download),
#   - the onnxruntime shared library (scripts/fetch-ort.sh, from the npm package onnxruntime-node),
#   - Debian packages: libonnx-testdata (ONNX operator conformance data) and dataset-fashion-mnist
#     (the benchmark protocol's data), libdnnl-dev (oneDNN) and libopenblas-dev (OpenBLAS), which
#     the default build links through cgo (the training kernels; `go build -tags purego` needs
#     neither), plus gcc and npm when they are missing.
# Debian packages are installed when running as root (or with sudo); otherwise the script says what
# to install and the tests that need them skip with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
[ -d /usr/share/libonnx-testdata/data/node ] || need_pkgs+=(libonnx-testdata)
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need_pkgs+=(dataset-fashion-mnist)
[ -f /usr/include/oneapi/dnnl/dnnl.h ] || need_pkgs+=(libdnnl-dev)
dpkg -s libopenblas-dev >/dev/null 2>&1 || need_pkgs+=(libopenblas-dev)
command -v gcc >/dev/null 2>&1 || need_pkgs+=(gcc)
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
    echo "setup: installing Debian packages: ${need_pkgs[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "setup: please install the Debian packages: ${need_pkgs[*]} (tests that need them will skip)" >&2
  fi
fi

scripts/fetch-ort.sh
go mod download
