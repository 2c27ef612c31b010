#!/usr/bin/python3
"""Make the dataset package's test fixtures.

Run once from this folder with the Debian interpreter (numpy + Pillow):

    cd dataset/testdata && /usr/bin/python3 gen.py

It writes tiny IDX / NPY / NPZ / CIFAR-10 / image-folder fixtures and
expected.json, which holds the values a correct loader must produce, computed
here with numpy and Pillow (independently of the Go code). When the real
Fashion-MNIST files are present it also writes fashion.json with reference
statistics computed from them. The outputs are committed; Go tests never run
Python.
"""
import gzip
import json
import os
import shutil
import struct

import numpy as np
from PIL import Image

rng = np.random.default_rng(20250101)
expected = {}


def f32list(a):
    """Flattened float32 values as Python floats (exactly representable)."""
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def scaled(u8):
    return (u8.astype(np.float32) / np.float32(255)).astype(np.float32)


def write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def idx_images(u8):
    n, h, w = u8.shape
    return struct.pack(">IIII", 0x803, n, h, w) + u8.tobytes()


def idx_labels(lab):
    return struct.pack(">II", 0x801, len(lab)) + np.asarray(lab, np.uint8).tobytes()


# ---------------------------------------------------------------- IDX
for d in ("idx", "npy", "npz", "cifar", "cifar_bad", "images", "images_big", "images_empty"):
    shutil.rmtree(d, ignore_errors=True)

img = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
img[0, 0, 0], img[0, 0, 1] = 0, 255
lab = np.array([9, 0, 3, 7, 1], np.uint8)
write("idx/tiny-images-idx3-ubyte", idx_images(img))
write("idx/tiny-labels-idx1-ubyte", idx_labels(lab))
write("idx/tinygz-images-idx3-ubyte.gz", gzip.compress(idx_images(img), mtime=0))
write("idx/tinygz-labels-idx1-ubyte.gz", gzip.compress(idx_labels(lab), mtime=0))
expected["idx"] = {"shape": [1, 4, 3], "y": lab.tolist(), "classes": 10, "x": f32list(scaled(img))}

