"""Makes the demo's pretrained model: the protocol's cnn-bn architecture trained with PyTorch on
Fashion-MNIST train images 2000…11999 (disjoint from the protocol's train split 0…999 and
regularization split 59000…59999), 2 epochs of Adam, then exported with BatchNormalization kept.

Run with Debian's python3-torch from the repository root:
    /usr/bin/python3 scripts/make_demo_model.py
It writes testdata/demo/cnn-bn-pretrained.onnx. Only the demo (make demo) uses it; the Go build and
tests never run this script.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_fixtures import cnn_bn, export_onnx, read_idx_gz, write_atomic  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist"


def main():
    torch.manual_seed(2024)
    torch.set_num_threads(1)
    x = read_idx_gz(os.path.join(FMNIST, "train-images-idx3-ubyte.gz"))[2000:12000]
    y = read_idx_gz(os.path.join(FMNIST, "train-labels-idx1-ubyte.gz"))[2000:12000]
    x = torch.tensor(x.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.tensor(y.astype(np.int64))
    model = cnn_bn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(7)
    model.train()
    for epoch in range(2):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x) - 63, 64):
            idx = perm[i : i + 64]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}")
    model.eval()
    data = export_onnx(model, x[:1], 13)
    out = os.path.join("testdata", "demo", "cnn-bn-pretrained.onnx")
    write_atomic(out, data)
    print(f"wrote {out} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
