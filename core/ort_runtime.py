"""CADDM inference on the CPU with ONNX Runtime: the same model, exported to ONNX, 1.6-1.8x faster than torch there.

On this project's 2-core CPU (batch 16, 224x224, both cores busy): efficientnet-lite0 ~17-21 -> 10.5 ms a face,
resnet34 41 -> 24 ms (`bench/analyze_bench.py --runtime`; one two-threaded session 22.2 ms, two single-threaded
lanes 23.6 ms, one lane 46 ms), outputs equal to torch's within 1e-6 in the logits. The export runs once per
checkpoint (TorchScript-based `torch.onnx.export`, opset 17, dynamic batch) and is kept in the cache root under
`onnx/<checkpoint SHA-256>-torch<version>-v<EXPORT_VERSION>.onnx` (written atomically); a model built in memory
is exported each time. Every new session is checked against torch on a fixed input before use: a larger gap than `PARITY_TOL` raises.

`OrtModel(model)(x: (B, 3, H, W) float32 torch tensor) -> {"logits", "prob", "loc", "conf"}` as torch tensors, like
`CADDM.forward`. A call runs on the calling thread alone (one intra-op thread), and calls from several threads run
at once on the same session: `core.inference.Predictor` runs one batch per analysis thread ("lanes"). Beside the
busy decoding thread, independent single-threaded batches keep both cores working where one two-threaded batch
stalls at every operator whenever the decoder takes one of its cores (720p all frames, resnet34: 64 -> 57 s).
The CPU memory arena is off: with two batches at once it kept both batches' buffers (peak resident memory of an
all-frames 720p run 1692 -> 2011 MB with it, 1660 MB without).
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_write_bytes
from .model import CADDM

#: The most the logits of a session may differ from torch's on the check input.
PARITY_TOL = 1e-3
OPSET = 17
_OUTPUTS = ("logits", "prob", "loc", "conf")  # CADDM.forward's outputs, all computed inside the exported graph
#: Part of an export's file name: bump when what is exported changes, so old cached exports are not read.
EXPORT_VERSION = 2


def available() -> str | None:
    """Why ONNX Runtime cannot run here (a missing package), or None when it can."""
    for name in ("onnxruntime", "onnx"):
        try:
            __import__(name)
        except ImportError:
            return f"the Python package '{name}' is not installed"
    return None


def open_or_fallback(make, explicit: bool, cannot: str, instead: str, why: str | None = None):
    """`make()` (an ONNX Runtime model) when ONNX Runtime is installed, nothing else stands in the way (`why`) and
    `make` succeeds; otherwise None with a RuntimeWarning ("ONNX Runtime not used (why); `instead`"), or, when it was
    asked for `explicit`ly, ValueError("ONNX Runtime cannot `cannot`: why")."""
    why = why or available()
    if why is None:
        try:
            return make()
        except Exception as e:  # noqa: BLE001 - an export, check or session failure: the fallback runs it
            why = f"{type(e).__name__}: {e}"
    if explicit:
        raise ValueError(f"ONNX Runtime cannot {cannot}: {why}")
    warnings.warn(f"ONNX Runtime not used ({why}); {instead}", RuntimeWarning, stacklevel=4)
    return None


def version() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}"


class _Outputs(torch.nn.Module):
    def __init__(self, model: CADDM):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return tuple(out[k] for k in _OUTPUTS)


def export_module(module: torch.nn.Module, example: torch.Tensor, outputs: list[str]) -> bytes:
    """`module` (eval mode, on the CPU) as ONNX bytes: opset OPSET, one input "x" shaped like `example` with a
    dynamic batch axis, the named outputs (batch-first too)."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), (example,), buf, dynamo=False, input_names=["x"], output_names=outputs,
                          opset_version=OPSET, dynamic_axes={"x": {0: "batch"}, **{k: {0: "batch"} for k in outputs}})
    return buf.getvalue()


def export_onnx(model: CADDM) -> bytes:
    """The CADDM model (eval mode, on the CPU) as ONNX bytes with a dynamic batch axis."""
    size = model.config.input_size
    return export_module(_Outputs(model), torch.zeros(2, 3, size, size), list(_OUTPUTS))


def cached_onnx(name: str, make, cache_root: Path | None = None) -> bytes:
    """The ONNX bytes kept under `name` in the cache root's `onnx/` folder, else `make()` (written there atomically;
    a read-only cache only means exporting again next time). `name` must say everything the export depends on."""
    from .cache import default_root

    path = (Path(cache_root) if cache_root is not None else default_root()) / "onnx" / name
    if path.is_file():
        return path.read_bytes()
    data = make()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError:
        pass
    return data


def torch_tag() -> str:
    """torch's version without its build suffix: part of every cached export's name."""
    return torch.__version__.split("+")[0]


def single_thread_session(data: bytes, prepack: bool = True):
    """An ONNX Runtime CPU session that runs each call on the calling thread alone (no spinning, no memory arena:
    see the module docstring); calls from several threads may run at once. `prepack=False` keeps the weights as
    they are instead of a re-laid-out copy (less memory; for a model run one small input at a time)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.enable_cpu_mem_arena = False
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not prepack:
        so.add_session_config_entry("session.disable_prepacking", "1")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


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