# gz stream cut in the middle
gz = gzip.compress(idx_images(img), mtime=0)
write("idx/truncgz-images-idx3-ubyte.gz", gz[: len(gz) // 2])
write("idx/truncgz-labels-idx1-ubyte.gz", gzip.compress(idx_labels(lab), mtime=0))
# header promises 5 images, only 3 present
write("idx/short-images-idx3-ubyte", idx_images(img)[: 16 + 3 * 12])
write("idx/short-labels-idx1-ubyte", idx_labels(lab))
# wrong magic in the images file
write("idx/magic-images-idx3-ubyte", b"\x12\x34\x08\x03" + idx_images(img)[4:])
write("idx/magic-labels-idx1-ubyte", idx_labels(lab))
# labels file carrying an images magic
write("idx/labmagic-images-idx3-ubyte", idx_images(img))
write("idx/labmagic-labels-idx1-ubyte", struct.pack(">II", 0x803, 5) + lab.tobytes())
# 5 images, 4 labels
write("idx/count-images-idx3-ubyte", idx_images(img))
write("idx/count-labels-idx1-ubyte", idx_labels(lab[:4]))
# label 12 at row 3
bad = lab.copy()
bad[3] = 12
write("idx/badlabel-images-idx3-ubyte", idx_images(img))
write("idx/badlabel-labels-idx1-ubyte", idx_labels(bad))
# no labels file at all
write("idx/nolabels-images-idx3-ubyte", idx_images(img))

# ---------------------------------------------------------------- NPY
x = rng.standard_normal((6, 2, 3)).astype(np.float32)
y = np.array([0, 3, 1, 2, 3, 0], np.int64)
os.makedirs("npy", exist_ok=True)
np.save("npy/x.npy", x)
np.save("npy/y.npy", y)
expected["npy"] = {"shape": [2, 3], "y": y.tolist(), "classes": 4, "x": f32list(x)}

xu = rng.integers(0, 256, size=(6, 2, 3), dtype=np.uint8)
np.save("npy/x_u8.npy", xu)
np.save("npy/y_u8.npy", y.astype(np.uint8))
expected["npy_u8_raw"] = {"shape": [2, 3], "y": y.tolist(), "x": f32list(xu.astype(np.float32))}
expected["npy_u8_scaled"] = {"shape": [2, 3], "y": y.tolist(), "x": f32list(scaled(xu))}

xf = np.asfortranarray(rng.standard_normal((6, 4)))  # float64, column-major
np.save("npy/x_f64f.npy", xf)
np.save("npy/y_f64f.npy", y.astype(np.float64).reshape(6, 1))
assert np.load("npy/x_f64f.npy").flags.f_contiguous
expected["npy_f64f"] = {"shape": [4], "y": y.tolist(), "x": f32list(xf.astype(np.float32))}

xb = rng.standard_normal((3, 5)).astype(">f4")
np.save("npy/x_be.npy", xb)
np.save("npy/y_be.npy", np.array([2, 0, 1], ">i4"))
expected["npy_be"] = {"shape": [5], "y": [2, 0, 1], "x": f32list(xb.astype(np.float32))}

xn = rng.standard_normal((4, 3)).astype(np.float32)
xn[2, 1] = np.nan
np.save("npy/x_nan.npy", xn)
np.save("npy/y_nan.npy", np.array([0, 1, 0, 1], np.int32))
xi = rng.standard_normal((4, 3)).astype(np.float32)
xi[1, 2] = np.inf
np.save("npy/x_inf.npy", xi)
np.save("npy/y_inf.npy", np.array([0, 1, 0, 1], np.int32))

xbad = rng.standard_normal((8, 3)).astype(np.float32)
np.save("npy/x_bad.npy", xbad)
np.save("npy/y_bad.npy", np.array([0, 1, 2, 3, 4, 12, 5, 6], np.int64))
np.save("npy/y_neg.npy", np.array([0, 1, 2, -1, 4, 1, 5, 6], np.int64))
np.save("npy/y_frac.npy", np.array([0, 1, 2, 3, 1.5, 1, 5, 6], np.float64))
np.save("npy/y_onehot.npy", np.eye(8, dtype=np.float32))
np.save("npy/y_short.npy", np.array([0, 1, 2], np.int64))
np.save("npy/x_cplx.npy", np.zeros((2, 2), np.complex64))
np.save("npy/x_scalar.npy", np.float32(1.0))

with open("npy/x.npy", "rb") as f:
    full = f.read()
write("npy/x_trunc.npy", full[: len(full) - 20])
np.save("npy/y_trunc.npy", y)

# channels-last images (N, H, W, C)
xh = rng.integers(0, 256, size=(2, 4, 5, 3), dtype=np.uint8)
np.save("npy/x_hwc.npy", xh)
np.save("npy/y_hwc.npy", np.array([1, 0], np.int64))
expected["npy_hwc"] = {"shape": [3, 4, 5], "y": [1, 0], "x": f32list(scaled(xh.transpose(0, 3, 1, 2)))}

# ---------------------------------------------------------------- NPZ
os.makedirs("npz", exist_ok=True)
np.savez("npz/data.npz", x=x, y=y)
np.savez_compressed("npz/keys.npz", x_train=x, y_train=y.astype(np.int32), x_test=x[:2], y_test=y[:2])
expected["npz"] = expected["npy"]

# ---------------------------------------------------------------- CIFAR-10
def cifar_records(n):
    lab = rng.integers(0, 10, size=n, dtype=np.uint8)
    pix = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    raw = b"".join(bytes([lab[i]]) + pix[i].tobytes() for i in range(n))
    return lab, pix, raw

# data_batch_10 exists to check numeric (not lexical) ordering of batches
parts = []
for name, n in (("data_batch_1.bin", 3), ("data_batch_2.bin", 2), ("data_batch_10.bin", 1), ("test_batch.bin", 2)):
    l, p, raw = cifar_records(n)
    write("cifar/" + name, raw)
    if name != "test_batch.bin":
        parts.append((l, p))
    else:
        expected["cifar_test"] = {"shape": [3, 32, 32], "y": l.tolist(), "x": f32list(scaled(p))}
lab_all = np.concatenate([l for l, _ in parts])
pix_all = np.concatenate([p for _, p in parts])
# the directory case keeps per-example sums (float64) only, to keep expected.json small
expected["cifar_dir"] = {"shape": [3, 32, 32], "y": lab_all.tolist(),
                         "sums": [float(v) for v in (pix_all.astype(np.float64) / 255).reshape(len(lab_all), -1).sum(1)]}
write("cifar/readme.txt", b"not a batch\n")
l, p, raw = cifar_records(2)
write("cifar_bad/data_batch_1.bin", raw + raw[:100])

# ---------------------------------------------------------------- image folder
# classes are sorted by folder name: bird=0, cat=1, dog=2
H, W = 4, 5
files = []  # (class index, path, PIL image) in load order
def add(cls_idx, path, im, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    im.save(path, **kw)
    files.append((cls_idx, path))

rgb = lambda: Image.fromarray(rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8), "RGB")
add(0, "images/bird/e.png", rgb())
# RGBA: the loader, like Pillow's convert("RGB"), drops alpha
add(0, "images/bird/f.png", Image.fromarray(rng.integers(0, 256, size=(H, W, 4), dtype=np.uint8), "RGBA"))
add(1, "images/cat/a.png", rgb())
add(1, "images/cat/b.png", Image.fromarray(rng.integers(0, 256, size=(H, W), dtype=np.uint8), "L"))
# smooth colours so JPEG artefacts stay small; 4:4:4 so no chroma upsampling differences
yy, xx = np.mgrid[0:H, 0:W]
smooth = np.stack([40 + 30 * xx, 60 + 25 * yy, 200 - 20 * xx - 10 * yy], -1).astype(np.uint8)
add(2, "images/dog/c.JPG", Image.fromarray(smooth, "RGB"), quality=98, subsampling=0)
write("images/dog/notes.txt", b"ignored\n")
write("images/readme.txt", b"ignored: not a class folder\n")
ys, rgb_x, gray_x = [], [], []
for cls_idx, path in files:
    im = Image.open(path)
    ys.append(cls_idx)
    rgb_x.append(scaled(np.asarray(im.convert("RGB")).transpose(2, 0, 1)))
    gray_x.append(scaled(np.asarray(im.convert("L")))[None])
expected["images_rgb"] = {"shape": [3, H, W], "y": ys, "classes": 3, "names": ["bird", "cat", "dog"],
                          "x": f32list(np.stack(rgb_x)), "files": [p for _, p in files]}
expected["images_gray"] = {"shape": [1, H, W], "y": ys, "classes": 3, "x": f32list(np.stack(gray_x))}

# resize: 20×15 -> 4×5 (down) and 2×3 -> 4×5 (up), compared with Pillow's bilinear filter
gy, gx = np.mgrid[0:15, 0:20]
big = np.stack([gx * 12, gy * 17, (gx * gy) % 256], -1).astype(np.uint8)
add(0, "images_big/a/big.png", Image.fromarray(big, "RGB"))
small = rng.integers(0, 256, size=(2, 3, 3), dtype=np.uint8)
add(0, "images_big/a/small.png", Image.fromarray(small, "RGB"))
rs = []
for p in ("images_big/a/big.png", "images_big/a/small.png"):
    im = Image.open(p).convert("RGB").resize((W, H), Image.BILINEAR)
    rs.append(scaled(np.asarray(im).transpose(2, 0, 1)))
expected["images_resize"] = {"shape": [3, H, W], "y": [0, 0], "x": f32list(np.stack(rs))}
os.makedirs("images_empty/a", exist_ok=True)
write("images_empty/a/readme.txt", b"no images\n")

with open("expected.json", "w") as f:
    json.dump(expected, f, sort_keys=True, separators=(",", ":"))
    f.write("\n")

# ---------------------------------------------------------------- Fashion-MNIST reference
FM = "/usr/share/datasets/fashion-mnist"
if os.path.isdir(FM):
    ref = {}
    for split, n in (("train", 60000), ("t10k", 10000)):
        with gzip.open(f"{FM}/{split}-images-idx3-ubyte.gz") as f:
            px = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        with gzip.open(f"{FM}/{split}-labels-idx1-ubyte.gz") as f:
            lb = np.frombuffer(f.read(), np.uint8, offset=8)
        xs = px.astype(np.float64) / 255
        ref[split] = {
            "n": int(len(lb)),
            "first_labels": lb[:10].tolist(),
            "last_label": int(lb[-1]),
            "label_counts": np.bincount(lb, minlength=10).tolist(),
            "mean": float(xs.mean()),
            "first_image_sum": float(xs[0].sum()),
            "last_image_sum": float(xs[-1].sum()),
            "pixel_0_14_14": float(xs[0, 14, 14]),
        }
    with open("fashion.json", "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")
print("ok")
