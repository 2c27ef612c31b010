#!/usr/bin/python3
"""Writes groupnorm.json, the GroupNormalization / InstanceNormalization references of
groupnorm_test.go (run once with the Debian interpreter, the file is committed; the Go tests never
run Python):

    /usr/bin/python3 internal/kernels/testdata/groupnorm_make.py

Every case holds float64 inputs x, scale and B (scale and B absent for a case without affine
parameters), a random upstream gradient dy, the output y of torch (F.instance_norm for the
"InstanceNormalization" cases, F.group_norm for the "GroupNormalization" ones) and torch autograd's
gradients of sum(y*dy) with respect to each input. Attributes: groups, epsilon, and "affine":
"channel" (scale and B hold one value per channel: ONNX InstanceNormalization and
GroupNormalization opset 21) or "group" (one value per group: ONNX GroupNormalization opset 18;
torch gets them repeated over the channels of each group, so that autograd sums the per-group
gradients). y is cross-checked against a direct numpy transcription of the ONNX formula.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20250618)


def arr(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


def onnx_reference(x, groups, scale, bias, affine, eps):
    """y = (x - mean) / sqrt(var + eps) * scale + bias over N x groups blocks, as the ONNX spec."""
    n, c = x.shape[:2]
    xr = x.reshape(n, groups, -1)
    mean = xr.mean(axis=2, keepdims=True)
    var = xr.var(axis=2, keepdims=True)
    y = ((xr - mean) / np.sqrt(var + eps)).reshape(x.shape)
    if scale is None:
        return y
    ones = (1,) * (x.ndim - 2)
    if affine == "group":
        scale = np.repeat(scale, c // groups)
        bias = np.repeat(bias, c // groups)
    return y * scale.reshape(-1, *ones) + bias.reshape(-1, *ones)


def case(name, op, shape, groups, eps, affine="channel", offset=0.0, spread=1.0):
    c = shape[1]
    x = rng.standard_normal(shape) * spread + offset
    tx = torch.tensor(x, requires_grad=True)
    inputs = {"x": arr(x)}
    ts = tb = None
    scale = bias = None
    if affine is not None:
        k = c if affine == "channel" else groups
        scale = rng.uniform(0.5, 1.5, k)
        bias = rng.uniform(-0.5, 0.5, k)
        ts = torch.tensor(scale, requires_grad=True)
        tb = torch.tensor(bias, requires_grad=True)
        inputs["scale"] = arr(scale)
        inputs["B"] = arr(bias)
    w, b = ts, tb
    if affine == "group":
        w, b = ts.repeat_interleave(c // groups), tb.repeat_interleave(c // groups)
    if op == "InstanceNormalization":
        assert groups == c
        y = F.instance_norm(tx, weight=w, bias=b, eps=eps)
    else:
        y = F.group_norm(tx, groups, weight=w, bias=b, eps=eps)
    dy = rng.standard_normal(y.shape)
    (y * torch.tensor(dy)).sum().backward()
    ref = onnx_reference(x, groups, scale, bias, affine, eps)
    err = np.max(np.abs(ref - y.detach().numpy()))
    assert err < 1e-12, (name, err)
    grads = {"x": arr(tx.grad)}
    if ts is not None:
        grads["scale"] = arr(ts.grad)
        grads["B"] = arr(tb.grad)
    attrs = {"groups": groups, "epsilon": eps, "affine": affine or "none"}
    return {"name": name, "op": op, "attrs": attrs, "torch_checked": True, "inputs": inputs,
            "dy": arr(dy), "y": arr(y.detach()), "grads": grads}


cases = [
    case("instance 4-D", "InstanceNormalization", (3, 4, 5, 5), 4, 1e-5),
    case("instance 3-D eps1e-2", "InstanceNormalization", (2, 3, 7), 3, 1e-2),
    case("instance 5-D", "InstanceNormalization", (2, 2, 3, 2, 3), 2, 1e-5),
    case("instance no affine", "InstanceNormalization", (2, 3, 4, 4), 3, 1e-5, affine=None),
    case("instance offset 20", "InstanceNormalization", (2, 3, 6, 6), 3, 1e-5, offset=20.0),
    case("group 6/3 per-channel (opset 21)", "GroupNormalization", (2, 6, 4, 3), 3, 1e-5),
    case("group 6/3 per-group (opset 18)", "GroupNormalization", (2, 6, 4, 3), 3, 1e-5, affine="group"),
    case("group 8/4 per-group 3-D", "GroupNormalization", (3, 8, 5), 4, 1e-3, affine="group"),
    case("group 1 (layer-norm-like) 5-D", "GroupNormalization", (2, 4, 2, 3, 2), 1, 1e-5),
    case("group 8/2 rank 2", "GroupNormalization", (5, 8), 2, 1e-5),
    case("group 4/4 per-group = per-channel", "GroupNormalization", (2, 4, 3, 3), 4, 1e-5, affine="group"),
]

out = os.path.join(here, "groupnorm.json")
with open(out + ".tmp", "w") as f:
    json.dump({"generator": f"groupnorm_make.py (torch {torch.__version__}, numpy {np.__version__})", "cases": cases}, f)
    f.write("\n")
os.replace(out + ".tmp", out)
print(f"wrote {len(cases)} cases")
