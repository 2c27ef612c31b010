#!/usr/bin/env bash
# The main job end to end on the bundled default: the cnn-bn model pretrained on other
# Fashion-MNIST images (testdata/demo) is injected with learnable noise, fine-tuned with
# cross-regularization on the bundled 1000-image training split (φ on the 1000-image
# regularization split), exported three ways (deterministic, temperature-folded, frozen MC
# ensemble), and every model is measured by onnxruntime on the bundled 2000 test images.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-out/demo}"
BIN="${BIN:-bin/xreg-onnx}"
DATA=testdata/fmnist-small
MODEL=testdata/demo/cnn-bn-pretrained.onnx
EPOCHS="${EPOCHS:-8}"
mkdir -p "$OUT"

step() { printf '\n== %s\n' "$*"; }

step "inspect the model"
"$BIN" inspect "$MODEL"

step "inject learnable noise after every normalization node"
"$BIN" inject --force -o "$OUT/cnn-bn.xreg.onnx" "$MODEL"

step "train θ on the training split and φ (σ) on the regularization split"
"$BIN" train --force --data "$DATA/train-images-idx3-ubyte.gz" --reg-data "$DATA/reg-images-idx3-ubyte.gz" \
  --epochs "$EPOCHS" --reg-every 5 --reg-lr 0.05 --mc 4 --seed 0 \
  -o "$OUT/cnn-bn.trained.onnx" "$OUT/cnn-bn.xreg.onnx"

step "export: deterministic, temperature-scaled, and a frozen 4-draw Monte-Carlo ensemble"
"$BIN" export --force -o "$OUT/cnn-bn.onnx" "$OUT/cnn-bn.trained.onnx"
"$BIN" export --force --temperature --reg-data "$DATA/reg-images-idx3-ubyte.gz" -o "$OUT/cnn-bn.temperature.onnx" "$OUT/cnn-bn.trained.onnx"
"$BIN" export --force --mc 4 --seed 0 -o "$OUT/cnn-bn.mc4.onnx" "$OUT/cnn-bn.trained.onnx"

step "calibration report (onnxruntime, bundled test split)"
"$BIN" report --force --data "$DATA/test-images-idx3-ubyte.gz" --log "$OUT/cnn-bn.trained.onnx.log.jsonl" \
  --model "$MODEL" --name original \
  --model "$OUT/cnn-bn.onnx" --name fine-tuned \
  --model "$OUT/cnn-bn.temperature.onnx" --name temperature \
  --model "$OUT/cnn-bn.mc4.onnx" --name mc-4 \
  -o "$OUT/report"

printf '\nDone: open %s/report/report.html\n' "$OUT"
