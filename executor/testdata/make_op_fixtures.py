"""Writes ops.json: single-node ONNX cases with inputs and numpy-computed expected outputs.

Run with the Debian interpreter (numpy only):  /usr/bin/python3 xreg/testdata/make_op_fixtures.py
The Go tests only read ops.json; they never run this script.
"""
import json
import os

import numpy as np

rng = np.random.default_rng(20250101)
cases = []


def f32(shape, lo=-2.0, hi=2.0, away=0.0):
    """Random float32-representable values; |x| >= away when away > 0 (kinks, poles)."""
    x = rng.uniform(lo, hi, size=shape)
    if away:
        x = np.where(np.abs(x) < away, np.sign(x + 1e-12) * away, x)
    return x.astype(np.float32).astype(np.float64)


def graph(name, x):
    return {"name": name, "kind": "graph", "dims": list(np.shape(x)), "data": np.ravel(x).tolist()}


def ints(name, v):
    v = np.asarray(v, dtype=np.int64)
    return {"name": name, "kind": "int", "dims": list(v.shape), "data": v.ravel().tolist()}


def floatconst(name, x):
    x = np.asarray(x, dtype=np.float64)
    return {"name": name, "kind": "float", "dims": list(x.shape), "data": x.ravel().tolist()}


def empty():
    return {"name": "", "kind": "empty", "dims": [], "data": []}


def attr(name, kind, value):
    return {"name": name, "type": kind, "value": value}


def add(name, op, inputs, outputs, attrs=(), opset=13):
    outs = [{"dims": list(np.shape(y)), "data": np.ravel(np.asarray(y, dtype=np.float64)).tolist()} for y in outputs]
    cases.append({"name": name, "op": op, "opset": opset, "attrs": list(attrs), "inputs": inputs, "outputs": outs})


# ---- broadcasting binary ops ----
shapes = [((2, 3), (2, 3)), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((2, 3), ()), ((), ()), ((1,), ()),
          ((3, 1, 1), (1, 2, 5)), ((4, 1), (1, 5)), ((2, 3, 4), (2, 1, 4)), ((1, 3, 1, 2), (2, 1, 4, 1))]
for op, fn in [("Add", np.add), ("Sub", np.subtract), ("Mul", np.multiply), ("Div", np.divide)]:
    for sa, sb in shapes:
        a = f32(sa)
        b = f32(sb, 0.5, 2.0) if op == "Div" else f32(sb)
        add(f"{op}_{sa}_{sb}", op, [graph("a", a), graph("b", b)], [fn(a, b)])
a, b = f32((2, 3), 0.5, 2.0), f32((2, 3))
add("Pow_tensor", "Pow", [graph("a", a), graph("b", b)], [np.power(a, b)])
a, b = f32((3, 1), 0.5, 2.0), f32((1, 4))
add("Pow_broadcast", "Pow", [graph("a", a), graph("b", b)], [np.power(a, b)])
a = f32((2, 3))
add("Pow_const2", "Pow", [graph("a", a), floatconst("p", 2.0)], [a ** 2])
add("Pow_const3_rank1", "Pow", [graph("a", a), floatconst("p", [3.0])], [a ** 3])
a = f32((4,), 0.5, 3.0)
add("Pow_const_half", "Pow", [graph("a", a), floatconst("p", 0.5)], [np.sqrt(a)])
add("Pow_const_int", "Pow", [graph("a", a), ints("p", 2)], [a ** 2], opset=13)
s = f32(())
add("Pow_scalar_base_rank1_exp", "Pow", [graph("a", s), floatconst("p", [2.0])], [np.power(s, np.array([2.0]))])

