#!/usr/bin/python3
"""Makes the model zoo: the torchvision classification family exported by torch at several opsets.

Run from anywhere with the Debian interpreter (torch 1.13, torchvision 0.14, onnx, numpy):

    /usr/bin/python3 scripts/make_zoo.py            # tiny widths, committed: testdata/zoo/
    /usr/bin/python3 scripts/make_zoo.py --large    # torchvision's widths: testdata/zoo-large/
                                                    # (git-ignored; make fixtures-large)
    /usr/bin/python3 scripts/make_zoo.py --ops      # print the op types of each export only

Every architecture is built at a reduced width for the committed set (every Conv2d, Linear and
BatchNorm2d channel count divided by a factor, or the architecture's own width parameters) at a
small input, and exported in eval mode with TrainingMode.PRESERVE (so that BatchNormalization
nodes stay), input "input" (batch axis dynamic) and output "logits". Variants, NAME = ARCH-INIT-opN:
  - ARCH-rnd-op9/11/13/17: every normalization layer's affine parameters and
    running statistics randomized, and a layer initialized to zero (vit's head) too ("rnd");
  - ARCH-tv-op9/11/13/17: torchvision's own initialization ("tv": BatchNorm
    statistics 0 and 1, which torch deduplicates behind Identity nodes);
  - ARCH-rnd-op13-train: exported with TrainingMode.TRAINING (BatchNormalization with its
    running-statistics outputs, Dropout with its mask); dropout p is set to 0 so that the torch
    reference (the module in train() mode: batch statistics) is deterministic;
  - ARCH-rnd-op9-p2o: the opset-9 export rewritten in the paddle2onnx/tf2onnx style: every
    initializer moved into a Constant node, the input taken in NHWC through a Transpose.
Where torch cannot export a pair, manifest.json records its error instead of a file.

The committed set spends at most ARCH_BUDGET bytes per architecture (the variants past it, in
KEEP_ORDER, are in the --large set only). Its models have short node and value names (compact()), which are most of a tiny
model's bytes. No arrays are stored: the reference input of every model is x[i] = float32(sin(0.37·i + 0.1)) over
the flat index i of a batch of 8 NCHW images (NHWC for -p2o: the same images transposed), and
manifest.json holds torch's logits on it ("torch_logits", 8×10, row-major).

The output is deterministic: fixed seeds, one torch thread, sorted JSON.
"""

import argparse
import copy
import io
import json
import math
import os
import sys
import tempfile
import warnings

import numpy as np
import onnx
import onnx.checker
import onnx.helper
import onnx.numpy_helper
import torch
import torch.nn as nn
import torchvision.models as tvm
from torchvision.models import convnext as tv_convnext
from torchvision.models import regnet as tv_regnet
from torchvision.models import swin_transformer as tv_swin
from torchvision.models import vision_transformer as tv_vit
from torchvision.ops import StochasticDepth

from make_fixtures import write_atomic  # same folder

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SMALL_DIR = os.path.join(ROOT, "testdata", "zoo")
LARGE_DIR = os.path.join(ROOT, "testdata", "zoo-large")
OPSETS = (9, 11, 13, 17)
CLASSES = 10
BATCH = 8

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


# ---------------------------------------------------------------------------------------------
# Reduced widths


