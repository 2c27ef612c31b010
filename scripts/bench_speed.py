#!/usr/bin/python3
"""Training speed and memory of xreg-onnx against PyTorch, side by side (make bench-speed).

Builds each network in PyTorch (Debian's python3-torch 1.13, torchvision 0.14) and exports the same
network with the same weights to ONNX; then, per model and thread count, runs training steps of
both ALTERNATELY in one run (PyTorch, xreg-onnx, PyTorch, xreg-onnx, ...), each in its own process:

  - PyTorch: model.train() (BatchNorm batch statistics), Gaussian noise σε added after every
    normalization layer (σ = e^-2, as `xreg-onnx inject` does), cross-entropy, backward, Adam
    (lr 1e-3), torch.set_num_threads(T);
  - xreg-onnx: `xreg-bench -speed` on the injected model (the trainer of `xreg-onnx train`: noisy
    forward, backward, Adam on θ), GOMAXPROCS=T; a φ update (K = 4 passes on a regularization batch
    of the batch size) every second step, whose time (a warm one: not the first) gives the overhead
    at the paper's r = 30.

Each process reports its seconds per step (median after the first step), its setup time (from the
process's start to the moment its first training step begins: imports, model build or load,
noise injection, graph build and compilation), the time from its start to the end of its first
step, and its peak resident memory (VmHWM). A process is killed, and its cells say why, past its
row's timeout or its RSS limit (the row's, at most the memory available when it starts, less a
margin, so that an out-of-memory row is reported instead of taking the machine down); its address
space is capped 4 GB above that limit too, so that a burst of allocation between two RSS
polls fails in the process (reported as out of memory) rather than in the kernel's OOM killer.
The Markdown table, with the machine, the load average and the date, replaces the block between
the bench-speed markers in BENCHMARKS.md (--out), after every row.

  /usr/bin/python3 scripts/bench_speed.py --go-bin bin/xreg-bench            # full set
  /usr/bin/python3 scripts/bench_speed.py --go-bin bin/xreg-bench --quick    # cnn-bn, mlp-ln, resnet18
"""

import argparse
import datetime
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tvm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (the fixtures' network definitions and exporter)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- bench-speed:begin -->", "<!-- bench-speed:end -->"
SIGMA0 = 0.1353352832366127  # e^-2, inject's default


def vgg_small(builder):
    """torchvision VGG with BatchNorm on 3×32×32: avgpool removed, a 512→10 head."""
    m = builder(weights=None, num_classes=10)
    m.avgpool = nn.Identity()
    m.classifier = nn.Linear(512, 10)
    return m


def vgg16_bn_224():
    m = tvm.vgg16_bn(weights=None, num_classes=10)
    m.avgpool = nn.Identity()  # the feature map is already 7×7 at 224
    return m


# name: (builder, input shape, batch, opset, steps per process); ROW_OPTS below adds per-row options.
MODELS = {
    "cnn-bn": (mf.cnn_bn, (1, 28, 28), 64, 13, 12),
    "mlp-ln": (mf.mlp_ln, (784,), 64, 17, 20),
    "resnet18": (lambda: tvm.resnet18(weights=None, num_classes=10), (3, 32, 32), 64, 13, 6),
    "vgg11-bn": (lambda: vgg_small(tvm.vgg11_bn), (3, 32, 32), 64, 13, 5),
    "wrn-16-4": (lambda: mf.WideResNet(16, 4, in_channels=3), (3, 32, 32), 64, 13, 5),
    "mobilenet-v2": (lambda: tvm.mobilenet_v2(weights=None, num_classes=10), (3, 32, 32), 64, 13, 5),
    "resnet18-224": (lambda: tvm.resnet18(weights=None, num_classes=10), (3, 224, 224), 16, 13, 3),
    "vgg16-bn-224": (vgg16_bn_224, (3, 224, 224), 16, 13, 3),
    # The memory check of issue 9: vgg16-bn at 224 must train at batch 32 in 24 GB. Three steps
    # (θ, θ + φ, θ) give the peak RSS of both nets and a (cold) φ overhead; one round, one thread
    # count (the largest asked for).
    "vgg16-bn-224-b32": (vgg16_bn_224, (3, 224, 224), 32, 13, 3),
}
# Per-row options: onnx (the exported file's stem, shared with another row), timeout (s per
# process), rss_gb (the row's RSS limit before the memory available caps it), memory_check (one
# round, one thread count).
ROW_OPTS = {
    "wrn-16-4": dict(timeout=1800),  # 151 GFLOP per step: 10+ minutes per process at load 20
    "resnet18-224": dict(timeout=1800, rss_gb=24),
    "vgg16-bn-224": dict(timeout=1800, rss_gb=24),
    "vgg16-bn-224-b32": dict(onnx="vgg16-bn-224", timeout=2400, rss_gb=24, memory_check=True),
}
RSS_MARGIN_GB = 1.5  # left to the rest of the machine below MemAvailable
QUICK = ["cnn-bn", "mlp-ln", "resnet18"]


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build(name, seed=0):
    """The model with torchvision's init, then distinct normalization statistics and biases (so
    that the exporter keeps every initializer: identical ones would be shared through Identity)."""
    torch.manual_seed(seed)
    return mf.randomize(MODELS[name][0](), seed)


def export(name, path):
    model = build(name).eval()
    shape, batch, opset = MODELS[name][1], MODELS[name][2], MODELS[name][3]
    data = mf.export_onnx(model, torch.zeros((2,) + shape), opset)
    mf.write_atomic(path, data)


@functools.lru_cache(maxsize=None)
def train_gflop(name):
    """Floating-point work of one training step in GFLOP: 2 FLOP per multiply-add of every Conv2d
    and Linear in the forward pass, times 3 (forward, input gradient, weight gradient); norms,
    activations and the optimiser are left out (they are memory-bound). Counted on one example
    (the work is linear in the batch) and cached: the table is rendered after every row."""
    model = build(name).eval()
    shape, batch = MODELS[name][1], MODELS[name][2]
    macs = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            k = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            macs[0] += out.numel() * k
        elif isinstance(m, nn.Linear):
            macs[0] += out.numel() * m.in_features

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros((1,) + shape))
    return 3 * 2 * batch * macs[0] / 1e9


