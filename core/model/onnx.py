"""ONNX Runtime helpers shared by every network the project runs there (CADDM, the face descriptor, RetinaFace):
whether it is installed, falling back when it cannot run, exporting a torch module, the export cache and the
single-threaded CPU session. torch and onnxruntime are imported only inside the functions that need them, so a
network that only runs an ONNX file (RetinaFace) never loads torch."""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from core.common.atomic import atomic_write_bytes
from core.common.cache_dir import default_root

if TYPE_CHECKING:
    import torch

OPSET = 17


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


def export_module(module: torch.nn.Module, example: torch.Tensor, outputs: list[str]) -> bytes:
    """`module` (eval mode, on the CPU) as ONNX bytes: opset OPSET, one input "x" shaped like `example` with a
    dynamic batch axis, the named outputs (batch-first too)."""
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), (example,), buf, dynamo=False, input_names=["x"], output_names=outputs,
                          opset_version=OPSET, dynamic_axes={"x": {0: "batch"}, **{k: {0: "batch"} for k in outputs}})
    return buf.getvalue()


def cached_onnx(name: str, make, cache_root: Path | None = None) -> bytes:
    """The ONNX bytes kept under `name` in the cache root's `onnx/` folder, else `make()` (written there atomically;
    a read-only cache only means exporting again next time). `name` must say everything the export depends on."""
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
    import torch

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
