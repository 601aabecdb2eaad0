"""ONNX Runtime helpers shared by every network the project runs there (CADDM, the face descriptor, RetinaFace):
whether it is installed, falling back when it cannot run, exporting a torch module, the export cache and the
single-threaded CPU session. torch and onnxruntime are imported only inside the functions that need them, so a
network that only runs an ONNX file (RetinaFace) never loads torch.

Checked exports (`checked_session`): an export is compared with what it was exported from (torch, dlib) on a
fixed input when it is made, and that reference output is stored in the ONNX file's metadata; every later load
runs the same input and compares it with the stored reference again, so a cached export is verified on each load
without torch or the original network being loaded (start-up: `caddm-analyze` no longer imports torch on the CPU).
A cached file whose check is missing or fails is exported afresh."""
from __future__ import annotations

import io
import json
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.common.atomic import atomic_write_bytes
from core.common.cache_dir import default_root
from core.common.errors import CaddmError

if TYPE_CHECKING:
    import torch

OPSET = 17
#: The ONNX metadata key holding a checked export's reference output (JSON: shape and values).
CHECK_KEY = "caddm_check_reference"


def available() -> str | None:
    """Why ONNX Runtime cannot run here (a missing package), or None when it can. (Exporting a network also needs
    the `onnx` package, imported only then: `export_module` says so when it is missing.)"""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "the Python package 'onnxruntime' is not installed"
    return None


def open_or_fallback(make, explicit: bool, cannot: str, instead: str, why: str | None = None):
    """`make()` (an ONNX Runtime model) when ONNX Runtime is installed, nothing else stands in the way (`why`) and
    `make` succeeds; otherwise None with a RuntimeWarning ("ONNX Runtime not used (why); `instead`"), or, when it was
    asked for `explicit`ly, ValueError("ONNX Runtime cannot `cannot`: why"). A `CaddmError` (a model file that is
    missing or damaged) is raised as it is: no runtime can run that file."""
    why = why or available()
    if why is None:
        try:
            return make()
        except CaddmError:
            raise
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
    try:
        import onnx  # noqa: F401 - torch's exporter needs it
    except ImportError:
        raise RuntimeError("exporting to ONNX needs the Python package 'onnx', which is not installed") from None

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), (example,), buf, dynamo=False, input_names=["x"], output_names=outputs,
                          opset_version=OPSET, dynamic_axes={"x": {0: "batch"}, **{k: {0: "batch"} for k in outputs}})
    return buf.getvalue()


def cache_path(name: str, cache_root: Path | None = None) -> Path:
    """Where the export `name` is kept: the cache root's `onnx/` folder."""
    return (Path(cache_root) if cache_root is not None else default_root()) / "onnx" / name


def torch_tag() -> str:
    """The installed torch's version without its build suffix (read from the package metadata: torch is not
    imported): part of every cached export's name. "none" when torch is not installed."""
    try:
        return metadata.version("torch").split("+")[0]
    except metadata.PackageNotFoundError:
        return "none"


def _with_reference(data: bytes, reference: np.ndarray) -> bytes:
    import onnx

    model = onnx.load_from_string(data)
    entry = model.metadata_props.add()
    entry.key = CHECK_KEY
    entry.value = json.dumps({"shape": list(reference.shape), "values": reference.ravel().tolist()})
    return model.SerializeToString()


def _stored_reference(session) -> np.ndarray | None:
    raw = session.get_modelmeta().custom_metadata_map.get(CHECK_KEY)
    try:
        d = json.loads(raw)
        return np.asarray(d["values"], dtype=np.float64).reshape(d["shape"])
    except (TypeError, ValueError, KeyError):
        return None


def _gap(session, check_input: np.ndarray, want: np.ndarray) -> float:
    got = np.asarray(session.run(None, {"x": check_input})[0], dtype=np.float64)
    return float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")


def checked_session(name: str | None, export, reference, check_input: np.ndarray, tol: float, what: str,
                    against: str, cache_root: Path | None = None, prepack: bool = True):
    """A single-threaded session (`single_thread_session`) of a checked export (module docstring).

    name: the cache file's name (it must say everything the export depends on), None to export without caching.
    export() -> ONNX bytes (input "x"); reference(check_input) -> the original network's first output for the
    check input, only called when exporting (None: the new session's own output is the reference, for an export
    that is not meant to equal its original, such as an int8 model: the check then guards the file only). A session whose first output differs from the reference by more than
    `tol` raises RuntimeError ("the ONNX export of `what` differs from `against` by ...") when just exported; a
    cached one that does is replaced by a fresh export. The cache is written atomically; a read-only cache only
    means exporting again next time."""
    path = cache_path(name, cache_root) if name else None
    if path is not None and path.is_file():
        try:
            session = single_thread_session(path.read_bytes(), prepack)
            want = _stored_reference(session)
            if want is not None and _gap(session, check_input, want) <= tol:
                return session
        except Exception:  # noqa: BLE001 - an unreadable cached file is exported again
            pass
    data = export()
    session = single_thread_session(data, prepack)
    if reference is None:
        want = np.asarray(session.run(None, {"x": check_input})[0], dtype=np.float64)
    else:
        want = np.asarray(reference(check_input), dtype=np.float64)
    gap = _gap(session, check_input, want)
    if not gap <= tol:
        raise RuntimeError(f"the ONNX export of {what} differs from {against} by {gap:.2e}")
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, _with_reference(data, want))
        except OSError:
            pass
    return session


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
