"""dlib's face descriptor network read as data and run by ONNX Runtime: the descriptors dlib computes (largest
difference 3e-7 on real faces, checked against dlib on every load), about 15x faster on this project's CPU (5 vs
72-92 ms a face on one idle thread) and without holding Python's lock while it runs.

The model file (`dlib_face_recognition_resnet_model_v1.dat`) is dlib's serialisation of a ResNet:
input_rgb_image_sized<150> ((pixel - channel mean) / 256, RGB), conv 7x7/2 + affine + relu + max pool 3/2, then
residual blocks (conv 3x3 + affine + relu + conv 3x3 + affine, added to the block's input, relu): 3 of 32 channels,
then for 64, 128, 256 and 256 channels a down-sampling block (first conv stride 2 without padding, the input
average-pooled 2/2 and zero-padded to the block's channels and size, as dlib's add_prev does) followed by 3, 2, 2
and 0 plain blocks, global average pool, fc 256 -> 128 without bias. `read_weights(path)` parses the file as
numbers only (nothing in it is executed) and checks that its layers are exactly this sequence;
`DescriptorNet(weights)` is the torch module and `export_onnx(weights)` its ONNX export, which
`core.faces.descriptor_ort.OrtDescriptor` runs (cached in the cache root's `onnx/` folder by the model file's
SHA-256; loading it needs neither torch nor this module).

dlib's serialisation, as this file holds it: integers are a byte (low nibble: byte count, bit 7: negative) and that
many little-endian bytes; floats are a mantissa and a power-of-two exponent, both integers; strings are an integer
length and the bytes; tensors are version 2, four integer dimensions and little-endian float32 values; booleans are
the characters '0' or '1'. The network is written outermost layer first as nested versions, then innermost layer
first: each layer's details, then its state (three booleans, three empty tensors; the innermost adds an integer).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from core.common.errors import CheckpointError

INPUT_NAME = "input_rgb_image_sized"


@dataclass
class Layer:
    kind: str  # "con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "fc"
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # con: weight (O, I, kh, kw), bias (O,); affine:
    # gamma, beta (C,); fc: weight (in, out)
    ints: dict[str, int] = field(default_factory=dict)  # kernel / stride / padding of con and pools


@dataclass
class DescriptorWeights:
    mean_rgb: tuple[float, float, float]  # the input layer's channel means (pixel values)
    size: int  # the input chip's side (150)
    layers: list[Layer]  # innermost (input side) first


class _Reader:
    def __init__(self, data: bytes, path: str):
        self.b, self.p, self.path = data, 0, path

    def fail(self, why: str):
        raise CheckpointError(self.path, f"not dlib's face descriptor network ({why} at byte {self.p})")

    def int(self) -> int:
        if self.p >= len(self.b):
            self.fail("the file ends early")
        c = self.b[self.p]
        n = c & 0x0F
        if n > 8 or self.p + 1 + n > len(self.b):
            self.fail("a malformed integer")
        v = int.from_bytes(self.b[self.p + 1 : self.p + 1 + n], "little")
        self.p += 1 + n
        return -v if c & 0x80 else v

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        return float(mantissa) * 2.0 ** exponent

    def str(self, limit: int = 64) -> str:
        n = self.int()
        if not 0 <= n <= limit or self.p + n > len(self.b):
            self.fail("a malformed name")
        v = self.b[self.p : self.p + n].decode("ascii", errors="replace")
        self.p += n
        return v

    def bool(self) -> bool:
        c = self.b[self.p : self.p + 1]
        if c not in (b"0", b"1"):
            self.fail("a malformed flag")
        self.p += 1
        return c == b"1"

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            self.fail("an unknown tensor version")
        dims = [self.int() for _ in range(4)]
        count = int(np.prod(dims)) if all(d >= 0 for d in dims) else -1
        if count < 0 or self.p + 4 * count > len(self.b):
            self.fail("a malformed tensor")
        a = np.frombuffer(self.b, "<f4", count, self.p).astype(np.float32).reshape(dims)
        self.p += 4 * count
        return a

    def alias(self) -> tuple[int, int, int, int]:
        if self.int() != 1:
            self.fail("an unknown tensor view version")
        return tuple(self.int() for _ in range(4))

    def at_string(self, text: str) -> bool:
        raw = text.encode("ascii")
        return self.b[self.p : self.p + 2] == bytes([1, len(raw)]) and self.b[self.p + 2 : self.p + 2 + len(raw)] == raw


def _layer(r: _Reader, name: str) -> Layer:
    if name == "con_4":
        params = r.tensor().reshape(-1)
        r.int()                                               # number of filters (in the filters' view too)
        kh, kw, sy, sx, py, px = (r.int() for _ in range(6))
        o, i, fh, fw = r.alias()
        _, nb, _, _ = r.alias()
        for _ in range(4):
            r.float()                                         # learning-rate and weight-decay multipliers
        n = o * i * fh * fw
        if (fh, fw) != (kh, kw) or nb != o or params.size != n + o:
            r.fail("a convolution whose sizes disagree")
        return Layer("con", {"weight": params[:n].reshape(o, i, fh, fw), "bias": params[n:]},
                     {"stride": sy, "pad": py, "stride_x": sx, "pad_x": px})
    if name == "affine_":
        params = r.tensor().reshape(-1)
        _, c, _, _ = r.alias()
        r.alias()
        mode = r.int()
        if params.size != 2 * c or mode != 0:
            r.fail("an affine layer that is not per channel")
        return Layer("affine", {"gamma": params[:c], "beta": params[c:]})
    if name == "relu_":
        return Layer("relu")
    if name in ("max_pool_2", "avg_pool_2"):
        kh, kw, sy, sx, py, px = (r.int() for _ in range(6))
        return Layer(name[:-2], ints={"kernel": kh, "kernel_x": kw, "stride": sy, "stride_x": sx, "pad": py,
                                      "pad_x": px})
    if name == "add_prev_":
        return Layer("add_prev")
    if name == "fc_2":
        n_out, n_in = r.int(), r.int()
        params = r.tensor()
        r.alias()
        r.alias()
        if r.int() != 1 or params.size != n_in * n_out:             # bias mode 1: no bias
            r.fail("a fully connected layer with a bias")
        for _ in range(4):
            r.float()
        return Layer("fc", {"weight": params.reshape(n_in, n_out)})
    r.fail(f"an unexpected layer {name!r}")


def read_weights(path: str | os.PathLike) -> DescriptorWeights:
    """Parse dlib's face descriptor model file (numbers only) and check its layer sequence; CheckpointError naming
    the file and the problem otherwise."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CheckpointError(path, f"cannot read the face descriptor model ({e.strerror or e})") from None
    r = _Reader(data, path)
    if r.int() != 1 or r.str() != "loss_metric_2":
        r.fail("no metric loss at the top")
    r.float(), r.float()                                      # the loss' margin and distance threshold
    while not r.at_string(INPUT_NAME):
        if r.int() not in (1, 2, 3):                          # the nested layers' versions, outermost first
            r.fail("an unexpected layer version")
    r.str()
    mean = (r.float(), r.float(), r.float())
    rows, cols = r.int(), r.int()
    layers = []
    while r.p < len(data):
        layers.append(_layer(r, r.str()))
        r.bool(), r.bool(), r.bool()
        if any(r.tensor().size for _ in range(3)):
            r.fail("a layer with training state")
        if len(layers) == 1:
            r.int()                                           # the innermost layer's sample expansion factor
    weights = DescriptorWeights(mean, rows, layers)
    if rows != cols or _plan(weights) is None:
        r.fail("layers other than the expected ResNet")
    return weights


