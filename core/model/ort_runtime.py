"""CADDM inference on the CPU with ONNX Runtime: the same model, exported to ONNX, 1.6-1.8x faster than torch there.

On this project's 2-core CPU (batch 16, 224x224, both cores busy): efficientnet-lite0 ~17-21 -> 10.5 ms a face,
resnet34 41 -> 24 ms (`bench/analyze_bench.py --runtime`; one two-threaded session 22.2 ms, two single-threaded
lanes 23.6 ms, one lane 46 ms), outputs equal to torch's within 1e-6 in the logits. The export runs once per
checkpoint (TorchScript-based `torch.onnx.export`, opset 17, dynamic batch) and is kept in the cache root under
`onnx/<checkpoint SHA-256>-torch<version>-v<EXPORT_VERSION>.onnx` (written atomically); a model built in memory
is exported each time. The export is checked against torch on a fixed input when it is made, torch's logits are
stored in the file, and every load checks the session against them again (`core.model.onnx.checked_session`):
a larger gap than `PARITY_TOL` raises, or, for a cached file, exports afresh. Loading a cached export
(`OrtModel.open`) needs neither torch nor the network's code: a CPU analysis starts without importing torch.

`OrtModel(x: (B, 3, H, W) float32 array) -> {"logits", "prob", "loc", "conf"}` as numpy arrays, like
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
from typing import TYPE_CHECKING

import numpy as np

from core.model.onnx import cache_path, checked_session, torch_tag

if TYPE_CHECKING:
    from core.model.caddm import CADDM
    from core.model.checkpoints import CheckpointInfo
    from core.model.int8 import Calibration

#: The most the logits of a session may differ from torch's on the check input.
PARITY_TOL = 1e-3
OUTPUTS = ("logits", "prob", "loc", "conf")  # CADDM.forward's outputs, all computed inside the exported graph
#: Part of an export's file name: bump when what is exported changes, so old cached exports are not read.
EXPORT_VERSION = 3


def check_input(input_size: int) -> np.ndarray:
    """The fixed input every export is checked on: (2, 3, size, size) float32 standard normal, seed 0."""
    return np.random.default_rng(0).standard_normal((2, 3, input_size, input_size), dtype=np.float32)


def export_name(info: CheckpointInfo | None, precision: str = "fp32", calibration: Calibration | None = None
                ) -> str | None:
    """The cached export's file name for a checkpoint (None for a model built in memory: not cached); an int8
    export's name also says its quantization recipe and calibration set."""
    sha = getattr(info, "sha256", "") if info is not None else ""
    if not sha:
        return None
    if precision == "int8":
        from core.model.int8 import QUANT_VERSION

        return f"{sha}-torch{torch_tag()}-v{EXPORT_VERSION}-int8-q{QUANT_VERSION}-c{calibration.version}.onnx"
    return f"{sha}-torch{torch_tag()}-v{EXPORT_VERSION}.onnx"


def export_onnx(model: CADDM) -> bytes:
    """The CADDM model (eval mode, on the CPU) as ONNX bytes with a dynamic batch axis."""
    import torch

    from core.model.onnx import export_module

    class _Outputs(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            out = self.model(x)
            return tuple(out[k] for k in OUTPUTS)

    size = model.config.input_size
    return export_module(_Outputs(model), torch.zeros(2, 3, size, size), list(OUTPUTS))


class OrtModel:
    """See the module docstring: thread-safe, single-threaded per call. `OrtModel.from_model(model)` exports (or
    loads the cached export of) a torch model; `OrtModel.open(info, input_size)` loads a cached export alone."""

    def __init__(self, session, precision: str = "fp32"):
        self._session = session
        self.precision = precision

    @classmethod
    def from_model(cls, model: CADDM, cache_root: str | os.PathLike | None = None, precision: str = "fp32",
                   calibration: Calibration | None = None) -> "OrtModel":
        """The export of `model` (made, checked and cached, or loaded from the cache). int8 needs `calibration`;
        its session is checked against itself (the quantized numbers are meant to differ from torch's)."""
        import torch

        model = model.to("cpu").eval()
        root = None if cache_root is None else Path(cache_root)
        name = export_name(getattr(model, "info", None), precision, calibration)
        x = check_input(model.config.input_size)
        if precision == "int8":
            from core.model.int8 import quantize
            from core.model.preprocess import model_input

            if calibration is None:
                raise ValueError("an int8 export needs calibration crops")
            make = lambda: quantize(export_onnx(model), model_input(calibration.crops(), model.convention),  # noqa
                                  model.convention.uint8_grid())
            return cls(checked_session(name, make, None, x, PARITY_TOL, "this model in int8", "itself", root),
                       precision)

        def reference(x):
            with torch.inference_mode():
                return model(torch.from_numpy(x))["logits"].numpy()

        return cls(checked_session(name, lambda: export_onnx(model), reference, x, PARITY_TOL, "this model", "torch",
                                   root))

    @classmethod
    def open(cls, info: CheckpointInfo, input_size: int, cache_root: str | os.PathLike | None = None,
             precision: str = "fp32", calibration: Calibration | None = None) -> "OrtModel | None":
        """The cached, checked export of the checkpoint `info` names, or None when there is none (or its check
        fails): then `from_model` exports it. Imports neither torch nor the network."""
        name = export_name(info, precision, calibration)
        root = None if cache_root is None else Path(cache_root)
        if name is None or not cache_path(name, root).is_file():
            return None

        def missing():
            raise LookupError("no valid cached export")

        try:
            return cls(checked_session(name, missing, None, check_input(input_size), PARITY_TOL, "this model",
                                       "torch", root), precision)
        except LookupError:
            return None

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        arr = np.ascontiguousarray(x, dtype=np.float32)
        return dict(zip(OUTPUTS, self._session.run(list(OUTPUTS), {"x": arr})))