# ---- unary ops ----
x = f32((2, 3, 4), -3, 3)
x[0, 0, :2] = 0.0
add("Relu", "Relu", [graph("x", x)], [np.maximum(x, 0)])
add("Exp", "Exp", [graph("x", x)], [np.exp(x)])
add("Tanh", "Tanh", [graph("x", x)], [np.tanh(x)])
xs = np.concatenate([x.ravel(), [-40.0, 40.0, -100.0]])
add("Sigmoid", "Sigmoid", [graph("x", xs)], [1 / (1 + np.exp(-xs))])
xp = f32((3, 5), 0.0, 4.0)
add("Sqrt", "Sqrt", [graph("x", xp)], [np.sqrt(xp)])
add("Relu_scalar", "Relu", [graph("x", np.float64(-1.5))], [np.float64(0.0)])
for opset in (11, 13):
    add(f"Clip_both_{opset}", "Clip", [graph("x", x), floatconst("lo", -1.0), floatconst("hi", 0.5)], [np.clip(x, -1.0, 0.5)], opset=opset)
    add(f"Clip_min_{opset}", "Clip", [graph("x", x), floatconst("lo", 0.0)], [np.maximum(x, 0.0)], opset=opset)
    add(f"Clip_max_{opset}", "Clip", [graph("x", x), empty(), floatconst("hi", 1.0)], [np.minimum(x, 1.0)], opset=opset)
    add(f"Clip_none_{opset}", "Clip", [graph("x", x)], [x], opset=opset)
add("Identity", "Identity", [graph("x", x)], [x])
add("Dropout", "Dropout", [graph("x", x)], [x], opset=13)
add("Dropout_ratio_inference", "Dropout", [graph("x", x), floatconst("r", 0.5), {"name": "t", "kind": "bool", "dims": [], "data": [0]}], [x], opset=13)

# ---- Gemm ----
M, K, N = 3, 4, 5
for ta in (0, 1):
    for tb in (0, 1):
        A = f32((K, M) if ta else (M, K))
        B = f32((N, K) if tb else (K, N))
        C = f32((N,))
        y = (A.T if ta else A) @ (B.T if tb else B) + C
        add(f"Gemm_tA{ta}_tB{tb}", "Gemm", [graph("A", A), graph("B", B), graph("C", C)], [y],
            [attr("transA", "int", ta), attr("transB", "int", tb)])
A, B = f32((M, K)), f32((K, N))
for cs in [(M, N), (M, 1), (1, N), (1, 1), (), (1,)]:
    C = f32(cs)
    add(f"Gemm_alpha_beta_C{cs}", "Gemm", [graph("A", A), graph("B", B), graph("C", C)], [0.5 * A @ B + 2.0 * C],
        [attr("alpha", "float", 0.5), attr("beta", "float", 2.0)])
add("Gemm_noC", "Gemm", [graph("A", A), graph("B", B)], [A @ B], opset=13)
add("Gemm_beta0", "Gemm", [graph("A", A), graph("B", B), graph("C", f32((N,)))], [A @ B], [attr("beta", "float", 0.0)])

# ---- MatMul ----
for sa, sb in [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 5)),
               ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4,)),
               ((4,), (2, 4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (1, 4, 5))]:
    a, b = f32(sa), f32(sb)
    add(f"MatMul_{sa}_{sb}", "MatMul", [graph("a", a), graph("b", b)], [np.matmul(a, b)])

# ---- shape ops ----
x = f32((2, 3, 4))
for axis in (0, 1, 2, 3, -1, -3):
    ax = axis % 3 if axis < 0 else axis
    y = x.reshape(int(np.prod(x.shape[:ax])), -1)
    add(f"Flatten_axis{axis}", "Flatten", [graph("x", x)], [y], [attr("axis", "int", axis)])
add("Flatten_default", "Flatten", [graph("x", x)], [x.reshape(2, -1)])
for spec, want in [([0, -1], (2, 12)), ([-1], (24,)), ([2, 0, 2, 2], (2, 3, 2, 2)), ([4, -1, 3], (4, 2, 3)), ([24, 1], (24, 1))]:
    add(f"Reshape_{spec}", "Reshape", [graph("x", x), ints("shape", spec)], [x.reshape(want)])
add("Reshape_allowzero0_copy", "Reshape", [graph("x", x), ints("shape", [0, 12])], [x.reshape(2, 12)],
    [attr("allowzero", "int", 0)], opset=14)
