"""Independent numpy reference for package calib.

Writes golden_metrics.json: a fixed random set of logits, labels and
probabilities together with every metric computed here with numpy. The Go
tests read the file; they never run this script. Regenerate with

    /usr/bin/python3 calib/testdata/gen_golden.py

from the repository root.
"""
import json
import os

import numpy as np

N, K, BINS, TRUE_T = 303, 5, 10, 1.7
rng = np.random.default_rng(20250117)

# Logits with some class signal; labels drawn from softmax(logits / TRUE_T).
centres = rng.normal(size=(K, K)) * 2.0
cls = rng.integers(0, K, size=N)
logits = centres[cls] + rng.normal(size=(N, K)) * 1.5


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


p_true = softmax(logits / TRUE_T)
labels = np.array([rng.choice(K, p=row) for row in p_true])
probs = softmax(logits)

conf = probs.max(axis=1)
pred = probs.argmax(axis=1)
correct = (pred == labels).astype(float)
onehot = np.eye(K)[labels]

accuracy = correct.mean()
nll = -np.log(np.maximum(probs[np.arange(N), labels], 1e-12)).mean()
brier = ((probs - onehot) ** 2).sum(axis=1).mean()

# Equal-width bins (lo, hi], bin 0 also holds 0: searchsorted 'left' on the
# edges gives i with edges[i-1] < c <= edges[i].
edges = np.linspace(0.0, 1.0, BINS + 1)
idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, BINS - 1)
bin_count, bin_conf, bin_acc = [], [], []
ece, mce = 0.0, 0.0
for b in range(BINS):
    m = idx == b
    n_b = int(m.sum())
    bin_count.append(n_b)
    if n_b == 0:
        bin_conf.append(0.0)
        bin_acc.append(0.0)
        continue
    c_b, a_b = conf[m].mean(), correct[m].mean()
    bin_conf.append(float(c_b))
    bin_acc.append(float(a_b))
    ece += n_b / N * abs(a_b - c_b)
    mce = max(mce, abs(a_b - c_b))

# Equal-mass bins: stable sort by confidence, bin b = sorted positions
# floor(N*b/BINS) .. floor(N*(b+1)/BINS)-1.
order = np.argsort(conf, kind="stable")
ad_lower, ad_upper, ad_count, ad_conf, ad_acc = [], [], [], [], []
aece = 0.0
for b in range(BINS):
    lo, hi = N * b // BINS, N * (b + 1) // BINS
    sel = order[lo:hi]
    c_b, a_b = conf[sel].mean(), correct[sel].mean()
    ad_lower.append(float(conf[sel].min()))
    ad_upper.append(float(conf[sel].max()))
    ad_count.append(int(hi - lo))
    ad_conf.append(float(c_b))
    ad_acc.append(float(a_b))
    aece += (hi - lo) / N * abs(a_b - c_b)

per_class_count = [int((labels == k).sum()) for k in range(K)]
per_class_acc = [float(correct[labels == k].mean()) if per_class_count[k] else 0.0 for k in range(K)]


def nll_at(t):
    z = logits / t
    mx = z.max(axis=1)
    lse = mx + np.log(np.exp(z - mx[:, None]).sum(axis=1))
    return float((lse - z[np.arange(N), labels]).mean())


# Temperature: dense grid on ln T, then a second dense grid around the best.
u = np.linspace(np.log(1e-2), np.log(1e2), 20001)
f = np.array([nll_at(np.exp(x)) for x in u])
i = int(f.argmin())
u2 = np.linspace(u[max(i - 1, 0)], u[min(i + 1, len(u) - 1)], 4001)
f2 = np.array([nll_at(np.exp(x)) for x in u2])
t_best = float(np.exp(u2[f2.argmin()]))

out = {
    "bins": BINS,
    "logits": logits.tolist(),
    "labels": labels.tolist(),
    "probs": probs.tolist(),
    "accuracy": float(accuracy),
    "mean_confidence": float(conf.mean()),
    "nll": float(nll),
    "brier": float(brier),
    "ece": float(ece),
    "mce": float(mce),
    "adaptive_ece": float(aece),
    "bin_count": bin_count,
    "bin_conf": bin_conf,
    "bin_acc": bin_acc,
    "adaptive_lower": ad_lower,
    "adaptive_upper": ad_upper,
    "adaptive_count": ad_count,
    "adaptive_conf": ad_conf,
    "adaptive_acc": ad_acc,
    "per_class_count": per_class_count,
    "per_class_acc": per_class_acc,
    "temperature": t_best,
    "temperature_nll": nll_at(t_best),
    "temperature_grid_step": float(u2[1] - u2[0]),
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_metrics.json")
with open(path, "w") as fh:
    json.dump(out, fh, indent=1)
    fh.write("\n")
print("wrote", path, "T =", t_best, "ECE =", ece, "acc =", accuracy)
