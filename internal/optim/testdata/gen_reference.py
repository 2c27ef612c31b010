"""Reference trajectories from torch.optim for optim_test.go (run once with Debian's python3-torch).

Writes reference.json: for each case, the initial weights, the gradient fed at each step, and the
weights torch produced after each step.
"""
import json
import torch

torch.manual_seed(0)
cases = []
for name, make in [
    ("adam", lambda p: torch.optim.Adam([p], lr=1e-2)),
    ("adamw", lambda p: torch.optim.AdamW([p], lr=1e-2, weight_decay=0.1)),
    ("sgd", lambda p: torch.optim.SGD([p], lr=0.1)),
    ("sgd-momentum", lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9)),
]:
    w0 = torch.randn(5)
    p = torch.nn.Parameter(w0.clone())
    opt = make(p)
    grads, traj = [], []
    for step in range(4):
        g = torch.randn(5)
        p.grad = g.clone()
        opt.step()
        grads.append(g.tolist())
        traj.append(p.detach().clone().tolist())
    cases.append({"name": name, "w0": w0.tolist(), "grads": grads, "weights": traj})

a = torch.nn.Parameter(torch.zeros(3)); a.grad = torch.tensor([3.0, 0.0, 4.0])
b = torch.nn.Parameter(torch.zeros(2)); b.grad = torch.tensor([0.0, 12.0])
norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm=6.5)
clip = {"norm": float(norm), "a": a.grad.tolist(), "b": b.grad.tolist()}
json.dump({"cases": cases, "clip": clip}, open("reference.json", "w"), indent=1)