def shrink(model, k):
    """Divides the channel counts of every Conv2d, Linear and BatchNorm2d by k (keeping 3 input
    channels and CLASSES outputs); groups follow (a depthwise conv stays depthwise)."""
    if k == 1:
        return model

    def div(c):
        return c if c in (3, CLASSES) else max(1, c // k)

    for name, m in list(model.named_children()):
        if isinstance(m, nn.Conv2d):
            cin, cout = div(m.in_channels), div(m.out_channels)
            g = cin if m.groups == m.in_channels else math.gcd(m.groups, math.gcd(cin, cout))
            new = nn.Conv2d(cin, cout, m.kernel_size, m.stride, m.padding, m.dilation, g, m.bias is not None)
        elif isinstance(m, nn.Linear):
            new = nn.Linear(div(m.in_features), div(m.out_features), m.bias is not None)
        elif isinstance(m, nn.BatchNorm2d):
            new = nn.BatchNorm2d(div(m.num_features), m.eps, m.momentum)
        else:
            shrink(m, k)
            continue
        setattr(model, name, new)
    return model


def no_adaptive(model, attr="avgpool"):
    """Replaces an adaptive pool to a fixed size (7×7, 6×6) that a small input cannot reach with
    a global one, and resizes the first Linear after it."""
    setattr(model, attr, nn.AdaptiveAvgPool2d(1))
    return model


def first_linear(seq):
    for i, m in enumerate(seq):
        if isinstance(m, nn.Linear):
            return i, m
    raise ValueError("no Linear")


def fix_classifier(model, channels):
    i, lin = first_linear(model.classifier)
    model.classifier[i] = nn.Linear(channels, lin.out_features, lin.bias is not None)
    return model


def alexnet(k):
    m = shrink(tvm.alexnet(num_classes=CLASSES), k)
    no_adaptive(m)
    return fix_classifier(m, 256 // k), 64


def vgg(k, bn):
    m = shrink((tvm.vgg11_bn if bn else tvm.vgg11)(num_classes=CLASSES), k)
    no_adaptive(m)
    return fix_classifier(m, 512 // k), 32


def squeezenet(k):
    return shrink(tvm.squeezenet1_1(num_classes=CLASSES), k), 64


def resnet(k, kind):
    ctor = {"resnet18": tvm.resnet18, "wide_resnet50_2": tvm.wide_resnet50_2, "resnext50_32x4d": tvm.resnext50_32x4d}[kind]
    return shrink(ctor(num_classes=CLASSES), k), 32


def densenet(k):
    if k == 1:
        return tvm.densenet121(num_classes=CLASSES), 32
    return tvm.DenseNet(growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8, bn_size=2, num_classes=CLASSES), 32


def googlenet(k):
    m = tvm.googlenet(num_classes=CLASSES, aux_logits=False, init_weights=True)
    return shrink(m, k), 32


def inception_v3(k):
    m = tvm.inception_v3(num_classes=CLASSES, aux_logits=False, init_weights=True)
    return shrink(m, k), 75


def shufflenet(k):
    if k == 1:
        return tvm.shufflenet_v2_x0_5(num_classes=CLASSES), 32
    return tvm.ShuffleNetV2([1, 1, 1], [8, 8, 16, 32, 64], num_classes=CLASSES), 32


def mobilenet_v2(k):
    return shrink(tvm.mobilenet_v2(num_classes=CLASSES), k), 32


def mobilenet_v3(k):
    return shrink(tvm.mobilenet_v3_small(num_classes=CLASSES), k), 32


def mnasnet(k):
    return shrink(tvm.MNASNet(1.0, num_classes=CLASSES), k), 32


def efficientnet(k):
    return shrink(tvm.efficientnet_b0(num_classes=CLASSES), k), 32


def regnet(k):
    if k == 1:
        return tvm.regnet_y_400mf(num_classes=CLASSES), 32
    params = tv_regnet.BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, group_width=4, se_ratio=0.25)
    return tv_regnet.RegNet(params, num_classes=CLASSES, stem_width=8), 32


def convnext(k):
    if k == 1:
        return tvm.convnext_tiny(num_classes=CLASSES), 64
    C = tv_convnext.CNBlockConfig
    setting = [C(4, 8, 1), C(8, 16, 1), C(16, None, 1)]
    return tv_convnext.ConvNeXt(setting, num_classes=CLASSES), 64


def vit(k):
    if k == 1:
        return tv_vit.VisionTransformer(image_size=32, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072, num_classes=CLASSES), 32
    return tv_vit.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=CLASSES), 32


def swin(k):
    if k == 1:
        return tvm.swin_t(num_classes=CLASSES), 64
    # Two blocks in the first stage: the second shifts its windows (torch.roll, and the attention
    # mask built with ScatterND), as every second block of swin_t does.
    return tv_swin.SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 1], num_heads=[2, 2], window_size=[4, 4], num_classes=CLASSES), 32


