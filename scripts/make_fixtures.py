#!/usr/bin/python3
"""Makes the fixture models, reference arrays and bundled data that the Go tests stand on.

Run from anywhere (paths are relative to the repository root) with the Debian system interpreter,
which has torch 1.13, torchvision 0.14, onnx 1.12 and numpy:

    /usr/bin/python3 scripts/make_fixtures.py           # small fixtures, committed
    /usr/bin/python3 scripts/make_fixtures.py --large   # large fixtures in testdata/large/ (git-ignored)

The default run writes
  testdata/models/NAME.onnx, NAME.input.npy, NAME.output.npy, manifest.json, README.md
  testdata/fmnist-small/{train,reg,test}-{images-idx3,labels-idx1}-ubyte.gz
and --large writes only testdata/large/ (same layout, its own manifest.json and README.md).

Every model is float32, in eval mode, exported with TrainingMode.PRESERVE so that
BatchNormalization nodes stay in the graph (the default eval export folds them into Conv), with
input "input", output "logits" and a dynamic batch axis 0 ("batch") on both. Each graph is checked
with onnx.checker (full check) and may contain only the op types in ALLOWED_OPS. Normalization layers
get random affine parameters and running statistics so that they are not identities.

Reference arrays: NAME.input.npy is a float32 batch of 64 (the first 64 Fashion-MNIST t10k images
scaled x/255 for 1x28x28 and 784 inputs, seeded standard-normal for 3-channel inputs) and
NAME.output.npy is the eval-mode torch output on it. If onnxruntime is importable the exported model
is also run on it and compared; otherwise that check is skipped.

The output is deterministic: fixed seeds, one torch thread, gzip mtime 0, sorted JSON.
"""

import argparse
import collections
import gzip
import hashlib
import io
import json
import os
import struct
import sys
import tempfile
import warnings

import numpy as np
import onnx
import onnx.checker
import torch
import torch.nn as nn
import torchvision.models as tvm
import torchvision.models.resnet as tvr
import torchvision.models.vgg as tvv

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
MODELS_DIR = os.path.join(ROOT, "testdata", "models")
LARGE_DIR = os.path.join(ROOT, "testdata", "large")
FMNIST_SMALL_DIR = os.path.join(ROOT, "testdata", "fmnist-small")

BATCH = 64
MAX_SMALL_BYTES = 2 << 20

ALLOWED_OPS = frozenset(
    """Conv BatchNormalization LayerNormalization ReduceMean Sub Pow Sqrt Div Mul Add Gemm MatMul
    Relu Clip Sigmoid Tanh MaxPool AveragePool GlobalAveragePool Flatten Reshape Transpose Concat
    Identity Dropout Constant Softmax Resize""".split()
)


# ---------------------------------------------------------------------------------------------
# Files


def write_atomic(path, data):
    """Writes bytes to path through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(path) or "."  # a bare file name: the current folder
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def gzip_bytes(raw):
    """Gzip with no file name and mtime 0, so equal input gives equal bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as g:
        g.write(raw)
    return buf.getvalue()


def read_idx_gz(path):
    """Reads a gzip IDX file of unsigned bytes (the only kind Fashion-MNIST has)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} bytes of data for dims {dims}")
    return data.reshape(dims)


def idx_bytes(arr):
    """Encodes a uint8 array as IDX: two zero bytes, type 0x08, rank, big-endian int32 dims, data."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return header + arr.tobytes()


# ---------------------------------------------------------------------------------------------
# Data