def _plan(w: DescriptorWeights) -> list[tuple[int, bool]] | None:
    """The residual blocks as (index of their first layer, down-sampling) when the layers are exactly the ResNet
    of the module docstring, else None."""
    kinds = [layer.kind for layer in w.layers]
    if kinds[:4] != ["con", "affine", "relu", "max_pool"] or kinds[-2:] != ["avg_pool", "fc"]:
        return None
    blocks, i = [], 4
    body = ["con", "affine", "relu", "con", "affine"]
    while i < len(kinds) - 2:
        if kinds[i : i + 5] != body:
            return None
        down = kinds[i + 5] == "avg_pool"
        tail = ["avg_pool", "add_prev", "relu"] if down else ["add_prev", "relu"]
        if kinds[i + 5 : i + 5 + len(tail)] != tail:
            return None
        blocks.append((i, down))
        i += 5 + len(tail)
    return blocks if w.layers[-2].ints.get("kernel") == 0 else None


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: the sum of two (B, C, H, W) tensors, each zero-padded (at the end of channels, rows and
    columns) to the larger of the two in every dimension."""
    def pad(t, c, h, w):
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    c, h, w = (max(x, y) for x, y in zip(a.shape[1:], b.shape[1:]))
    return pad(a, c, h, w) + pad(b, c, h, w)


class DescriptorNet(torch.nn.Module):
    """forward(x: (B, 3, 150, 150) float32 RGB pixel values 0-255) -> (B, 128) descriptors, as dlib computes them."""

    def __init__(self, weights: DescriptorWeights):
        super().__init__()
        plan = _plan(weights)
        if plan is None:
            raise ValueError("these weights are not dlib's face descriptor ResNet")
        self.size = weights.size
        self.layers = weights.layers
        self.plan = plan
        self.register_buffer("mean", torch.tensor(weights.mean_rgb, dtype=torch.float32).view(1, 3, 1, 1))
        for k, layer in enumerate(weights.layers):
            for name, a in layer.arrays.items():
                self.register_buffer(f"layer{k}_{name}", torch.from_numpy(np.array(a)))

    def _p(self, k: int, name: str) -> torch.Tensor:
        """Layer k's array `name` (Layer.arrays)."""
        return getattr(self, f"layer{k}_{name}")

    def _con(self, x, k):
        s = self.layers[k].ints
        return F.conv2d(x, self._p(k, "weight"), self._p(k, "bias"), stride=(s["stride"], s["stride_x"]),
                        padding=(s["pad"], s["pad_x"]))

    def _affine(self, x, k):
        return x * self._p(k, "gamma").view(1, -1, 1, 1) + self._p(k, "beta").view(1, -1, 1, 1)

    def _pool(self, x, k, op):
        s = self.layers[k].ints
        return op(x, (s["kernel"], s["kernel_x"]), (s["stride"], s["stride_x"]), (s["pad"], s["pad_x"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / 256.0
        x = torch.relu(self._affine(self._con(x, 0), 1))
        x = self._pool(x, 3, F.max_pool2d)
        for i, down in self.plan:
            y = torch.relu(self._affine(self._con(x, i), i + 1))
            y = self._affine(self._con(y, i + 3), i + 4)
            skip = self._pool(x, i + 5, F.avg_pool2d) if down else x
            x = torch.relu(_add_padded(y, skip))
        return x.mean(dim=(2, 3)) @ self._p(len(self.layers) - 1, "weight")


def export_onnx(weights: DescriptorWeights) -> bytes:
    """`DescriptorNet(weights)` as ONNX bytes: input "x" (B, 3, 150, 150) float32
    (`core.faces.descriptor_ort.to_input`), output "descriptor" (B, 128)."""
    from core.model.onnx import export_module

    return export_module(DescriptorNet(weights), torch.zeros(1, 3, weights.size, weights.size), ["descriptor"])