# name -> (builder(k) -> (model, input size), width divisor of the committed set)
ARCHS = {
    "alexnet": (alexnet, 128),
    "vgg11": (lambda k: vgg(k, False), 128),
    "vgg11_bn": (lambda k: vgg(k, True), 128),
    "squeezenet1_1": (squeezenet, 32),
    "resnet18": (lambda k: resnet(k, "resnet18"), 64),
    "wide_resnet50_2": (lambda k: resnet(k, "wide_resnet50_2"), 256),
    "resnext50_32x4d": (lambda k: resnet(k, "resnext50_32x4d"), 128),
    "densenet": (densenet, 0),
    "googlenet": (googlenet, 128),
    "inception_v3": (inception_v3, 128),
    "shufflenet_v2": (shufflenet, 0),
    "mobilenet_v2": (mobilenet_v2, 64),
    "mobilenet_v3_small": (mobilenet_v3, 64),
    "mnasnet": (mnasnet, 64),
    "efficientnet_b0": (efficientnet, 64),
    "regnet": (regnet, 0),
    "convnext": (convnext, 0),
    "vit": (vit, 0),
    "swin": (swin, 0),
}


# ---------------------------------------------------------------------------------------------
# Initialisation


def randomize(model, seed):
    """Random affine parameters and running statistics for every normalization layer."""
    g = torch.Generator().manual_seed(seed)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) * (hi - lo) + lo)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                uniform(m.weight, 0.5, 1.5)
                uniform(m.bias, -0.25, 0.25)
                uniform(m.running_mean, -0.25, 0.25)
                uniform(m.running_var, 0.5, 1.5)
            elif isinstance(m, nn.LayerNorm) and m.elementwise_affine:
                uniform(m.weight, 0.5, 1.5)
                uniform(m.bias, -0.25, 0.25)
            elif isinstance(m, (nn.Linear, nn.Conv2d)) and not torch.any(m.weight != 0):
                # vit's head starts at zero: its logits would be 0 and no gradient reach the body
                uniform(m.weight, -0.2, 0.2)
    return model


def no_dropout(model):
    """Dropout and stochastic depth off (p = 0), so that a train() export is deterministic and
    torch can export it (it cannot export stochastic depth's Bernoulli)."""
    for m in model.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout2d, StochasticDepth)):
            m.p = 0.0
    return model


# ---------------------------------------------------------------------------------------------
# Export


def export(model, x, opset, training=False):
    buf = io.BytesIO()
    mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.PRESERVE
    torch.onnx.export(
        model, x, buf, opset_version=opset, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, training=mode,
        do_constant_folding=not training,
    )
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m, full_check=True)
    return m


def to_p2o_style(m):
    """Rewrites a model the way paddle2onnx/tf2onnx write theirs: every initializer becomes a
    Constant node, and the graph takes NHWC input through a Transpose to NCHW."""
    g = m.graph
    consts = [onnx.helper.make_node("Constant", [], [t.name], name="const_" + t.name, value=t) for t in g.initializer]
    del g.initializer[:]
    inp = g.input[0]
    dims = inp.type.tensor_type.shape.dim
    n, c, h, w = [d for d in dims]
    nhwc = onnx.helper.make_tensor_value_info("input_nhwc", inp.type.tensor_type.elem_type, ["batch", h.dim_value, w.dim_value, c.dim_value])
    tr = onnx.helper.make_node("Transpose", ["input_nhwc"], ["input"], name="nhwc_to_nchw", perm=[0, 3, 1, 2])
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(consts + [tr] + nodes)
    del g.input[:]
    g.input.append(nhwc)
    onnx.checker.check_model(m, full_check=True)
    return m


def compact(m):
    """Shortens node and intermediate value names (torch's "/layer4/layer4.0/conv2/Conv_output_0"),
    which are most of a tiny model's bytes; graph inputs, outputs and initializers keep theirs."""
    keep = {v.name for v in m.graph.input} | {v.name for v in m.graph.output} | {t.name for t in m.graph.initializer}
    names = {}
    for i, n in enumerate(m.graph.node):
        n.name = f"{n.op_type}_{i}"
        n.doc_string = ""
        for j, o in enumerate(n.output):
            if o and o not in keep:
                names[o] = f"v{i}" if j == 0 else f"v{i}_{j}"
                n.output[j] = names[o]
    for n in m.graph.node:
        for j, x in enumerate(n.input):
            if x in names:
                n.input[j] = names[x]
    del m.graph.value_info[:]
    onnx.checker.check_model(m, full_check=True)
    return m


