"""Build a torch nn.Sequential from clgm's JSON model spec (reference for the C side).

Spec:
  {"input": [C,H,W] or [F], "layers": [ {"type": ...}, ... ]}

Every spec layer maps to exactly ONE module of the nn.Sequential stored as
attribute `net`, so state_dict names are `net.{i}.weight`, `net.{i}.bias`,
`net.{i}.running_mean`, `net.{i}.running_var`, `net.{i}.num_batches_tracked`
(and `net.{i}.weight_orig`, `net.{i}.weight_u`, `net.{i}.weight_v` for spectral norm).

Usage:
    model = build(spec)            # spec: dict or JSON string
    shapes = infer_shapes(spec)    # [input_shape, shape after layer 0, ...] (no batch dim)
"""
import json

import torch
from torch import nn

__all__ = ["build", "infer_shapes", "Model", "load_spec"]


def load_spec(spec):
    if isinstance(spec, (str, bytes)):
        spec = json.loads(spec)
    if "input" not in spec or "layers" not in spec:
        raise ValueError("spec needs 'input' and 'layers'")
    return spec


def _conv_out(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _convt_out(n, k, s, p, op, d=1):
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def _conv_padding(L):
    p = L.get("padding", 0)
    k = L["kernel"]
    s = L.get("stride", 1)
    if isinstance(p, str):
        if p != "same":
            raise ValueError("padding string must be 'same', got %r" % p)
        if s != 1 or k % 2 != 1:
            raise ValueError("'same' padding needs stride 1 and odd kernel")
        return k // 2
    return int(p)


def _layer(L, shape):
    """Return (module, out_shape) for one spec layer given input shape (no batch)."""
    t = L["type"]
    rank = len(shape)
    if t == "linear":
        if rank != 1:
            raise ValueError("linear needs rank-1 input, got %r (add flatten)" % (shape,))
        m = nn.Linear(shape[0], L["out"], bias=L.get("bias", True))
        if L.get("spectral_norm", False):
            m = nn.utils.spectral_norm(m)
        return m, [L["out"]]
    if t == "conv2d":
        if rank != 3:
            raise ValueError("conv2d needs [C,H,W] input, got %r" % (shape,))
        k, s = L["kernel"], L.get("stride", 1)
        p = _conv_padding(L)
        m = nn.Conv2d(shape[0], L["out"], k, stride=s, padding=p, bias=L.get("bias", True))
        if L.get("spectral_norm", False):
            m = nn.utils.spectral_norm(m)
        return m, [L["out"], _conv_out(shape[1], k, s, p), _conv_out(shape[2], k, s, p)]
    if t == "convtranspose2d":
        if rank != 3:
            raise ValueError("convtranspose2d needs [C,H,W] input, got %r" % (shape,))
        k, s = L["kernel"], L.get("stride", 1)
        p, op = int(L.get("padding", 0)), int(L.get("output_padding", 0))
        m = nn.ConvTranspose2d(shape[0], L["out"], k, stride=s, padding=p,
                               output_padding=op, bias=L.get("bias", True))
        if L.get("spectral_norm", False):
            # dim=1 is what torch uses for ConvTranspose (out channels are dim 1)
            m = nn.utils.spectral_norm(m)
        return m, [L["out"], _convt_out(shape[1], k, s, p, op), _convt_out(shape[2], k, s, p, op)]
    if t == "batchnorm":
        mom, eps = L.get("momentum", 0.1), L.get("eps", 1e-5)
        if rank == 1:
            return nn.BatchNorm1d(shape[0], eps=eps, momentum=mom), list(shape)
        if rank == 3:
            return nn.BatchNorm2d(shape[0], eps=eps, momentum=mom), list(shape)
        raise ValueError("batchnorm needs rank 1 or 3 input")
    if t == "relu":
        return nn.ReLU(), list(shape)
    if t == "leakyrelu":
        return nn.LeakyReLU(L.get("slope", 0.01)), list(shape)
    if t == "tanh":
        return nn.Tanh(), list(shape)
    if t == "sigmoid":
        return nn.Sigmoid(), list(shape)
    if t == "dropout":
        return nn.Dropout(L.get("p", 0.5)), list(shape)
    if t == "maxpool2d":
        if rank != 3:
            raise ValueError("maxpool2d needs [C,H,W] input")
        k = L["kernel"]
        s = L.get("stride", k)
        return nn.MaxPool2d(k, stride=s), [shape[0], _conv_out(shape[1], k, s, 0), _conv_out(shape[2], k, s, 0)]
    if t == "upsample":
        if rank != 3:
            raise ValueError("upsample needs [C,H,W] input")
        sc = int(L.get("scale", 2))
        return nn.Upsample(scale_factor=sc, mode="nearest"), [shape[0], shape[1] * sc, shape[2] * sc]
    if t == "flatten":
        n = 1
        for d in shape:
            n *= d
        return nn.Flatten(), [n]
    if t == "reshape":
        tgt = list(L["shape"])
        n_in = 1
        for d in shape:
            n_in *= d
        n_out = 1
        for d in tgt:
            n_out *= d
        if n_in != n_out:
            raise ValueError("reshape %r -> %r changes element count" % (shape, tgt))
        if rank != 1:
            raise ValueError("reshape (nn.Unflatten) expects rank-1 input here")
        return nn.Unflatten(1, tuple(tgt)), tgt
    raise ValueError("unknown layer type %r" % t)


class Model(nn.Module):
    def __init__(self, spec):
        super().__init__()
        spec = load_spec(spec)
        self.spec = spec
        shape = list(spec["input"])
        self.shapes = [shape]
        mods = []
        for L in spec["layers"]:
            m, shape = _layer(L, shape)
            mods.append(m)
            self.shapes.append(shape)
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


def build(spec):
    """spec (dict or JSON string) -> Model (an nn.Module with attribute `.net`)."""
    return Model(spec)


def infer_shapes(spec):
    """[input shape, output shape of layer 0, ..., output shape of last layer] (no batch dim)."""
    return Model(spec).shapes


if __name__ == "__main__":
    import sys
    spec = json.load(open(sys.argv[1])) if len(sys.argv) > 1 else {
        "input": [3, 9, 9],
        "layers": [{"type": "conv2d", "out": 5, "kernel": 3, "padding": "same"},
                   {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"},
                   {"type": "linear", "out": 4, "spectral_norm": True}]}
    m = build(spec)
    print(m)
    x = torch.zeros([2] + list(spec["input"]))
    with torch.no_grad():
        m.eval()
        y = m(x)
    for i, s in enumerate(m.shapes):
        print(i, s)
    assert list(y.shape[1:]) == m.shapes[-1]
    for k, v in m.state_dict().items():
        print(k, tuple(v.shape))
