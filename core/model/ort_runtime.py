"""CADDM inference on the CPU with ONNX Runtime: the same model, exported to ONNX, 1.6-1.8x faster than torch there.

On this project's 2-core CPU (batch 16, 224x224, both cores busy): efficientnet-lite0 ~17-21 -> 10.5 ms a face,
resnet34 41 -> 24 ms (`bench/analyze_bench.py --runtime`; one two-threaded session 22.2 ms, two single-threaded
lanes 23.6 ms, one lane 46 ms), outputs equal to torch's within 1e-6 in the logits. The export runs once per
checkpoint (TorchScript-based `torch.onnx.export`, opset 17, dynamic batch) and is kept in the cache root under
`onnx/<checkpoint SHA-256>-torch<version>-v<EXPORT_VERSION>.onnx` (written atomically); a model built in memory
is exported each time. Every new session is checked against torch on a fixed input before use: a larger gap than `PARITY_TOL` raises.

`OrtModel(model)(x: (B, 3, H, W) float32 torch tensor) -> {"logits", "prob", "loc", "conf"}` as torch tensors, like
`CADDM.forward`. A call runs on the calling thread alone (one intra-op thread), and calls from several threads run
at once on the same session: `core.model.inference.Predictor` runs one batch per analysis thread ("lanes"). Beside the
busy decoding thread, independent single-threaded batches keep both cores working where one two-threaded batch
stalls at every operator whenever the decoder takes one of its cores (720p all frames, resnet34: 64 -> 57 s).
The CPU memory arena is off: with two batches at once it kept both batches' buffers (peak resident memory of an
all-frames 720p run 1692 -> 2011 MB with it, 1660 MB without).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from core.model.onnx import cached_onnx, export_module, single_thread_session, torch_tag
from core.model.caddm import CADDM

#: The most the logits of a session may differ from torch's on the check input.
PARITY_TOL = 1e-3
_OUTPUTS = ("logits", "prob", "loc", "conf")  # CADDM.forward's outputs, all computed inside the exported graph
#: Part of an export's file name: bump when what is exported changes, so old cached exports are not read.
EXPORT_VERSION = 2


class _Outputs(torch.nn.Module):
    def __init__(self, model: CADDM):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return tuple(out[k] for k in _OUTPUTS)


def export_onnx(model: CADDM) -> bytes:
    """The CADDM model (eval mode, on the CPU) as ONNX bytes with a dynamic batch axis."""
    size = model.config.input_size
    return export_module(_Outputs(model), torch.zeros(2, 3, size, size), list(_OUTPUTS))


def _cached_export(model: CADDM, cache_root: Path | None) -> bytes:
    info = getattr(model, "info", None)
    sha = getattr(info, "sha256", "") if info is not None else ""
    if not sha:
        return export_onnx(model)
    return cached_onnx(f"{sha}-torch{torch_tag()}-v{EXPORT_VERSION}.onnx", lambda: export_onnx(model), cache_root)


class OrtModel:
    """See the module docstring: thread-safe, single-threaded per call."""

    def __init__(self, model: CADDM, cache_root: str | os.PathLike | None = None):
        model = model.to("cpu").eval()
        self._session = single_thread_session(_cached_export(model, None if cache_root is None else Path(cache_root)))
        self._check(model)

    def _check(self, model: CADDM) -> None:
        size = model.config.input_size
        x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, size, size), dtype=np.float32))
        with torch.inference_mode():
            want = model(x)["logits"].numpy()
        got = self._session.run(["logits"], {"x": x.numpy()})[0]
        gap = float(np.abs(got - want).max())
        if not gap <= PARITY_TOL:
            raise RuntimeError(f"the ONNX export of this model differs from torch by {gap:.2e} in the logits")

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        arr = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        return {k: torch.from_numpy(a) for k, a in zip(_OUTPUTS, self._session.run(list(_OUTPUTS), {"x": arr}))}
