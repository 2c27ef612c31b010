"""Regenerates the fixtures of internal/predict with NumPy, Pillow and torchvision.

Run from this folder with the Debian interpreter: /usr/bin/python3 gen.py
"""
import numpy as np
from PIL import Image
from torchvision.transforms.functional import to_tensor

x = np.array([[1, 2], [3, -1]])
np.save("x_f32.npy", x.astype(np.float32))
np.save("x_f64.npy", x.astype(np.float64))
np.save("one_f32.npy", np.array([3, -1], np.float32))  # one example, no batch dimension
np.save("x_i32.npy", x.astype(np.int32))
# Fortran order: the file holds the column-major bytes; numpy reads it back as this array.
np.save("fortran_f32.npy", np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)))
np.save("big_endian_f64.npy", np.arange(6, dtype=">f8").reshape(2, 3))

# A 3-wide, 2-high RGB image and torchvision's view of it: C x H x W planes scaled to [0, 1].
rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                [[10, 20, 30], [128, 64, 32], [255, 255, 255]]], np.uint8)
Image.fromarray(rgb, "RGB").save("rgb.png")
np.save("rgb_chw.npy", to_tensor(Image.open("rgb.png")).numpy())
# Pillow's ITU-R 601-2 luma of the same image, scaled to [0, 1].
np.save("gray_hw.npy", np.asarray(Image.open("rgb.png").convert("L"), np.float32) / 255)

# A flat-colour JPEG (JPEG is lossy: compare within a few levels).
Image.new("RGB", (8, 8), (200, 100, 50)).save("flat.jpg", quality=95)

# Resizing references: Pillow's BILINEAR (a tent filter widened when downscaling, as
# golang.org/x/image/draw.BiLinear does), as C x H x W planes in [0, 1].
for w, h in [(2, 2), (5, 3)]:
    small = np.asarray(Image.open("rgb.png").resize((w, h), Image.BILINEAR), np.float32)
    np.save(f"rgb_{w}x{h}_chw.npy", small.transpose(2, 0, 1) / 255)
Image.fromarray(np.array([[0, 100, 200, 255]], np.uint8), "L").save("ramp.png")
np.save("ramp_2x1.npy", np.asarray(Image.open("ramp.png").resize((2, 1), Image.BILINEAR), np.float32) / 255)
