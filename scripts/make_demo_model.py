"""Makes the demo's pretrained model: a clothing classifier that has never seen shoes or bags.

The protocol's cnn-bn architecture (10 outputs) is trained with PyTorch on the Fashion-MNIST train
images 2000…49999 whose label is 0–4 or 6 (T-shirt/top, Trouser, Pullover, Dress, Coat, Shirt),
3 epochs of Adam, then exported with BatchNormalization kept. Classes 5, 7, 8, 9 (Sandal, Sneaker,
Bag, Ankle boot) are never shown to it, so their outputs only learn to stay low. The demo then
fine-tunes it on the bundled 1000 labelled images of all ten classes (train images 0…999, disjoint
from the images used here and from the regularization split 59000…59999): the new task needs
fine-tuning, and 1000 images are few enough for regularization to matter.

Run with Debian's python3-torch from the repository root:
    /usr/bin/python3 scripts/make_demo_model.py
It writes testdata/demo/cnn-bn-pretrained.onnx. Only the demo (make demo) and the finetune tests
use it; the Go build and tests never run this script.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_fixtures import cnn_bn, export_onnx, read_idx_gz, write_atomic  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist"
SEEN = [0, 1, 2, 3, 4, 6]


def main():
    torch.manual_seed(2024)
    torch.set_num_threads(1)
    x = read_idx_gz(os.path.join(FMNIST, "train-images-idx3-ubyte.gz"))[2000:50000]
    y = read_idx_gz(os.path.join(FMNIST, "train-labels-idx1-ubyte.gz"))[2000:50000]
    keep = np.isin(y, SEEN)
    x, y = x[keep], y[keep]
    x = torch.tensor(x.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.tensor(y.astype(np.int64))
    print(f"{len(x)} pretraining images of classes {SEEN}")
    model = cnn_bn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(7)
    model.train()
    for epoch in range(3):
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