def make_fmnist_small():
    """train = train 0..999, reg = train 59000..59999, test = t10k 0..1999; images and labels."""
    train_x = read_idx_gz(os.path.join(FMNIST_DIR, "train-images-idx3-ubyte.gz"))
    train_y = read_idx_gz(os.path.join(FMNIST_DIR, "train-labels-idx1-ubyte.gz"))
    test_x = read_idx_gz(os.path.join(FMNIST_DIR, "t10k-images-idx3-ubyte.gz"))
    test_y = read_idx_gz(os.path.join(FMNIST_DIR, "t10k-labels-idx1-ubyte.gz"))
    assert train_x.shape == (60000, 28, 28) and train_y.shape == (60000,)
    assert test_x.shape == (10000, 28, 28) and test_y.shape == (10000,)
    splits = {
        "train": (train_x[0:1000], train_y[0:1000]),
        "reg": (train_x[59000:60000], train_y[59000:60000]),
        "test": (test_x[0:2000], test_y[0:2000]),
    }
    out = []
    for name, (x, y) in splits.items():
        for kind, arr in (("images-idx3", x), ("labels-idx1", y)):
            path = os.path.join(FMNIST_SMALL_DIR, f"{name}-{kind}-ubyte.gz")
            data = gzip_bytes(idx_bytes(arr))
            write_atomic(path, data)
            assert np.array_equal(read_idx_gz(path), arr)
            out.append((os.path.relpath(path, ROOT), arr.shape, len(data)))
    return out


def fmnist_reference_input():
    """The first 64 t10k images, float32, scaled x/255, shaped [64,1,28,28]."""
    x = read_idx_gz(os.path.join(FMNIST_DIR, "t10k-images-idx3-ubyte.gz"))[:BATCH]
    return (x.astype(np.float32) / np.float32(255.0)).reshape(BATCH, 1, 28, 28)


