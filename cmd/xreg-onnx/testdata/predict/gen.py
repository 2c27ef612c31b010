"""Regenerates the predict/serve fixtures with PyTorch: a tiny CNN classifier (conv-BN-ReLU-pool-FC,
eval mode) exported to ONNX, an input batch, and torch's softmax probabilities for it.

Run from this folder with the Debian interpreter: /usr/bin/python3 gen.py
"""
import numpy as np
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(4 * 4 * 4, 5),
)
with torch.no_grad():  # non-trivial BatchNorm statistics
    model[1].running_mean.uniform_(-0.5, 0.5)
    model[1].running_var.uniform_(0.5, 2)
model.eval()
x = torch.rand(3, 1, 8, 8)
torch.onnx.export(model, x, "cnn.onnx", input_names=["image"], output_names=["logits"],
                  dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}}, opset_version=13)
np.save("x.npy", x.numpy())
with torch.no_grad():
    np.save("probs.npy", torch.softmax(model(x), dim=1).numpy().astype(np.float64))