def peak_gflops():
    """The CPU's nominal float32 peak per core in GFLOP/s and how it was reckoned: two FMA pipes at
    the clock /proc/cpuinfo reports, 512 bits wide when the CPU has AVX-512 (64 FLOP per cycle: an
    upper bound — AMD Zen 4 runs AVX-512 on 256-bit pipes, Zen 5 and Intel server cores on 512-bit
    ones), else 256 bits (AVX2: 32 FLOP per cycle). Turbo clocks are not counted, so a kernel can
    exceed it."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        mhz = next(float(l.split(":")[1]) for l in info.splitlines() if l.startswith("cpu MHz"))
    except (OSError, StopIteration):
        return None, ""
    flags = next((l.split(":")[1].split() for l in info.splitlines() if l.startswith("flags")), [])
    if "avx512f" in flags:
        return 64 * mhz / 1000, f"two 512-bit FMA pipes (AVX-512) at the reported {mhz:.0f} MHz"
    return 32 * mhz / 1000, f"two 256-bit FMA pipes (AVX2) at the reported {mhz:.0f} MHz"


def torch_worker(args):
    """One PyTorch process: args.steps training steps; prints one JSON line."""
    torch.set_num_threads(int(args.threads))
    shape, batch = MODELS[args.model][1], MODELS[args.model][2]
    model = build(args.model).train()
    norms = (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)
    log_sigma = torch.tensor(float(torch.log(torch.tensor(SIGMA0))))

    def noise(_m, _inp, out):
        return out + log_sigma.exp() * torch.randn_like(out)

    for m in model.modules():
        if isinstance(m, norms):
            m.register_forward_hook(noise)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    x = torch.rand((batch,) + shape, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    times, cpu, first = [], [], None
    for i in range(args.steps):
        if i == 0:
            setup_done = time.time()
            # A first, partial line: what a process killed during its steps still tells.
            print(json.dumps(dict(partial=True, setup_done_at=setup_done)), flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if i == 0:
            first = time.time()
    print(
        json.dumps(
            dict(
                step_s=statistics.median(times[1:]),
                cpu_step_s=statistics.median(cpu[1:]),
                first_step_at=first,
                setup_done_at=setup_done,
                peak_rss_mb=peak_rss_mb(),
                loss=float(loss),
            )
        ),
        flush=True,
    )


def mem_available_mb():
    with open("/proc/meminfo") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("MemAvailable:")) / 1024


def rss_limit_mb(name, args):
    """The RSS limit of one process of row name: --rss-limit-gb if given, else the row's (default
    12 GB), capped at the memory available now less a margin."""
    if args.rss_limit_gb:
        return args.rss_limit_gb * 1024
    row = ROW_OPTS.get(name, {}).get("rss_gb", 12) * 1024
    return min(row, mem_available_mb() - RSS_MARGIN_GB * 1024)


OOM_MARKS = ("out of memory", "can't allocate memory", "cannot allocate memory", "MemoryError", "std::bad_alloc")


def run_worker(cmd, env, timeout, rss_limit_mb):
    """Runs one worker process, killing it past timeout seconds or rss_limit_mb of resident memory
    (polled every 0.1 s; its address space is also capped at rss_limit_mb + 4 GB — a Go process
    reserves ≈ 2 GB more than it touches — so that an allocation burst fails inside the process); returns its JSON record plus the wall times from its start to the
    beginning (setup_s) and the end (first_step_s) of its first step."""
    start = time.time()
    cap = int((rss_limit_mb + 4 * 1024) * 1024 * 1024)

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.PIPE, text=True, preexec_fn=limit)
        why, peak = None, 0
        while p.poll() is None:
            time.sleep(0.1)
            if time.time() - start > timeout:
                why = f"timeout after {timeout} s"
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    rss = next((int(l.split()[1]) for l in f if l.startswith("VmRSS:")), 0) / 1024
                peak = max(peak, rss)
                if rss > rss_limit_mb:
                    why = f"killed over {rss_limit_mb / 1024:.1f} GB RSS"
            except (FileNotFoundError, StopIteration):
                pass
            if why:
                p.kill()
                p.wait()
                break
        err = p.stderr.read()
        out.seek(0)
        text = out.read().decode()
    lines = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
    partial = next((l for l in lines if l.get("partial")), {})
    setup = {"setup_s": partial["setup_done_at"] - start} if "setup_done_at" in partial else {}
    if why:
        return dict(error=why, rss_seen_mb=peak, **setup)
    if p.returncode != 0:
        last = err.strip().splitlines()[-1] if err.strip() else ""
        if any(m.lower() in err.lower() for m in OOM_MARKS):
            return dict(error=f"out of memory (address space capped at {cap / 2**30:.1f} GB): {last[:120]}", rss_seen_mb=peak, **setup)
        return dict(error=f"exit {p.returncode}: {last[:200]}", rss_seen_mb=peak, **setup)
    rec = lines[-1]
    rec["first_step_s"] = rec.pop("first_step_at") - start
    rec["setup_s"] = rec.pop("setup_done_at") - start
    return rec


def machine():
    cpu = "x86-64"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem = int(next(l for l in f if l.startswith("MemTotal")).split()[1]) / 1024 / 1024
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}"


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", choices=["torch"], help=argparse.SUPPRESS)
    ap.add_argument("--flops", action="store_true", help="print each model's GFLOP per training step and exit")
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts [1,2]")
    ap.add_argument("--steps", type=int, default=0, help="steps per process (0: per-model default)")
    ap.add_argument("--models", default="", help="comma-separated models (default: all, or --quick's)")
    ap.add_argument("--quick", action="store_true", help="only " + ", ".join(QUICK) + ", one round")
    ap.add_argument("--rounds", type=int, default=2, help="alternations torch/xreg-onnx per row [2]")
    ap.add_argument("--go-bin", default="bin/xreg-bench", help="the xreg-bench binary")
    ap.add_argument("--kernels", default="", help="label of the Go build (default: asks the binary)")
    ap.add_argument("--dir", default="out/bench-speed", help="folder of the exported models")
    ap.add_argument("--out", default="BENCHMARKS.md", help="Markdown file to update ('-': stdout)")
    ap.add_argument("--timeout", type=int, default=0,
                    help="seconds per process before it is killed (0: the row's, 900 unless ROW_OPTS says)")
    ap.add_argument("--rss-limit-gb", type=float, default=0,
                    help="kill a process past this RSS (0: the row's, 12 GB unless ROW_OPTS says, "
                         f"at most the memory available less {RSS_MARGIN_GB} GB)")
    args = ap.parse_args()
    if args.worker:
        torch_worker(args)
        return 0
    if args.flops:
        peak, how = peak_gflops()
        print(f"nominal peak float32 GFLOP/s per core ({how}): {peak or 0:.0f}")
        for n in (args.models.split(",") if args.models else MODELS):
            print(f"{n}: {train_gflop(n):.2f} GFLOP per training step")
        return 0

    names = [n for n in args.models.split(",") if n] or (QUICK if args.quick else list(MODELS))
    for n in names:
        if n not in MODELS:
            ap.error(f"--models: unknown model {n!r} (have {', '.join(MODELS)})")
    threads = [int(t) for t in args.threads.split(",")]
    rounds = 1 if args.quick else args.rounds
    os.makedirs(args.dir, exist_ok=True)
    kernels = args.kernels or subprocess.run(
        [args.go_bin, "-kernels"], capture_output=True, text=True, check=True
    ).stdout.strip()
    load0 = os.getloadavg()
    began = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for name in names:
        _, shape, batch, _, steps = MODELS[name]
        opts = ROW_OPTS.get(name, {})
        steps = args.steps or steps
        timeout = args.timeout or opts.get("timeout", 900)
        stem = opts.get("onnx", name)
        path = os.path.join(args.dir, stem + ".onnx")
        if not os.path.exists(path):
            export(stem, path)
        row_threads, row_rounds = threads, rounds
        if opts.get("memory_check"):
            row_threads, row_rounds = [max(threads)], 1
        for t in row_threads:
            env = dict(os.environ, OMP_NUM_THREADS=str(t), GOMAXPROCS=str(t))
            tcmd = [sys.executable, __file__, "--worker", "torch", "--model", name,
                    "--threads", str(t), "--steps", str(steps)]
            gcmd = [args.go_bin, "-speed", path, "-batch", str(batch), "-steps", str(steps),
                    "-threads", str(t)]
            recs = {"torch": [], "xreg": []}
            for r in range(row_rounds):
                for side, cmd in (("torch", tcmd), ("xreg", gcmd)):
                    rec = run_worker(cmd, env, timeout, rss_limit_mb(name, args))
                    print(f"{name} threads={t} round={r} {side}: {json.dumps(rec)}", file=sys.stderr, flush=True)
                    recs[side].append(rec)
            rows.append((name, shape, batch, t, recs))
            if args.out != "-":  # after every row, so that an interrupted run keeps what it measured
                write(rows, kernels, began, load0, rounds, args)
    if args.out == "-":
        print(render(rows, kernels, began, datetime.datetime.now(datetime.timezone.utc), load0, os.getloadavg(), rounds, args))
    else:
        write(rows, kernels, began, load0, rounds, args)
        print(f"bench-speed: wrote {len(rows)} rows to {args.out}", file=sys.stderr)
    return 0


def write(rows, kernels, began, load0, rounds, args):
    """Replaces the block between the markers of args.out (or appends one) with the table."""
    ended = datetime.datetime.now(datetime.timezone.utc)
    table = render(rows, kernels, began, ended, load0, os.getloadavg(), rounds, args)
    doc = ""
    if os.path.exists(args.out):
        with open(args.out) as f:
            doc = f.read()
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + table + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + table + "\n"
    mf.write_atomic(args.out, doc.encode())


def best(recs, key):
    vals = [r[key] for r in recs if key in r]
    return min(vals) if vals else None


def rss_cell(recs):
    """The best peak RSS of a side's processes in MB, or the most any failed one reached (≥ N)."""
    ok = best(recs, "peak_rss_mb")
    if ok is not None:
        return f"{ok:.0f}"
    seen = [r["rss_seen_mb"] for r in recs if r.get("rss_seen_mb")]
    return f"≥ {max(seen):.0f}" if seen else "—"