def normal_reference_input(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((BATCH,) + tuple(shape), generator=g, dtype=torch.float32).numpy()


# ---------------------------------------------------------------------------------------------
# Making initial identities non-trivial


def randomize(model, seed):
    """Gives every normalization layer random affine parameters and running statistics, and every
    bias that is exactly zero at init random values, so that none of them is an identity."""
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
            elif isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                if not torch.any(m.bias != 0):
                    uniform(m.bias, -0.1, 0.1)
    return model


# ---------------------------------------------------------------------------------------------
# Models


def mlp_ln():
    """784-256-256-256-10; hidden blocks Linear -> LayerNorm(256, no affine) -> ReLU."""
    layers = collections.OrderedDict()
    width = 784
    for i in (1, 2, 3):
        layers[f"fc{i}"] = nn.Linear(width, 256)
        layers[f"ln{i}"] = nn.LayerNorm(256, elementwise_affine=False)
        layers[f"relu{i}"] = nn.ReLU()
        width = 256
    layers["fc4"] = nn.Linear(256, 10)
    return nn.Sequential(layers)


def cnn_bn():
    """conv3x3(1->32)-BN-ReLU-maxpool2, conv3x3(32->64)-BN-ReLU-maxpool2, flatten, Linear(3136->10).
    The convolutions have no bias (the BatchNorm after them has one)."""
    return nn.Sequential(
        collections.OrderedDict(
            conv1=nn.Conv2d(1, 32, 3, padding=1, bias=False),
            bn1=nn.BatchNorm2d(32),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(32, 64, 3, padding=1, bias=False),
            bn2=nn.BatchNorm2d(64),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc=nn.Linear(64 * 7 * 7, 10),
        )
    )


def vgg11_bn_28(width_div, hidden):
    """torchvision VGG-11 with BatchNorm adapted to 1x28x28: channel widths / width_div, first conv
    with 1 input channel, the 5th (last) max-pool dropped (28->14->7->3->1 leaves nothing for it),
    avgpool replaced by Identity and the classifier Linear(C*1*1, hidden)-ReLU-Dropout-
    Linear(hidden, hidden)-ReLU-Dropout-Linear(hidden, 10). With width_div=1 and hidden=4096 the
    features and classifier are those of torchvision vgg11_bn(num_classes=10) apart from these
    changes."""
    if width_div == 1:
        model = tvm.vgg11_bn(weights=None, num_classes=10)
    else:
        cfg = [v if v == "M" else v // width_div for v in tvv.cfgs["A"]]
        model = tvv.VGG(tvv.make_layers(cfg, batch_norm=True), num_classes=10)
    first = model.features[0]
    conv = nn.Conv2d(1, first.out_channels, 3, padding=1)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    model.features[0] = conv
    assert isinstance(model.features[-1], nn.MaxPool2d)
    model.features = nn.Sequential(*list(model.features.children())[:-1])
    model.avgpool = nn.Identity()
    channels = [m for m in model.features if isinstance(m, nn.Conv2d)][-1].out_channels
    model.classifier = nn.Sequential(
        nn.Linear(channels * 1 * 1, hidden),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(hidden, hidden),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(hidden, 10),
    )
    for m in model.classifier:
        if isinstance(m, nn.Linear):  # torchvision's VGG init
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return model


class WideBasic(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3, plus the input (or a 1x1
    conv of the activated input when the shape changes)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if cin != cout or stride != 1:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, padding=0, bias=False)

    def forward(self, x):
        a = self.relu1(self.bn1(x))
        y = self.conv2(self.relu2(self.bn2(self.conv1(a))))
        return y + (x if self.shortcut is None else self.shortcut(a))


class WideResNet(nn.Module):
    """CIFAR-style WideResNet-depth-width (Zagoruyko & Komodakis): conv3x3(->16), three groups of
    (depth-4)/6 pre-activation blocks with 16w, 32w, 64w channels and strides 1, 2, 2, then
    BN-ReLU-global average pool-flatten-Linear(64w -> classes). For 28x28 input the last map is 7x7."""

    def __init__(self, depth, width, in_channels=1, num_classes=10):
        super().__init__()
        assert (depth - 4) % 6 == 0
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        groups = []
        cin = widths[0]
        for g, stride in zip((1, 2, 3), (1, 2, 2)):
            blocks = []
            for i in range(n):
                blocks.append(WideBasic(cin, widths[g], stride if i == 0 else 1))
                cin = widths[g]
            groups.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.fc(self.flatten(self.pool(self.relu(self.bn(x)))))


class ResNetBase(tvr.ResNet):
    """torchvision's ResNet with BasicBlock and a chosen base width instead of 64 (torchvision
    hard-codes 64, 128, 256, 512). Layer construction, init and forward are torchvision's own."""

    def __init__(self, layers, base, num_classes=10):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = base
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # torchvision's width_per_group; BasicBlock requires 64
        self.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(tvr.BasicBlock, base, layers[0])
        self.layer2 = self._make_layer(tvr.BasicBlock, base * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(tvr.BasicBlock, base * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(tvr.BasicBlock, base * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(base * 8 * tvr.BasicBlock.expansion, num_classes)
        for m in self.modules():  # as torchvision.models.resnet.ResNet.__init__
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


# Each entry: file stem, builder, input shape (without batch), opsets, how it is made.
SMALL = [
    dict(
        name="mlp-ln",
        build=mlp_ln,
        shape=(784,),
        opsets=(13, 17),
        how="784-256-256-256-10 MLP; hidden blocks Linear→LayerNorm(256, elementwise_affine=False)→ReLU, "
        "then Linear(256→10). Same weights in both files; opset 13 decomposes LayerNorm, opset 17 "
        "has LayerNormalization.",
    ),
    dict(
        name="cnn-bn",
        build=cnn_bn,
        shape=(1, 28, 28),
        opsets=(13,),
        how="conv3x3(1→32, pad 1, no bias)→BN→ReLU→maxpool2→conv3x3(32→64, pad 1, no bias)→BN→ReLU→"
        "maxpool2→flatten→Linear(3136→10).",
    ),
    dict(
        name="vgg11-bn-tiny",
        build=lambda: vgg11_bn_28(width_div=8, hidden=256),
        shape=(1, 28, 28),
        opsets=(13,),
        how="torchvision VGG (make_layers cfg 'A', batch_norm=True) with widths /8 (8-16-32-32-64-64-"
        "64-64), first conv 1→8, last max-pool dropped (28→14→7→3→1 leaves no room for a 5th), "
        "avgpool→Identity, classifier Linear(64→256)-ReLU-Dropout-Linear(256→256)-ReLU-Dropout-"
        "Linear(256→10).",
    ),
    dict(
        name="wrn-16-1",
        build=lambda: WideResNet(16, 1),
        shape=(1, 28, 28),
        opsets=(13,),
        how="CIFAR-style WideResNet-16-1, pre-activation BN-ReLU-conv blocks (2 per group, widths "
        "16-32-64, strides 1-2-2, 1×1 conv shortcut where the shape changes), final BN-ReLU-global "
        "average pool-Linear(64→10); 1×28×28 input.",
    ),
    dict(
        name="resnet18-tiny",
        build=lambda: ResNetBase([2, 2, 2, 2], base=8),
        shape=(3, 32, 32),
        opsets=(13,),
        how="torchvision ResNet/BasicBlock, layers [2,2,2,2], stem conv7×7 s2 + BN + ReLU + maxpool3 s2, "
        "base width 8 (8-16-32-64) instead of 64, adaptive avgpool, Linear(64→10); 3×32×32 input.",
    ),
]

LARGE = [
    dict(
        name="vgg11-bn",
        build=lambda: vgg11_bn_28(width_div=1, hidden=4096),
        shape=(1, 28, 28),
        opsets=(13,),
        how="torchvision vgg11_bn(num_classes=10) with first conv 1→64, last max-pool dropped, "
        "avgpool→Identity, classifier Linear(512→4096)-ReLU-Dropout-Linear(4096→4096)-ReLU-Dropout-"
        "Linear(4096→10).",
    ),
    dict(
        name="wrn-16-4",
        build=lambda: WideResNet(16, 4),
        shape=(1, 28, 28),
        opsets=(13,),
        how="CIFAR-style WideResNet-16-4 (widths 64-128-256), as wrn-16-1; 1×28×28 input.",
    ),
    dict(
        name="resnet18",
        build=lambda: tvm.resnet18(weights=None, num_classes=10),
        shape=(3, 64, 64),
        opsets=(13,),
        how="torchvision resnet18(num_classes=10) unchanged; 3×64×64 input.",
    ),
]


# ---------------------------------------------------------------------------------------------
# Export and checks


def _layer_norm_opset17(g, x, normalized_shape, weight, bias, eps, cudnn_enable):
    """aten::layer_norm for opset 17. torch 1.13 passes an absent weight as an empty input name,
    which the checker rejects (LayerNormalization's Scale is required); like later torch releases,
    this passes a constant of ones for an absent weight and of zeros for an absent bias."""
    from torch.onnx import symbolic_helper as sh

    shape = sh._get_const(normalized_shape, "is", "normalized_shape")
    eps = sh._get_const(eps, "f", "eps")
    if sh._is_none(weight):
        weight = g.op("Constant", value_t=torch.ones(shape, dtype=torch.float32))
    if sh._is_none(bias):
        bias = g.op("Constant", value_t=torch.zeros(shape, dtype=torch.float32))
    return g.op("LayerNormalization", x, weight, bias, epsilon_f=eps, axis_i=-len(shape))


torch.onnx.register_custom_op_symbolic("aten::layer_norm", _layer_norm_opset17, 17)


def export_onnx(model, example, opset):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            buf,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
            training=torch.onnx.TrainingMode.PRESERVE,
            do_constant_folding=True,
        )
    return buf.getvalue()


def check_graph(name, data, shape):
    """Runs the ONNX checker and the project's op-set rules; returns facts about the graph."""
    m = onnx.load_from_string(data)
    onnx.checker.check_model(m, full_check=True)
    g = m.graph
    ops = collections.Counter(n.op_type for n in g.node)
    bad = sorted(set(ops) - ALLOWED_OPS)
    if bad:
        raise SystemExit(f"make_fixtures: {name}: op types outside the allowed set: {bad}")
    if [i.name for i in g.input] != ["input"] or [o.name for o in g.output] != ["logits"]:
        raise SystemExit(f"make_fixtures: {name}: inputs/outputs are not input/logits")
    for vi in (g.input[0], g.output[0]):
        dims = vi.type.tensor_type.shape.dim
        if vi.type.tensor_type.elem_type != onnx.TensorProto.FLOAT or dims[0].dim_param != "batch":
            raise SystemExit(f"make_fixtures: {name}: {vi.name} is not float32 with batch axis 0")
    in_dims = [d.dim_value for d in g.input[0].type.tensor_type.shape.dim[1:]]
    if tuple(in_dims) != tuple(shape):
        raise SystemExit(f"make_fixtures: {name}: input dims {in_dims}, want {shape}")
    for n in g.node:
        if n.op_type == "BatchNormalization":
            for a in n.attribute:
                if a.name == "training_mode" and a.i != 0:
                    raise SystemExit(f"make_fixtures: {name}: BatchNormalization in training mode")
    # A decomposed LayerNorm (opset < 17) is ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div:
    # count the Div nodes whose divisor is a Sqrt, a sure mark of one.
    producer = {o: n for n in g.node for o in n.output}
    decomposed = sum(
        1
        for n in g.node
        if n.op_type == "Div" and n.input[1] in producer and producer[n.input[1]].op_type == "Sqrt"
    )
    inits = list(g.initializer)
    return dict(
        opset=max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
        ops=dict(sorted(ops.items())),
        nodes=len(g.node),
        batch_norm=ops.get("BatchNormalization", 0),
        layer_norm=ops.get("LayerNormalization", 0),
        layer_norm_decomposed=decomposed,
        initializers=len(inits),
        initializer_elements=int(sum(int(np.prod(t.dims)) for t in inits)),
        bytes=len(data),
    )


def check_onnxruntime(name, data, x, want):
    """Compares onnxruntime's output with torch's where onnxruntime is importable."""
    try:
        import onnxruntime  # noqa: F401  (optional)
    except ImportError:
        return None
    sess = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input": x})[0]
    err = float(np.max(np.abs(got - want)))
    if err > 1e-4 * max(1.0, float(np.max(np.abs(want)))):
        raise SystemExit(f"make_fixtures: {name}: onnxruntime differs from torch by {err:g}")
    return err


def make_models(specs, out_dir, seed0, max_bytes=None):
    facts = []
    fmnist = fmnist_reference_input()
    for k, spec in enumerate(specs):
        seed = seed0 + 100 * k
        torch.manual_seed(seed)
        model = spec["build"]()
        randomize(model, seed + 1)
        model.eval()
        if spec["shape"] == (784,):
            x = fmnist.reshape(BATCH, 784)
        elif spec["shape"] == (1, 28, 28):
            x = fmnist
        else:
            x = normal_reference_input(spec["shape"], seed + 2)
        xt = torch.from_numpy(x)
        with torch.no_grad():
            y = model(xt).numpy().astype(np.float32)
        params = sum(p.numel() for p in model.parameters())
        for opset in spec["opsets"]:
            name = spec["name"] if len(spec["opsets"]) == 1 else f"{spec['name']}-op{opset}"
            data = export_onnx(model, xt, opset)
            info = check_graph(name, data, spec["shape"])
            if max_bytes is not None and len(data) >= max_bytes:
                raise SystemExit(f"make_fixtures: {name}.onnx is {len(data)} bytes, limit {max_bytes}")
            ort_err = check_onnxruntime(name, data, x, y)
            write_atomic(os.path.join(out_dir, f"{name}.onnx"), data)
            write_atomic(os.path.join(out_dir, f"{name}.input.npy"), npy_bytes(x))
            write_atomic(os.path.join(out_dir, f"{name}.output.npy"), npy_bytes(y))
            info.update(
                name=name,
                file=f"{name}.onnx",
                input_shape=["batch"] + list(spec["shape"]),
                output_shape=["batch", 10],
                params=int(params),
                how=spec["how"],
                seed=seed,
                sha256=hashlib.sha256(data).hexdigest(),
                output_absmax=round(float(np.max(np.abs(y))), 4),
                output_std=round(float(np.std(y)), 4),
            )
            facts.append(info)
            ort = "onnxruntime not importable" if ort_err is None else f"onnxruntime max|Δ| {ort_err:.2e}"
            print(
                f"{name}: {info['bytes']} bytes, opset {info['opset']}, params {params}, "
                f"BN {info['batch_norm']}, LN {info['layer_norm']}, LN decomposed "
                f"{info['layer_norm_decomposed']}, output std {info['output_std']}, {ort}\n"
                f"  ops {info['ops']}",
                flush=True,
            )
    manifest = {f["name"]: {k: v for k, v in f.items() if k != "name"} for f in facts}
    write_atomic(
        os.path.join(out_dir, "manifest.json"),
        (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(),
    )
    return facts


# ---------------------------------------------------------------------------------------------
# README


def ops_cell(ops):
    return ", ".join(f"{k} {v}" for k, v in ops.items())


def readme(facts, title, intro):
    lines = [f"# {title}", "", *intro, ""]
    lines += [
        "| file | input | opset | BatchNormalization | LayerNormalization | decomposed LayerNorm | "
        "params | bytes | output std |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in facts:
        shape = "×".join(str(d) for d in f["input_shape"][1:])
        lines.append(
            f"| {f['file']} | N×{shape} | {f['opset']} | {f['batch_norm']} | {f['layer_norm']} | "
            f"{f['layer_norm_decomposed']} | {f['params']:,} | {f['bytes']:,} | {f['output_std']} |"
        )
    lines += ["", "## Op counts", "", "| file | nodes | op types (count) |", "|---|---|---|"]
    for f in facts:
        lines.append(f"| {f['file']} | {f['nodes']} | {ops_cell(f['ops'])} |")
    lines += ["", "## How each was made", ""]
    for f in facts:
        lines.append(f"- **{f['file']}** (seed {f['seed']}): {f['how']}")
    lines.append("")
    return "\n".join(lines)


COMMON_INTRO = [
    "Generated by `/usr/bin/python3 scripts/make_fixtures.py` (torch 1.13, torchvision 0.14, "
    "onnx 1.12); do not edit by hand, rerun the script. `manifest.json` holds the same facts "
    "for tests to read. The instance- and group-normalization fixtures (cnn-in, cnn-gn, "
    "cnn-gn-op21, cnn-gn-op13) come from `scripts/make_norm_fixtures.py` and are described in "
    "`norm-manifest.json`.",
    "",
    "Every model: float32, eval mode, exported with `torch.onnx.export(..., "
    "training=TrainingMode.PRESERVE, do_constant_folding=True)`, so BatchNormalization nodes are "
    "kept (not folded into Conv); one input `input` and one output `logits` [N,10], both with a "
    "dynamic axis 0 named `batch`. Op types are limited to Conv, BatchNormalization, "
    "LayerNormalization, ReduceMean, Sub, Pow, Sqrt, Div, Mul, Add, Gemm, MatMul, Relu, Clip, "
    "Sigmoid, Tanh, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Transpose, Concat, "
    "Identity, Dropout, Constant, Softmax, Resize (checked by the script, with onnx.checker "
    "full_check). Dropout layers are dropped by the eval-mode export.",
    "",
    "Normalization layers are not identities: every BatchNorm has weight U(0.5,1.5), bias "
    "U(-0.25,0.25), running_mean U(-0.25,0.25), running_var U(0.5,1.5); every Conv/Linear bias "
    "that is zero at init is set to U(-0.1,0.1). The LayerNorms have no affine parameters "
    "(elementwise_affine=False), eps 1e-5. BatchNorm eps 1e-5, momentum 0.1.",
    "",
    "Reference arrays next to each model (float32 .npy): `NAME.input.npy` is a batch of 64 — "
    "for N×784 and N×1×28×28 inputs the first 64 images of Fashion-MNIST t10k scaled x/255 "
    "(no mean/std normalization), for 3-channel inputs seeded standard-normal values — and "
    "`NAME.output.npy` is torch's eval-mode output on it (computed with one torch thread). "
    "Each sample's output depends only on that sample, so `input[i:i+1]` and `output[i:i+1]` "
    "serve batch-1 tests.",
    "",
    "Counts below: *BatchNormalization* and *LayerNormalization* are node counts of those op "
    "types; *decomposed LayerNorm* counts LayerNorms the exporter spelled out as "
    "ReduceMean→Sub→Pow→ReduceMean→Add→Sqrt→Div (opset < 17), counted as Div nodes whose divisor "
    "comes from a Sqrt. *params* is the number of trainable torch parameters (BatchNorm running "
    "statistics excluded). *output std* is the standard deviation of NAME.output.npy (choose "
    "tolerances relative to it: the VGG classifiers keep torchvision's N(0, 0.01) init, so their "
    "logits are small).",
    "",
    "Graph details tests may rely on: initializers carry the torch parameter names "
    "(`conv1.weight`, `bn1.running_var`, `fc4.bias`, `layer1.0.downsample.1.weight`, …); "
    "Linear layers are `Gemm` with transB=1; BatchNormalization (opset 13) has epsilon 1e-5 and "
    "momentum 0.9 (ONNX's convention, = 1 − torch's 0.1) and no training_mode attribute; "
    "AdaptiveAvgPool2d(1) is `GlobalAveragePool`; flattening is `Flatten` axis 1. In the "
    "opset-13 decomposed LayerNorm both ReduceMean nodes have axes [-1], keepdims 1, and the two "
    "Constant nodes per LayerNorm are the Pow exponent 2 and eps 1e-5. In the opset-17 file each "
    "LayerNormalization (axis -1, epsilon 1e-5) takes its Scale (ones) and B (zeros) from two "
    "Constant nodes: torch 1.13 exports an absent weight as an empty input name, which the checker "
    "rejects, so the script registers an opset-17 layer_norm symbolic that passes constants, as "
    "later torch releases do.",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--large",
        action="store_true",
        help="write only the large fixtures (testdata/large/, git-ignored) instead of the small ones",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    if args.large:
        facts = make_models(LARGE, LARGE_DIR, seed0=2000)
        write_atomic(
            os.path.join(LARGE_DIR, "README.md"),
            readme(
                facts,
                "Large fixture models (generated, never committed)",
                [
                    "Written by `/usr/bin/python3 scripts/make_fixtures.py --large`; "
                    "testdata/large/ is git-ignored. The small committed variants are in "
                    "testdata/models/ (see its README).",
                    "",
                ]
                + COMMON_INTRO,
            ).encode(),
        )
        return

    for path, shape, size in make_fmnist_small():
        print(f"{path}: shape {shape}, {size} bytes")
    facts = make_models(SMALL, MODELS_DIR, seed0=1000, max_bytes=MAX_SMALL_BYTES)
    write_atomic(
        os.path.join(MODELS_DIR, "README.md"),
        readme(
            facts,
            "Fixture models",
            COMMON_INTRO
            + [
                "",
                "The large variants (vgg11-bn, wrn-16-4, resnet18) are made on demand by "
                "`/usr/bin/python3 scripts/make_fixtures.py --large` into testdata/large/ "
                "(git-ignored), with their own README.md and manifest.json. They share the op "
                "types of the small ones here: vgg11-bn has the same op counts as vgg11-bn-tiny, "
                "resnet18 the same as resnet18-tiny, and wrn-16-4 one Conv more than wrn-16-1 "
                "(its first group changes width, so it needs a 1×1 shortcut conv).",
                "",
                "Bundled data: testdata/fmnist-small/ holds gzip IDX files exactly like the "
                "original Fashion-MNIST ones (gzip mtime 0, no file name): train = train images "
                "0…999, reg = train images 59000…59999, test = t10k images 0…1999, with labels.",
            ],
        ).encode(),
    )


if __name__ == "__main__":
    sys.exit(main())