def op_types(m):
    out = {}
    for n in m.graph.node:
        out[n.op_type] = out.get(n.op_type, 0) + 1
    return dict(sorted(out.items()))


def ort_check(m, x, want):
    try:
        import onnxruntime as ort  # optional
    except ImportError:
        return None
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    got = s.run(None, {s.get_inputs()[0].name: x})[0]
    return float(np.max(np.abs(got - want)))


# The committed set's budget per architecture; variants are kept in this order until it is spent
# (the rest are in the --large set only).
ARCH_BUDGET = 300_000
# Architectures whose budget is larger: torch 1.13 cannot export shufflenet_v2-tv-op9 at full width
# (prim::ConstantChunk of an unknown dimension size), so its reduced-width export is committed.
ARCH_BUDGET_OVERRIDE = {"shufflenet_v2": 360_000}
KEEP_ORDER = ("rnd-op13", "rnd-op9-p2o", "rnd-op9", "tv-op13", "rnd-op11", "tv-op11", "rnd-op17", "rnd-op13-train", "tv-op9", "tv-op17")


def prune(out_dir, manifest):
    """Drops an architecture's variants past ARCH_BUDGET bytes from the committed set."""
    for arch in sorted({e["arch"] for e in manifest.values()}):
        spent = 0
        for v in KEEP_ORDER:
            name = f"{arch}-{v}"
            e = manifest.get(name)
            if e is None or "file" not in e:
                continue
            path = os.path.join(out_dir, e["file"])
            size = os.path.getsize(path)
            if spent and spent + size > ARCH_BUDGET_OVERRIDE.get(arch, ARCH_BUDGET):
                os.unlink(path)
                for k in ("file", "ops", "torch_logits"):
                    e.pop(k, None)
                e["large_only"] = True
                print(f"{name}: {size} bytes over the committed budget: in testdata/zoo-large only", file=sys.stderr)
                continue
            spent += size


def reference_input(size):
    n = BATCH * 3 * size * size
    return np.sin(0.37 * np.arange(n, dtype=np.float64) + 0.1).astype(np.float32).reshape(BATCH, 3, size, size)


