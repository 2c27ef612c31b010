#!/usr/bin/python3
"""Makes the instance- and group-normalization fixture models that the Go tests stand on.

Run from anywhere with the Debian system interpreter (torch 1.13, onnx 1.12, numpy):

    /usr/bin/python3 scripts/make_norm_fixtures.py

It writes, in testdata/models/, NAME.onnx, NAME.input.npy, NAME.output.npy for each model below and
norm-manifest.json (facts derived from each final graph: op counts, the number of
InstanceNormalization and GroupNormalization nodes, shapes, hashes). The models are not listed in
manifest.json: the tests reading that one expect only BatchNormalization and LayerNorm points and
64-example reference batches.

Every model is the same small conv net on 1×28×28 inputs,
    conv3x3(1→16, pad 1)→NORM(16)→ReLU→maxpool2→conv3x3(16→32, pad 1)→NORM(32)→ReLU→maxpool2
    →flatten→Linear(1568→10),
float32, eval mode, input "input" and output "logits" with a dynamic batch axis, exported with
TrainingMode.PRESERVE and constant folding. The normalization layers get random affine parameters
(weight U(0.5,1.5), bias U(-0.25,0.25)) so that they are not identities.

- cnn-in (opset 13): NORM = InstanceNorm2d(C, affine=True); torch exports one
  InstanceNormalization node per layer, with per-channel scale and B.
- cnn-gn (opset 18): NORM = GroupNorm(4, C). torch 1.13 cannot export opset 18 (its maximum is 17)
  and at every opset it supports it spells GroupNorm out as Reshape(x, [0, G, -1]) →
  InstanceNormalization(ones(G), zeros(G)) → Reshape(·, Shape(x)) → Mul(weight) → Add(bias).
  The script exports at opset 13 and replaces each such chain by one GroupNormalization node,
  raising the opset to 18 (no other op of the net changed definition between 13 and 18). Opset 18
  gives GroupNormalization one scale and one bias value per GROUP, so the torch weights are drawn
  per group and repeated over each group's channels: the fused node computes exactly the torch
  layer.
- cnn-gn-op21 (opset 21): the same, with per-channel random weights and GroupNormalization-21 (one
  scale and bias value per CHANNEL).
- cnn-gn-op13 (opset 13): torch's own decomposition kept (same weights as cnn-gn-op21), except that
  the Shape node feeding the second Reshape (an op the executor does not support) is replaced by a
  Constant of the static shape [0, C, H, W]: the normalization points are InstanceNormalization
  nodes on N×G×(C/G·H·W) tensors, with constant scale and bias.

onnx 1.12 knows opsets up to 17: the opset-13 models pass onnx.checker (full check); the opset-18
and -21 ones are checked only structurally here, and by onnxruntime in the Go tests (which also
compare onnxruntime with NAME.output.npy). Reference arrays: NAME.input.npy holds the first 8
Fashion-MNIST t10k images scaled x/255 (8×1×28×28 float32), NAME.output.npy torch's eval-mode
output on them.
"""

import collections
import hashlib
import io
import json
import os
import sys
import warnings

import numpy as np
import onnx
import onnx.checker
import onnx.helper
import onnx.numpy_helper
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (shared file and data helpers)

BATCH = 8
GROUPS = 4
OUT_DIR = mf.MODELS_DIR
MANIFEST = "norm-manifest.json"
IR_VERSION = {13: 7, 18: 8, 21: 10}  # the IR version of the onnx release that introduced the opset


def cnn(norm):
    return nn.Sequential(
        collections.OrderedDict(
            conv1=nn.Conv2d(1, 16, 3, padding=1),
            norm1=norm(16),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(16, 32, 3, padding=1),
            norm2=norm(32),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc=nn.Linear(32 * 7 * 7, 10),
        )
    )


