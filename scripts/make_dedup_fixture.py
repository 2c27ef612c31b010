#!/usr/bin/python3
"""Makes export/testdata/torch-dedup.onnx: a torchvision-initialized conv net as torch 1.13 exports it.

Run with the Debian system interpreter (torch 1.13, onnx 1.12, numpy):

    /usr/bin/python3 scripts/make_dedup_fixture.py

The net (1×28×28 input "input", 10 logits "logits", dynamic batch axis):
    conv3x3(1→4, pad 1)→BN(4)→ReLU→conv3x3(4→4, pad 1)→BN(4)→ReLU→global average pool→flatten
    →Linear(4→10)
keeps torch's own initialization (BatchNorm weight 1, bias 0, running mean 0, running variance 1),
and is exported in eval mode with TrainingMode.PRESERVE and constant folding at opset 13. torch 1.13
deduplicates initializers with identical values: the graph keeps one initializer per distinct
BatchNorm tensor and feeds the others (bn1.running_var, bn2.weight, …) through Identity nodes —
the form that stopped `train` with `input "bn1.running_mean" must be a float initializer`. The
script checks that Identity nodes feed BatchNormalization inputs, so the fixture keeps testing that.

torch-dedup.input.npy holds 8 seeded standard-normal inputs and torch-dedup.output.npy torch's
eval-mode logits for them (one thread).
"""
import io
import os

import numpy as np
import onnx
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "export", "testdata")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def main():
    torch.manual_seed(1500)
    torch.set_num_threads(1)
    net = Net().eval()
    x = torch.from_numpy(np.random.default_rng(1500).standard_normal((8, 1, 28, 28)).astype(np.float32))
    buf = io.BytesIO()
    torch.onnx.export(net, x[:1], buf, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model, full_check=True)
    ids = {n.output[0] for n in model.graph.node if n.op_type == "Identity"}
    fed = [i for n in model.graph.node if n.op_type == "BatchNormalization" for i in n.input[1:] if i in ids]
    assert fed, "torch did not deduplicate the BatchNorm initializers: the fixture would test nothing"
    with torch.no_grad():
        y = net(x).numpy()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "torch-dedup.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    np.save(os.path.join(OUT, "torch-dedup.input.npy"), x.numpy())
    np.save(os.path.join(OUT, "torch-dedup.output.npy"), y.astype(np.float32))
    print("Identity-fed BatchNorm inputs:", ", ".join(sorted(fed)))


if __name__ == "__main__":
    main()