def dropout_vgg(out_dir):
    """The BN-free VGG fixture: torchvision's vgg11 (no BatchNorm, its own initialization) at the
    committed set's width and input, exported at opset 13 in training form so that its classifier's
    two Dropout nodes (p = 0.5) stay in the graph, as a model exported from train() has them. It is
    not a zoo entry (extra.json, same fields; torch_logits are the eval-mode logits, which the
    deterministic prediction must give): internal/zoo puts noise after its ReLUs and Dropouts
    (inject --at), fine-tunes and exports it."""
    torch.manual_seed(0)
    model, size = vgg(128, False)
    x = torch.from_numpy(reference_input(size))
    model.eval()
    with torch.no_grad():
        y = model(x).numpy()
    model.train()
    m = compact(export(model, x, 13, training=True))
    drops = [n for n in m.graph.node if n.op_type == "Dropout"]
    assert len(drops) == 2 and not any(n.op_type == "BatchNormalization" for n in m.graph.node), op_types(m)
    name = "vgg11-tv-op13-dropout"
    write_atomic(os.path.join(out_dir, name + ".onnx"), m.SerializeToString())
    entry = {"arch": "vgg11", "init": "tv", "opset": 13, "input": [3, size, size], "file": name + ".onnx",
             "ops": op_types(m), "torch_logits": [round(float(v), 7) for v in y.ravel()]}
    write_atomic(os.path.join(out_dir, "extra.json"), (json.dumps({name: entry}, indent=1, sort_keys=True) + "\n").encode())
    print(f"{name}: {len(m.SerializeToString())} bytes, ops {' '.join(entry['ops'])}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", action="store_true", help="torchvision's widths, into testdata/zoo-large")
    ap.add_argument("--ops", action="store_true", help="print op types per export, write nothing")
    ap.add_argument("--only", default="", help="comma-separated architectures")
    ap.add_argument("--prune", action="store_true", help="only apply the size budget to testdata/zoo")
    ap.add_argument("--out", default="", help="output folder (default testdata/zoo, or testdata/zoo-large with --large)")
    args = ap.parse_args()
    if args.prune:
        path = os.path.join(SMALL_DIR, "manifest.json")
        with open(path) as f:
            manifest = json.load(f)
        prune(SMALL_DIR, manifest)
        write_atomic(path, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
        return
    out_dir = args.out or (LARGE_DIR if args.large else SMALL_DIR)
    os.makedirs(out_dir, exist_ok=True)
    only = set(filter(None, args.only.split(",")))
    if not args.large and not args.ops and (not only or "vgg11" in only):
        dropout_vgg(out_dir)
    manifest = {}
    if only and os.path.exists(os.path.join(out_dir, "manifest.json")):  # update those entries
        with open(os.path.join(out_dir, "manifest.json")) as f:
            manifest = {k: v for k, v in json.load(f).items() if v["arch"] not in only}
    total = 0
    for arch, (build, k) in ARCHS.items():
        if only and arch not in only:
            continue
        for init in ("rnd", "tv"):
            # A width divisor that breaks a concatenation's channel sums is halved until it fits.
            kk = 1 if args.large else max(k, 2)
            while True:
                torch.manual_seed(0)
                model, size = build(kk)
                model.eval()
                try:
                    with torch.no_grad():
                        model(torch.zeros(1, 3, size, size))
                    break
                except RuntimeError:
                    if kk <= 2:
                        raise
                    kk //= 2
            if init == "rnd":
                randomize(model, 1)
            xn = reference_input(size)
            x = torch.from_numpy(xn)
            with torch.no_grad():
                y = model(x).numpy()
            opsets = OPSETS
            variants = [(f"{arch}-{init}-op{op}", op, False) for op in opsets]
            if init == "rnd":
                variants.append((f"{arch}-rnd-op13-train", 13, True))
            for name, opset, training in variants:
                entry = {"arch": arch, "init": init, "opset": opset, "input": [3, size, size], "width_divisor": kk}
                if training:
                    entry["training_form"] = True
                try:
                    if training:
                        model.train()
                        no_dropout(model)
                        with torch.no_grad():
                            # The forward pass updates the running statistics; the export reads
                            # the same pass again, so both see the same batch statistics.
                            # deepcopy keeps the state dict's _metadata (MNASNet's loader
                            # reads its version there)
                            state = copy.deepcopy(model.state_dict())
                            ref = model(x).numpy()
                            model.load_state_dict(state)
                        m = export(model, x, opset, training=True)
                        model.load_state_dict(state)
                        model.eval()
                    else:
                        m = export(model, x, opset)
                        ref = y
                except Exception as e:  # torch cannot export this pair
                    model.eval()
                    msg = str(e).strip().splitlines()[0][:160]
                    entry["error"] = f"torch {torch.__version__.split('a')[0]} cannot export: {msg}"
                    manifest[name] = entry
                    print(f"{name}: {entry['error']}", file=sys.stderr)
                    continue
                if not args.large:
                    m = compact(m)
                entry["ops"] = op_types(m)
                if args.ops:
                    print(name, " ".join(entry["ops"]))
                    continue
                data = m.SerializeToString()
                entry["file"] = name + ".onnx"
                entry["torch_logits"] = [round(float(v), 7) for v in ref.ravel()]
                write_atomic(os.path.join(out_dir, name + ".onnx"), data)
                total += len(data)
                manifest[name] = entry
                if opset == 9 and init == "rnd" and not training:
                    p = to_p2o_style(onnx.load_from_string(data))
                    pname = f"{arch}-rnd-op9-p2o"
                    pe = dict(entry, input=[size, size, 3], p2o=True, ops=op_types(p), file=pname + ".onnx")
                    pdata = p.SerializeToString()
                    write_atomic(os.path.join(out_dir, pname + ".onnx"), pdata)
                    total += len(pdata)
                    manifest[pname] = pe
                print(f"{name}: {len(data)} bytes, ops {' '.join(entry['ops'])}", file=sys.stderr)
    if not args.ops:
        if not args.large:
            prune(out_dir, manifest)
        write_atomic(os.path.join(out_dir, "manifest.json"), (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
        print(f"{len(manifest)} entries, {total} bytes of models", file=sys.stderr)


if __name__ == "__main__":
    main()