x4 = f32((2, 3, 4, 5))
add("Transpose_default", "Transpose", [graph("x", x)], [x.transpose()])
add("Transpose_102", "Transpose", [graph("x", x)], [x.transpose(1, 0, 2)], [attr("perm", "ints", [1, 0, 2])])
add("Transpose_0231", "Transpose", [graph("x", x4)], [x4.transpose(0, 2, 3, 1)], [attr("perm", "ints", [0, 2, 3, 1])])
add("Transpose_3120", "Transpose", [graph("x", x4)], [x4.transpose(3, 1, 2, 0)], [attr("perm", "ints", [3, 1, 2, 0])])
m = f32((3, 4))
add("Transpose_2d", "Transpose", [graph("x", m)], [m.T])
a, b, c = f32((2, 3, 4)), f32((2, 1, 4)), f32((2, 2, 4))
add("Concat_axis1", "Concat", [graph("a", a), graph("b", b), graph("c", c)], [np.concatenate([a, b, c], 1)], [attr("axis", "int", 1)])
a2, b2 = f32((2, 3, 4)), f32((2, 3, 2))
add("Concat_axis_neg1", "Concat", [graph("a", a2), graph("b", b2)], [np.concatenate([a2, b2], -1)], [attr("axis", "int", -1)])
a3, b3 = f32((1, 3)), f32((2, 3))
add("Concat_axis0", "Concat", [graph("a", a3), graph("b", b3)], [np.concatenate([a3, b3], 0)], [attr("axis", "int", 0)])


# ---- Softmax ----
def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax2d(x, axis):
    s = x.reshape(int(np.prod(x.shape[:axis])), -1)
    return softmax(s, 1).reshape(x.shape)


x = f32((2, 3, 4), -4, 4)
add("Softmax13_default", "Softmax", [graph("x", x)], [softmax(x, -1)], opset=13)
add("Softmax13_axis1", "Softmax", [graph("x", x)], [softmax(x, 1)], [attr("axis", "int", 1)], opset=13)
add("Softmax13_axis0", "Softmax", [graph("x", x)], [softmax(x, 0)], [attr("axis", "int", 0)], opset=13)
add("Softmax11_default", "Softmax", [graph("x", x)], [softmax2d(x, 1)], opset=11)
add("Softmax11_axis2", "Softmax", [graph("x", x)], [softmax2d(x, 2)], [attr("axis", "int", 2)], opset=11)
add("Softmax11_axis0", "Softmax", [graph("x", x)], [softmax2d(x, 0)], [attr("axis", "int", 0)], opset=11)
big = np.array([[1000.0, 0.0, -1000.0], [3.0, 3.0, 3.0]])
add("Softmax13_large", "Softmax", [graph("x", big)], [softmax(big, -1)], opset=13)

# ---- ReduceMean ----
x = f32((2, 3, 4))
add("ReduceMean_axes1_keep", "ReduceMean", [graph("x", x)], [x.mean(axis=1, keepdims=True)], [attr("axes", "ints", [1])])
add("ReduceMean_axes02_nokeep", "ReduceMean", [graph("x", x)], [x.mean(axis=(0, 2))],
    [attr("axes", "ints", [0, 2]), attr("keepdims", "int", 0)])
add("ReduceMean_all_keep", "ReduceMean", [graph("x", x)], [x.mean(keepdims=True)])
add("ReduceMean_all_nokeep", "ReduceMean", [graph("x", x)], [x.mean()], [attr("keepdims", "int", 0)])
add("ReduceMean_neg_axis", "ReduceMean", [graph("x", x)], [x.mean(axis=-1, keepdims=True)], [attr("axes", "ints", [-1])], opset=11)
add("ReduceMean18_axes_input", "ReduceMean", [graph("x", x), ints("axes", [-1])], [x.mean(axis=-1, keepdims=True)], opset=18)
add("ReduceMean18_no_axes", "ReduceMean", [graph("x", x)], [x.mean(keepdims=True)], opset=18)
add("ReduceMean18_noop", "ReduceMean", [graph("x", x)], [x], [attr("noop_with_empty_axes", "int", 1)], opset=18)
add("ReduceMean18_axes_nokeep", "ReduceMean", [graph("x", x), ints("axes", [0, 1])], [x.mean(axis=(0, 1))],
    [attr("keepdims", "int", 0)], opset=18)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops.json")
with open(out + ".tmp", "w") as f:
    json.dump({"generator": "xreg/testdata/make_op_fixtures.py (numpy %s)" % np.__version__, "cases": cases}, f, indent=None, separators=(",", ":"))
    f.write("\n")
os.replace(out + ".tmp", out)
print("wrote %d cases to %s" % (len(cases), out))
