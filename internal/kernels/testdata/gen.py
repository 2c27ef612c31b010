#!/usr/bin/python3
"""Regenerates the reference fixtures of package kernels (run from this folder with the Debian
interpreter: /usr/bin/python3 gen.py). Needs torch and numpy; the Go tests never run it.

Every case holds float64 inputs, a random upstream gradient dy, the forward output y and the
gradients of sum(y*dy) with respect to each differentiable input. References come from PyTorch
where it expresses the ONNX semantics (explicit F.pad for asymmetric padding); pooling, resize and
SAME padding also have a direct numpy implementation of the ONNX specification, cross-checked
against PyTorch wherever PyTorch can express the case.
"""
import json
import math

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(20250101)


def arr(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


def rand(*shape):
    return rng.standard_normal(shape)


def same_pads(insz, k, s, d, auto_pad):
    """ONNX auto_pad SAME_UPPER/SAME_LOWER: returns (begin, end) per spatial dim."""
    out = []
    for i, n in enumerate(insz):
        o = -(-n // s[i])
        total = max(0, (o - 1) * s[i] + (k[i] - 1) * d[i] + 1 - n)
        small = total // 2
        out.append((small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small))
    return out


def resolve_pads(x_shape, k, attrs):
    nd = len(k)
    s = attrs.get("strides", [1] * nd)
    d = attrs.get("dilations", [1] * nd)
    ap = attrs.get("auto_pad", "NOTSET")
    if ap in ("SAME_UPPER", "SAME_LOWER"):
        return same_pads(x_shape[2:], k, s, d, ap), s, d
    if ap == "VALID":
        return [(0, 0)] * nd, s, d
    p = attrs.get("pads", [0] * (2 * nd))
    return [(p[i], p[i + nd]) for i in range(nd)], s, d


def torch_pad(pads):
    """(begin, end) per dim -> F.pad order (last dim first)."""
    out = []
    for b, e in reversed(pads):
        out += [b, e]
    return out


# ---------------------------------------------------------------------------------------------
def conv_case(name, xs, ws, bias, **attrs):
    x, w = rand(*xs), rand(*ws) * 0.5
    b = rand(ws[0]) if bias else None
    k = list(ws[2:])
    pads, s, d = resolve_pads(xs, k, attrs)
    g = attrs.get("group", 1)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if bias else None
    xp = F.pad(tx, torch_pad(pads))
    conv = F.conv1d if len(xs) == 3 else F.conv2d
    y = conv(xp, tw, tb, stride=s, dilation=d, groups=g)
    dy = rand(*y.shape)
    y.backward(torch.tensor(dy))
    inputs = {"x": arr(x), "w": arr(w)}
    grads = {"x": arr(tx.grad), "w": arr(tw.grad)}
    if bias:
        inputs["b"] = arr(b)
        grads["b"] = arr(tb.grad)
    return {"name": name, "attrs": attrs, "inputs": inputs, "dy": arr(dy), "y": arr(y.detach()), "grads": grads}


conv_cases = [
    conv_case("3x3 pad1 bias", (2, 3, 6, 5), (4, 3, 3, 3), True, pads=[1, 1, 1, 1]),
    conv_case("stride2 asym pads nobias", (2, 2, 7, 6), (3, 2, 3, 2), False, strides=[2, 2], pads=[0, 1, 2, 1]),
    conv_case("dilation2 stride1x2 asym", (1, 2, 9, 8), (2, 2, 3, 3), True, strides=[1, 2], dilations=[2, 2], pads=[2, 1, 0, 3]),
    conv_case("SAME_UPPER stride2", (2, 2, 7, 6), (3, 2, 3, 3), True, auto_pad="SAME_UPPER", strides=[2, 2]),
    conv_case("SAME_LOWER stride2 k2", (1, 2, 5, 6), (2, 2, 2, 2), False, auto_pad="SAME_LOWER", strides=[2, 2]),
    conv_case("VALID stride2", (1, 3, 7, 7), (2, 3, 3, 3), True, auto_pad="VALID", strides=[2, 2]),
    conv_case("group2", (2, 4, 5, 5), (6, 2, 3, 3), True, group=2, pads=[1, 1, 1, 1]),
    conv_case("depthwise stride2", (2, 3, 6, 6), (3, 1, 3, 3), True, group=3, strides=[2, 2], pads=[1, 1, 1, 1]),
    conv_case("1-D stride2 dilation2", (2, 3, 10), (4, 3, 3), True, strides=[2], dilations=[2], pads=[2, 1]),
    conv_case("1-D SAME_UPPER", (1, 2, 7), (3, 2, 4), False, auto_pad="SAME_UPPER"),
    conv_case("pointwise", (2, 3, 4, 5), (4, 3, 1, 1), True),
    conv_case("cnn-bn layer1 small", (2, 1, 8, 8), (4, 1, 3, 3), True, pads=[1, 1, 1, 1]),
    conv_case("1x1 stride2 pad", (1, 2, 5, 5), (3, 2, 1, 1), False, strides=[2, 2], pads=[1, 0, 0, 1]),
    # Patch length C·kh·kw ≥ 128 takes the weight-gradient path through im2row.
    conv_case("long patches stride dilation asym", (2, 16, 6, 5), (2, 16, 3, 3), True, strides=[2, 1], dilations=[1, 2], pads=[1, 0, 2, 2]),
    conv_case("long patches pointwise", (1, 130, 2, 3), (2, 130, 1, 1), False),
]

# ---------------------------------------------------------------------------------------------


def pool_geom(xs, attrs):
    k = attrs["kernel_shape"]
    pads, s, d = resolve_pads(xs, k, attrs)
    ap = attrs.get("auto_pad", "NOTSET")
    ceil = attrs.get("ceil_mode", 0)
    outs = []
    for i, n in enumerate(xs[2:]):
        dk = (k[i] - 1) * d[i] + 1
        if ap in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-n // s[i])
        elif ap == "VALID":
            o = (n - dk) // s[i] + 1
        else:
            span = n + pads[i][0] + pads[i][1] - dk
            if ceil:
                o = -(-span // s[i]) + 1
                if (o - 1) * s[i] >= n + pads[i][0]:
                    o -= 1
            else:
                o = span // s[i] + 1
        outs.append(o)
    return k, s, d, pads, outs


def np_pool(x, attrs, kind, dy):
    """Direct ONNX pooling over 1-D or 2-D windows; returns y and dx for upstream dy."""
    k, s, d, pads, outs = pool_geom(x.shape, attrs)
    nd = len(k)
    inc = attrs.get("count_include_pad", 0)
    y = np.zeros(x.shape[:2] + tuple(outs))
    dx = np.zeros_like(x)
    sp = x.shape[2:]
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for o in np.ndindex(*outs):
                taps, count_pad = [], 1
                for t in np.ndindex(*k):
                    pos = [o[i] * s[i] - pads[i][0] + t[i] * d[i] for i in range(nd)]
                    if all(0 <= pos[i] < sp[i] for i in range(nd)):
                        taps.append(tuple(pos))
                for i in range(nd):
                    cnt = sum(1 for t in range(k[i]) if 0 <= o[i] * s[i] + t * d[i] < sp[i] + pads[i][0] + pads[i][1])
                    count_pad *= cnt
                if kind == "max":
                    best = None
                    for p in taps:
                        if best is None or x[(n, c) + p] > x[(n, c) + best]:
                            best = p
                    y[(n, c) + o] = x[(n, c) + best]
                    dx[(n, c) + best] += dy[(n, c) + o]
                else:
                    div = count_pad if inc else len(taps)
                    y[(n, c) + o] = sum(x[(n, c) + p] for p in taps) / div
                    for p in taps:
                        dx[(n, c) + p] += dy[(n, c) + o] / div
    return y, dx


def torch_pool(x, attrs, kind, dy):
    """PyTorch pooling with its native (symmetric) padding, or None if it cannot express attrs."""
    k, s, d, pads, _ = pool_geom(x.shape, attrs)
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET",):
        return None
    if any(b != e or b > kk // 2 for (b, e), kk in zip(pads, k)):
        return None
    p = [b for b, _ in pads]
    tx = torch.tensor(x, requires_grad=True)
    ceil = bool(attrs.get("ceil_mode", 0))
    nd = len(k)
    if kind == "max":
        f = F.max_pool1d if nd == 1 else F.max_pool2d
        y = f(tx, k, s, p, d, ceil_mode=ceil)
    else:
        if any(v != 1 for v in d):
            return None
        f = F.avg_pool1d if nd == 1 else F.avg_pool2d
        y = f(tx, k, s, p, ceil_mode=ceil, count_include_pad=bool(attrs.get("count_include_pad", 0)))
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), tx.grad.numpy()


def pool_case(name, op, xs, **attrs):
    x = rand(*xs)
    kind = "max" if op == "MaxPool" else "avg"
    outs = pool_geom(xs, attrs)[4]
    dy = rand(*(xs[:2] + tuple(outs)))
    y, dx = np_pool(x, attrs, kind, dy)
    t = torch_pool(x, attrs, kind, dy)
    checked = t is not None
    if checked:
        assert t[0].shape == y.shape, (name, t[0].shape, y.shape)
        assert np.allclose(t[0], y, atol=1e-12) and np.allclose(t[1], dx, atol=1e-12), name
    return {"name": name, "op": op, "attrs": attrs, "torch_checked": checked,
            "inputs": {"x": arr(x)}, "dy": arr(dy), "y": arr(y), "grads": {"x": arr(dx)}}


def gap_case(name, xs):
    x = rand(*xs)
    tx = torch.tensor(x, requires_grad=True)
    y = tx.mean(dim=tuple(range(2, len(xs))), keepdim=True)
    dy = rand(*y.shape)
    y.backward(torch.tensor(dy))
    return {"name": name, "op": "GlobalAveragePool", "attrs": {}, "inputs": {"x": arr(x)}, "dy": arr(dy),
            "y": arr(y.detach()), "grads": {"x": arr(tx.grad)}}


pool_cases = [
    pool_case("max 2x2 s2", "MaxPool", (2, 3, 6, 6), kernel_shape=[2, 2], strides=[2, 2]),
    pool_case("max 2x2 s2 odd sizes", "MaxPool", (2, 2, 7, 5), kernel_shape=[2, 2], strides=[2, 2]),
    pool_case("max 3x3 s2 pad1", "MaxPool", (2, 2, 7, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    pool_case("max 3x3 s2 pad1 ceil", "MaxPool", (1, 2, 8, 8), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
    pool_case("max ceil drops last window", "MaxPool", (1, 1, 5, 5), kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
    pool_case("max asym pads k2x3 s1x2", "MaxPool", (1, 2, 5, 7), kernel_shape=[2, 3], strides=[1, 2], pads=[0, 1, 1, 0]),
    pool_case("max dilation2", "MaxPool", (1, 2, 6, 6), kernel_shape=[2, 2], dilations=[2, 2]),
    pool_case("max SAME_UPPER k3 s2", "MaxPool", (1, 2, 7, 6), kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    pool_case("max SAME_LOWER k2 s1", "MaxPool", (1, 1, 4, 5), kernel_shape=[2, 2], auto_pad="SAME_LOWER"),
    pool_case("max VALID k3 s2", "MaxPool", (1, 2, 7, 6), kernel_shape=[3, 3], strides=[2, 2], auto_pad="VALID"),
    pool_case("max 1-D k3 s2 pad1", "MaxPool", (2, 3, 9), kernel_shape=[3], strides=[2], pads=[1, 1]),
    pool_case("max 1-D ceil", "MaxPool", (1, 2, 8), kernel_shape=[3], strides=[2], ceil_mode=1),
    pool_case("avg 2x2 s2", "AveragePool", (2, 3, 6, 6), kernel_shape=[2, 2], strides=[2, 2]),
    pool_case("avg 3x3 pad1 excl", "AveragePool", (1, 2, 5, 5), kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    pool_case("avg 3x3 pad1 incl", "AveragePool", (1, 2, 5, 5), kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
    pool_case("avg 3x3 s2 pad1 ceil incl", "AveragePool", (1, 2, 6, 6), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
    pool_case("avg 3x3 s2 pad1 ceil excl", "AveragePool", (1, 2, 6, 6), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
    pool_case("avg asym pads incl", "AveragePool", (1, 2, 5, 6), kernel_shape=[2, 3], pads=[1, 0, 0, 2], count_include_pad=1),
    pool_case("avg asym pads excl", "AveragePool", (1, 2, 5, 6), kernel_shape=[2, 3], pads=[1, 0, 0, 2]),
    pool_case("avg SAME_LOWER s2", "AveragePool", (1, 2, 7, 6), kernel_shape=[3, 2], strides=[2, 2], auto_pad="SAME_LOWER"),
    pool_case("avg SAME_UPPER incl", "AveragePool", (1, 1, 5, 5), kernel_shape=[2, 2], auto_pad="SAME_UPPER", count_include_pad=1),
    pool_case("avg dilation2 pad1", "AveragePool", (1, 2, 7, 7), kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 1, 1, 1]),
    pool_case("avg 1-D k3 s2 pad1 ceil incl", "AveragePool", (2, 2, 8), kernel_shape=[3], strides=[2], pads=[1, 1], ceil_mode=1, count_include_pad=1),
    gap_case("gap 2-D", (2, 3, 4, 5)),
    gap_case("gap 1-D", (2, 3, 7)),
]

# ---------------------------------------------------------------------------------------------


def bn_case(name, xs, training, eps=1e-5, momentum=0.9):
    c = xs[1]
    x = rand(*xs) * 2 + 0.5
    scale, bias = rand(c), rand(c)
    rmean, rvar = rand(c) * 0.3, rng.uniform(0.5, 2.0, c)
    tx = torch.tensor(x, requires_grad=True)
    ts = torch.tensor(scale, requires_grad=True)
    tb = torch.tensor(bias, requires_grad=True)
    trm, trv = torch.tensor(rmean), torch.tensor(rvar)
    y = F.batch_norm(tx, trm, trv, ts, tb, training=training, momentum=1 - momentum, eps=eps)
    dy = rand(*xs)
    y.backward(torch.tensor(dy))
    return {"name": name, "op": "BatchNormalization", "attrs": {"epsilon": eps, "momentum": momentum, "training": training},
            "inputs": {"x": arr(x), "scale": arr(scale), "B": arr(bias), "mean": arr(rmean), "var": arr(rvar)},
            "dy": arr(dy), "y": arr(y.detach()),
            "grads": {"x": arr(tx.grad), "scale": arr(ts.grad), "B": arr(tb.grad)},
            "running": {"mean": arr(trm), "var": arr(trv)}}


def ln_case(name, xs, axis, scale=True, bias=True, eps=1e-5):
    x = rand(*xs) * 1.5 + 0.3
    a = axis % len(xs)
    ns = xs[a:]
    tx = torch.tensor(x, requires_grad=True)
    inputs = {"x": arr(x)}
    ts = tb = None
    if scale:
        s = rand(*ns)
        ts = torch.tensor(s, requires_grad=True)
        inputs["scale"] = arr(s)
    if bias:
        b = rand(*ns)
        tb = torch.tensor(b, requires_grad=True)
        inputs["B"] = arr(b)
    y = F.layer_norm(tx, ns, ts, tb, eps)
    dy = rand(*xs)
    y.backward(torch.tensor(dy))
    grads = {"x": arr(tx.grad)}
    if scale:
        grads["scale"] = arr(ts.grad)
    if bias:
        grads["B"] = arr(tb.grad)
    return {"name": name, "op": "LayerNormalization", "attrs": {"axis": axis, "epsilon": eps},
            "inputs": inputs, "dy": arr(dy), "y": arr(y.detach()), "grads": grads}


norm_cases = [
    bn_case("bn eval 4-D", (3, 4, 5, 5), False),
    bn_case("bn train 4-D", (4, 3, 5, 6), True),
    bn_case("bn train 2-D", (8, 5), True),
    bn_case("bn eval 2-D", (6, 3), False, eps=1e-3),
    bn_case("bn train 3-D momentum 0.8", (4, 3, 7), True, momentum=0.8),
    ln_case("ln 2-D last axis", (3, 8), -1),
    ln_case("ln 4-D axis 2", (2, 3, 4, 5), 2),
    ln_case("ln scale only", (4, 6), -1, bias=False),
    ln_case("ln 3-D axis 1 eps 1e-3", (2, 3, 4), 1, eps=1e-3),
    ln_case("ln no affine", (5, 16), -1, scale=False, bias=False),
]

# ---------------------------------------------------------------------------------------------


def nearest_src(o, n_in, n_out, scale, ctm, nm):
    x = float(o)
    if ctm == "half_pixel":
        c = (x + 0.5) / scale - 0.5
    elif ctm == "pytorch_half_pixel":
        c = (x + 0.5) / scale - 0.5 if n_out > 1 else 0.0
    elif ctm == "align_corners":
        c = 0.0 if n_out == 1 else x * (n_in - 1) / (n_out - 1)
    elif ctm == "asymmetric":
        c = x / scale
    elif ctm == "tf_half_pixel_for_nn":
        c = (x + 0.5) / scale
    else:
        raise ValueError(ctm)
    f = math.floor(c)
    if nm == "round_prefer_floor":
        i = f if c == f + 0.5 else round(c)
    elif nm == "round_prefer_ceil":
        i = f + 1 if c == f + 0.5 else math.floor(c + 0.5)
    elif nm == "floor":
        i = f
    else:
        i = math.ceil(c)
    return int(min(max(i, 0), n_in - 1))


def resize_case(name, xs, ctm, nm, scales=None, sizes=None, torch_mode=None):
    x = rand(*xs)
    if sizes is None:
        sizes = [int(math.floor(n * s)) for n, s in zip(xs, scales)]
        sc = scales
    else:
        sc = [o / n for n, o in zip(xs, sizes)]
    idx = [[nearest_src(o, xs[d], sizes[d], sc[d], ctm, nm) for o in range(sizes[d])] for d in range(len(xs))]
    y = x[np.ix_(*idx)]
    dy = rand(*sizes)
    dx = np.zeros_like(x)
    for o in np.ndindex(*sizes):
        dx[tuple(idx[d][o[d]] for d in range(len(xs)))] += dy[o]
    checked = False
    if torch_mode is not None:
        tx = torch.tensor(x, requires_grad=True)
        ty = F.interpolate(tx, size=sizes[2:], mode=torch_mode)
        ty.backward(torch.tensor(dy))
        assert np.array_equal(ty.detach().numpy(), y), name
        assert np.allclose(tx.grad.numpy(), dx, atol=1e-12), name
        checked = True
    attrs = {"coordinate_transformation_mode": ctm, "nearest_mode": nm}
    if scales is not None:
        attrs["scales"] = scales
    else:
        attrs["sizes"] = sizes
    return {"name": name, "op": "Resize", "attrs": attrs, "torch_checked": checked,
            "inputs": {"x": arr(x)}, "dy": arr(dy), "y": arr(y), "grads": {"x": arr(dx)}}


resize_cases = [
    resize_case("asymmetric floor x2", (1, 2, 3, 4), "asymmetric", "floor", scales=[1, 1, 2, 2], torch_mode="nearest"),
    resize_case("asymmetric floor sizes", (2, 1, 4, 5), "asymmetric", "floor", sizes=[2, 1, 8, 10], torch_mode="nearest"),
    resize_case("half_pixel round_prefer_ceil sizes", (1, 2, 4, 6), "half_pixel", "round_prefer_ceil", sizes=[1, 2, 8, 3], torch_mode="nearest-exact"),
    resize_case("half_pixel round_prefer_floor 1.5x2.5", (1, 2, 3, 4), "half_pixel", "round_prefer_floor", scales=[1, 1, 1.5, 2.5]),
    resize_case("align_corners round_prefer_ceil", (1, 1, 4, 5), "align_corners", "round_prefer_ceil", sizes=[1, 1, 7, 3]),
    resize_case("pytorch_half_pixel ceil out 1", (1, 2, 3, 5), "pytorch_half_pixel", "ceil", sizes=[1, 2, 1, 8]),
    resize_case("tf_half_pixel_for_nn floor down", (1, 1, 6, 8), "tf_half_pixel_for_nn", "floor", scales=[1, 1, 0.5, 0.5]),
    resize_case("half_pixel default 1-D x3", (2, 2, 4), "half_pixel", "round_prefer_floor", scales=[1, 1, 3]),
    resize_case("asymmetric round_prefer_floor batch and width", (2, 3, 2, 2), "asymmetric", "round_prefer_floor", scales=[2, 1, 1, 2]),
]


def write(path, cases):
    with open(path, "w") as f:
        json.dump({"generator": "gen.py (torch %s, numpy %s)" % (torch.__version__, np.__version__), "cases": cases}, f, indent=None)
        f.write("\n")


for c in conv_cases:
    c["op"] = "Conv"
write("conv.json", conv_cases)
write("pool.json", pool_cases)
write("norm.json", norm_cases)
write("resize.json", resize_cases)
print("cases:", len(conv_cases), len(pool_cases), len(norm_cases), len(resize_cases))
print("torch-checked pools:", sum(c.get("torch_checked", False) for c in pool_cases),
      "resizes:", sum(c.get("torch_checked", False) for c in resize_cases))