def randomize(model, seed, per_group):
    """Random affine parameters for every norm layer (per group when per_group: one draw per group,
    repeated over its channels) and random biases for the convolutions and the linear layer."""
    g = torch.Generator().manual_seed(seed)

    def uniform(n, lo, hi):
        return torch.rand(n, generator=g) * (hi - lo) + lo

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.InstanceNorm2d, nn.GroupNorm)):
                c = m.weight.numel()
                if per_group:
                    m.weight.copy_(uniform(GROUPS, 0.5, 1.5).repeat_interleave(c // GROUPS))
                    m.bias.copy_(uniform(GROUPS, -0.25, 0.25).repeat_interleave(c // GROUPS))
                else:
                    m.weight.copy_(uniform(c, 0.5, 1.5))
                    m.bias.copy_(uniform(c, -0.25, 0.25))
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                m.bias.copy_(uniform(m.bias.numel(), -0.1, 0.1))
    return model


def export(model, x, opset):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            x,
            buf,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
            training=torch.onnx.TrainingMode.PRESERVE,
            do_constant_folding=True,
        )
    return onnx.load_from_string(buf.getvalue())


def const_value(g, name):
    """The value of a Constant node's output or an initializer, else None."""
    for t in g.initializer:
        if t.name == name:
            return onnx.numpy_helper.to_array(t)
    for n in g.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return onnx.numpy_helper.to_array(n.attribute[0].t)
    return None


class Chain:
    """One decomposed torch GroupNorm: Reshape → InstanceNormalization → Reshape(Shape) → Mul → Add."""

    def __init__(self, g, inorm):
        prod = {o: n for n in g.node for o in n.output}
        cons = collections.defaultdict(list)
        for n in g.node:
            for i in n.input:
                cons[i].append(n)
        self.inorm = inorm
        self.reshape1 = prod[inorm.input[0]]
        (self.reshape2,) = cons[inorm.output[0]]
        self.shape = prod[self.reshape2.input[1]]
        (self.mul,) = cons[self.reshape2.output[0]]
        (self.add,) = cons[self.mul.output[0]]
        kinds = [n.op_type for n in (self.reshape1, self.reshape2, self.shape, self.mul, self.add)]
        if kinds != ["Reshape", "Reshape", "Shape", "Mul", "Add"]:
            raise SystemExit(f"make_norm_fixtures: unexpected GroupNorm export around {inorm.name}: {kinds}")
        self.x = self.reshape1.input[0]
        target = const_value(g, self.reshape1.input[1])
        self.groups = int(target[1])
        self.scale_name = self.mul.input[1]
        self.bias_name = self.add.input[1]
        self.eps = next((a.f for a in inorm.attribute if a.name == "epsilon"), 1e-5)
        ones, zeros = const_value(g, inorm.input[1]), const_value(g, inorm.input[2])
        if target.tolist() != [0, self.groups, -1] or not (np.all(ones == 1) and np.all(zeros == 0)):
            raise SystemExit(f"make_norm_fixtures: {inorm.name}: not torch's GroupNorm decomposition")


def chains(model):
    g = model.graph
    return [Chain(g, n) for n in g.node if n.op_type == "InstanceNormalization"]


def drop_unused(g):
    """Removes nodes and initializers nothing reads (the graph output excepted)."""
    while True:
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        for n in dead:
            g.node.remove(n)
        if not dead:
            break
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)


def fuse_group_norm(model, opset):
    """Replaces each torch GroupNorm chain by one GroupNormalization node at the given opset (18:
    per-group scale and bias, which must then be constant within each group; 21: per channel)."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    for k, c in enumerate(chains(model)):
        w = onnx.numpy_helper.to_array(inits[c.scale_name]).reshape(-1)
        b = onnx.numpy_helper.to_array(inits[c.bias_name]).reshape(-1)
        if opset < 21:
            per = w.size // c.groups
            wg, bg = w.reshape(c.groups, per), b.reshape(c.groups, per)
            if not (np.all(wg == wg[:, :1]) and np.all(bg == bg[:, :1])):
                raise SystemExit("make_norm_fixtures: opset 18 needs weights constant within each group")
            w, b = wg[:, 0].copy(), bg[:, 0].copy()
        prefix = f"norm{k + 1}"
        g.initializer.extend(
            [onnx.numpy_helper.from_array(w, f"{prefix}.weight"), onnx.numpy_helper.from_array(b, f"{prefix}.bias")]
        )
        node = onnx.helper.make_node(
            "GroupNormalization",
            [c.x, f"{prefix}.weight", f"{prefix}.bias"],
            [c.add.output[0]],
            name=f"/{prefix}/GroupNormalization",
            num_groups=c.groups,
            epsilon=c.eps,
        )
        pos = list(g.node).index(c.reshape1)
        g.node.insert(pos, node)
        for n in (c.add, c.mul, c.reshape2, c.shape, c.inorm, c.reshape1):
            g.node.remove(n)
    drop_unused(g)
    set_opset(model, opset)
    return model


def fold_shape(model, shapes):
    """Replaces the Shape node of each GroupNorm chain by a Constant [0, C, H, W], given the input
    shape of each norm layer in graph order (0 keeps the batch size)."""
    g = model.graph
    cs = chains(model)
    if len(cs) != len(shapes):
        raise SystemExit(f"make_norm_fixtures: {len(cs)} GroupNorm chains for {len(shapes)} norm layers")
    for c, dims in zip(cs, shapes):
        const = onnx.helper.make_node(
            "Constant",
            [],
            [c.shape.output[0]],
            name=c.shape.name + "_folded",
            value=onnx.numpy_helper.from_array(np.array([0] + list(dims[1:]), dtype=np.int64)),
        )
        g.node.insert(list(g.node).index(c.shape), const)
        g.node.remove(c.shape)
    return model


def norm_input_shapes(model, x):
    """The input shape of every GroupNorm layer of model on x, in forward order."""
    shapes = []
    hooks = [
        m.register_forward_hook(lambda _m, inp, _out: shapes.append(tuple(inp[0].shape)))
        for m in model.modules()
        if isinstance(m, nn.GroupNorm)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return shapes


def set_opset(model, opset):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = opset
    model.ir_version = IR_VERSION[opset]


def facts(model, data):
    g = model.graph
    ops = collections.Counter(n.op_type for n in g.node)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset <= 17:
        onnx.checker.check_model(model, full_check=True)
    if [i.name for i in g.input] != ["input"] or [o.name for o in g.output] != ["logits"]:
        raise SystemExit("make_norm_fixtures: inputs/outputs are not input/logits")
    unsupported = sorted(set(ops) - mf.ALLOWED_OPS - {"InstanceNormalization", "GroupNormalization"})
    if unsupported:
        raise SystemExit(f"make_norm_fixtures: op types outside the allowed set: {unsupported}")
    return dict(
        opset=opset,
        ir_version=model.ir_version,
        ops=dict(sorted(ops.items())),
        nodes=len(g.node),
        instance_norm=ops.get("InstanceNormalization", 0),
        group_norm=ops.get("GroupNormalization", 0),
        batch_norm=ops.get("BatchNormalization", 0),
        layer_norm=ops.get("LayerNormalization", 0),
        initializers=len(g.initializer),
        initializer_elements=int(sum(int(np.prod(t.dims)) for t in g.initializer)),
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


SPECS = [
    dict(
        name="cnn-in",
        norm=lambda c: nn.InstanceNorm2d(c, affine=True),
        per_group=False,
        seed=2000,
        make=lambda model, x: export(model, x, 13),
        how="InstanceNorm2d(C, affine=True) after each conv; torch's opset-13 export "
        "(InstanceNormalization with per-channel scale and B).",
    ),
    dict(
        name="cnn-gn",
        norm=lambda c: nn.GroupNorm(GROUPS, c),
        per_group=True,
        seed=2100,
        make=lambda model, x: fuse_group_norm(export(model, x, 13), 18),
        how="GroupNorm(4, C) after each conv with weights drawn per group; torch 1.13 exports at most "
        "opset 17 and decomposes GroupNorm, so each Reshape→InstanceNormalization→Reshape→Mul→Add "
        "chain of its opset-13 export is fused into one GroupNormalization (opset 18, per-group "
        "scale and bias).",
    ),
    dict(
        name="cnn-gn-op21",
        norm=lambda c: nn.GroupNorm(GROUPS, c),
        per_group=False,
        seed=2200,
        make=lambda model, x: fuse_group_norm(export(model, x, 13), 21),
        how="GroupNorm(4, C) with per-channel weights; torch's opset-13 decomposition fused into "
        "GroupNormalization (opset 21, per-channel scale and bias).",
    ),
    dict(
        name="cnn-gn-op13",
        norm=lambda c: nn.GroupNorm(GROUPS, c),
        per_group=False,
        seed=2200,
        make=lambda model, x: fold_shape(export(model, x, 13), norm_input_shapes(model, x)),
        how="the cnn-gn-op21 net as torch 1.13 exports it at opset 13 (Reshape→InstanceNormalization"
        "(constant ones, zeros)→Reshape→Mul→Add per GroupNorm), with the Shape node feeding the "
        "second Reshape replaced by a Constant [0, C, H, W].",
    ),
]


def main():
    torch.set_num_threads(1)
    x = mf.fmnist_reference_input()[:BATCH].copy()
    manifest = {}
    for spec in SPECS:
        torch.manual_seed(spec["seed"])
        model = randomize(cnn(spec["norm"]), spec["seed"] + 1, spec["per_group"]).eval()
        xt = torch.from_numpy(x)
        with torch.no_grad():
            y = model(xt).numpy().astype(np.float32)
        onnx_model = spec["make"](model, xt)
        data = onnx_model.SerializeToString()
        info = facts(onnx_model, data)
        name = spec["name"]
        mf.write_atomic(os.path.join(OUT_DIR, f"{name}.onnx"), data)
        mf.write_atomic(os.path.join(OUT_DIR, f"{name}.input.npy"), mf.npy_bytes(x))
        mf.write_atomic(os.path.join(OUT_DIR, f"{name}.output.npy"), mf.npy_bytes(y))
        info.update(
            file=f"{name}.onnx",
            input_shape=["batch", 1, 28, 28],
            output_shape=["batch", 10],
            batch=BATCH,
            params=int(sum(p.numel() for p in model.parameters())),
            seed=spec["seed"],
            how=spec["how"],
            output_std=round(float(np.std(y)), 4),
        )
        manifest[name] = info
        print(
            f"{name}: opset {info['opset']}, {info['bytes']} bytes, InstanceNormalization "
            f"{info['instance_norm']}, GroupNormalization {info['group_norm']}, output std "
            f"{info['output_std']}\n  ops {info['ops']}",
            flush=True,
        )
    mf.write_atomic(
        os.path.join(OUT_DIR, MANIFEST),
        (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(),
    )


if __name__ == "__main__":
    sys.exit(main())
