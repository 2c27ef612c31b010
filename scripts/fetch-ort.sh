#!/usr/bin/env bash
# Fetches the onnxruntime shared library (x86-64 Linux) from the npm package onnxruntime-node, which
# ships it, into third_party/onnxruntime/ (git-ignored). Idempotent: does nothing when it is there.
# Override the version with ORT_NPM_VERSION; the library must expose ORT API version >= 24.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${ORT_NPM_VERSION:-1.30.0}"
dest="third_party/onnxruntime"
lib="$dest/libonnxruntime.so.1"
if [ -s "$lib" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-ort: npm is needed to fetch onnxruntime-node@$version (apt-get install npm)" >&2
  exit 1
fi
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "fetch-ort: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-ort: fetching onnxruntime-node@$version from the npm registry" >&2
(cd "$tmp" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp" "package/bin/napi-v6/linux/$arch/"
mkdir -p "$dest"
cp "$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "$version" > "$dest/VERSION"
echo "fetch-ort: installed $lib" >&2