def render(rows, kernels, began, ended, load0, load1, rounds, args):
    out = [BEGIN, ""]
    cmd = "make bench-speed" + (" QUICK=1" if args.quick else "")
    flags = [f"--{k} {v}" for k, v in (("models", args.models), ("threads", args.threads if args.threads != "1,2" else ""),
                                       ("rounds", args.rounds if args.rounds != 2 and not args.quick else "")) if v]
    if flags:
        cmd += ' BENCH_SPEED_FLAGS="' + " ".join(flags) + '"'

    out.append(
        f"Generated by `{cmd}` (scripts/bench_speed.py) on {began:%Y-%m-%d %H:%M}–{ended:%H:%M} UTC; "
        f"machine: {machine()}; PyTorch {torch.__version__} (oneDNN: "
        f"{torch.backends.mkldnn.is_available()}); xreg-onnx kernels: {kernels}. The machine was "
        f"shared with other jobs: load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end. "
        f"Each cell is the best of {rounds} alternating process(es) per side (PyTorch, xreg-onnx, "
        "PyTorch, …); s/step is the median step after the first; ratio = PyTorch s/step ÷ "
        "xreg-onnx s/step (higher is faster, 1 = PyTorch's speed); CPU s/step is the process's CPU "
        "time (user + system, all threads) per step, which the machine's load inflates far less than "
        "the wall time, and CPU ratio its ratio; RSS is each process's peak "
        "resident memory (≥ N: the RSS seen when it was killed or failed); setup is the wall time from the process's start to the "
        "moment its first training step begins (PyTorch: imports, model build, optimizer; xreg-onnx: "
        "ONNX load, noise injection, graph build and compilation of both nets), first step the wall "
        "time from its start to the end of its first step (setup + the first step with its warm-up); "
        "the memory-check row (vgg16-bn-224-b32: must fit in 24 GB) is one process per side at one thread count; φ overhead is the time of one φ update (K = 4 noisy passes over a batch) "
        "divided by 30 θ steps (r = 30), in wall time and in CPU time. GFLOP/s counts the multiply-adds of every convolution "
        "and linear layer, ×2 FLOP, ×3 passes (`bench_speed.py --flops`); the nominal float32 peak of one "
        f"core is ≈ {peak_gflops()[0] or 0:.0f} GFLOP/s ({peak_gflops()[1]}; turbo clocks not counted)."
    )
    out.append("")
    out.append(
        "| model | input | batch | threads | PyTorch s/step | xreg-onnx s/step | ratio | "
        "PyTorch CPU s/step | xreg-onnx CPU s/step | CPU ratio | "
        "PyTorch RSS MB | xreg-onnx RSS MB | RSS ratio | PyTorch setup s | xreg-onnx setup s | "
        "PyTorch first step s | xreg-onnx first step s | "
        "φ overhead (r = 30) | PyTorch GFLOP/s | xreg-onnx GFLOP/s |"
    )
    out.append("|" + "---|" * 20)
    for name, shape, batch, t, recs in rows:
        ts, xs = best(recs["torch"], "step_s"), best(recs["xreg"], "step_s")
        tr, xr = best(recs["torch"], "peak_rss_mb"), best(recs["xreg"], "peak_rss_mb")
        tf, xf = best(recs["torch"], "first_step_s"), best(recs["xreg"], "first_step_s")
        tsu, xsu = best(recs["torch"], "setup_s"), best(recs["xreg"], "setup_s")
        ph = best(recs["xreg"], "phi_s")
        ratio = ts / xs if ts and xs else None
        rss = xr / tr if tr and xr else None
        over = f"{100 * ph / (30 * xs):.1f} %" if ph and xs else "—"
        pc, xc1 = best(recs["xreg"], "phi_cpu_s"), best(recs["xreg"], "cpu_step_s")
        if pc and xc1:
            over += f", CPU {100 * pc / (30 * xc1):.1f} %"
        if ph and any(r.get("phi_cold") for r in recs["xreg"]):
            over += " (cold)"
        tc, xc = best(recs["torch"], "cpu_step_s"), best(recs["xreg"], "cpu_step_s")
        cells = [name, "×".join(map(str, shape)), str(batch), str(t), fmt(ts, ".3f"), fmt(xs, ".3f"),
                 fmt(ratio, ".2f"), fmt(tc, ".3f"), fmt(xc, ".3f"), fmt(tc / xc if tc and xc else None, ".2f"),
                 rss_cell(recs["torch"]), rss_cell(recs["xreg"]), fmt(rss, ".2f"), fmt(tsu, ".1f"), fmt(xsu, ".1f"),
                 fmt(tf, ".1f"), fmt(xf, ".1f"), over]
        gf = train_gflop(name)
        cells += [fmt(gf / ts if ts else None, ".1f"), fmt(gf / xs if xs else None, ".1f")]
        for i, side in ((4, "torch"), (5, "xreg")):
            errs = sorted({r["error"] for r in recs[side] if "error" in r})
            if errs:
                cells[i] += " (" + "; ".join(errs) + ")"
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append(END)
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
