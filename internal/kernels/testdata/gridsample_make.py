"""Writes the GridSample reference arrays of gridsample_test.go (run once, files are committed).

/usr/bin/python3 internal/kernels/testdata/gridsample_make.py

torch.nn.functional.grid_sample (torch 1.13), bilinear, padding_mode "zeros", in float64, for
align_corners False and True: the input x (2×3×5×7), the grid (2×4×6×2, coordinates in
[-1.3, 1.3] so that some samples fall partly or wholly outside the input), an upstream gradient dy,
the output y, and torch autograd's gradients of sum(y·dy) with respect to x and the grid.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
g = torch.Generator().manual_seed(20250)
x = torch.randn(2, 3, 5, 7, generator=g, dtype=torch.float64)
grid = (torch.rand(2, 4, 6, 2, generator=g, dtype=torch.float64) * 2 - 1) * 1.3
dy = torch.randn(2, 3, 4, 6, generator=g, dtype=torch.float64)
np.save(os.path.join(here, "gridsample_x.npy"), x.numpy())
np.save(os.path.join(here, "gridsample_grid.npy"), grid.numpy())
np.save(os.path.join(here, "gridsample_dy.npy"), dy.numpy())
for align in (0, 1):
    xv = x.clone().requires_grad_(True)
    gv = grid.clone().requires_grad_(True)
    y = F.grid_sample(xv, gv, mode="bilinear", padding_mode="zeros", align_corners=bool(align))
    (y * dy).sum().backward()
    np.save(os.path.join(here, f"gridsample_y_align{align}.npy"), y.detach().numpy())
    np.save(os.path.join(here, f"gridsample_dx_align{align}.npy"), xv.grad.numpy())
    np.save(os.path.join(here, f"gridsample_dgrid_align{align}.npy"), gv.grad.numpy())
