"""Scoring aligned face crops: the one place a crop becomes P(fake) and artifact boxes.

The analysis engine and the evaluation command both call `Predictor.predict`, so a frame scores the same in both.
Outputs travel as numpy arrays whatever runs the model; torch is imported only when torch runs it.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.common.threads import cpu_threads
from core.model import onnx
from core.model.artifacts import ArtifactBox, BoxSettings, artifact_boxes
from core.model.device import RUNTIME_CHOICES, device_name
from core.model.preprocess import model_input, to_model_input

if TYPE_CHECKING:
    from core.model.caddm import CADDM
    from core.model.checkpoints import CheckpointInfo
    from core.model.config import ModelConfig
    from core.model.int8 import Calibration


@dataclass
class FacePrediction:
    prob: float  # P(fake) of this face crop
    logits: tuple[float, float]
    artifacts: list[ArtifactBox] = field(default_factory=list)  # xyxy crop pixels


class Predictor:
    """Batched inference under `torch.inference_mode()` on `device` ("auto": cuda, mps, cpu), with `runtime`
    (RUNTIME_CHOICES); `self.runtime` names the one that runs ("torch 2.14.1", "onnxruntime 1.32.0").

    crops: BGR uint8 (B, 224, 224, 3). `channels_last` memory format speeds convolutions on CPU and GPU.
    `Predictor(model)` wraps a torch model; `Predictor.for_checkpoint(path)` opens a checkpoint and, on the CPU with
    its checked ONNX export cached, runs that without importing torch or building the network (`self.model` is then
    None; `self.info` and `self.config` say what the model is either way). `self.device` is the device's name
    ("cpu", "cuda", "cuda:1", "mps").

    Lanes: with ONNX Runtime, each batch runs single-threaded and `lanes` batches (`threads`: the cores unless set,
    see `using_threads`) run at once on a pool of threads; `predict` spreads its batches over them and `submit`
    lets a caller keep up to `lanes` batches in flight while it prepares the next (core.model.ort_runtime says why).
    With torch (GPU, or `runtime="torch"`) there is one lane and batches run in the caller's thread on torch's
    threads.
    """

    def __init__(self, model: CADDM | None, device="auto", batch_size: int = 16, boxes: BoxSettings = BoxSettings(),
                 channels_last: bool = True, runtime: str = "auto", *, calibration: Calibration | None = None,
                 _ort=None, _info=None, _config=None):
        if runtime not in RUNTIME_CHOICES:
            raise ValueError(f"runtime: choose from {', '.join(RUNTIME_CHOICES)}, not {runtime!r}")
        self.device = device_name(device)
        self.batch_size = max(1, int(batch_size))
        self.boxes = boxes
        self.channels_last = channels_last
        self.threads = cpu_threads()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lanes = 0
        self._pool_lock = threading.Lock()
        self.info: CheckpointInfo | None
        self.config: ModelConfig
        if model is None:  # for_checkpoint: the cached export alone
            self.model, self.info, self.config, self._ort = None, _info, _config, _ort
        else:
            import torch

            self.model = model.to(self.device).eval()
            if channels_last:
                self.model = self.model.to(memory_format=torch.channels_last)
            self.info, self.config = getattr(model, "info", None), model.config
            self._ort = self._onnx_runtime(runtime, calibration)
        #: "fp32", or "int8" with runtime "onnx-int8": what the scores were computed in (results record it)
        self.precision = self._ort.precision if self._ort is not None else "fp32"
        if self._ort is not None:
            self.runtime = onnx.version() + (" int8" if self.precision == "int8" else "")
        else:
            import torch

            self.runtime = f"torch {torch.__version__.split('+')[0]}"

    @classmethod
    def for_checkpoint(cls, path: str | os.PathLike, device="auto", batch_size: int = 16,
                       boxes: BoxSettings = BoxSettings(), runtime: str = "auto",
                       calibration: Calibration | None = None) -> "Predictor":
        """The predictor of the checkpoint at `path` (see the class docstring; `calibration`: the crops an int8
        model is made with, for runtime "onnx-int8"). CheckpointError for a bad file, ValueError for an absent
        device or an unusable runtime."""
        from core.model.checkpoints import OURS, load_model, read_checkpoint_header

        if runtime not in RUNTIME_CHOICES:
            raise ValueError(f"runtime: choose from {', '.join(RUNTIME_CHOICES)}, not {runtime!r}")
        name = device_name(device)
        if name == "cpu" and runtime != "torch" and onnx.available() is None:
            info, config = read_checkpoint_header(path)
            if info.format == OURS:
                from core.model.ort_runtime import OrtModel

                precision = "int8" if runtime == "onnx-int8" else "fp32"
                ort = None if precision == "int8" and calibration is None else \
                    OrtModel.open(info, config.input_size, precision=precision, calibration=calibration)
                if ort is not None:
                    return cls(None, name, batch_size, boxes, runtime=runtime, _ort=ort, _info=info, _config=config)
        return cls(load_model(path, device=name), name, batch_size, boxes, runtime=runtime, calibration=calibration)

    @property
    def convention(self):
        """The model's `InputConvention` (colour order, mean, std)."""
        return self.config.convention

    def _onnx_runtime(self, runtime: str, calibration: Calibration | None):
        """An OrtModel when `runtime` asks for ONNX Runtime ("auto": on the CPU, when installed and the export
        checks out; "onnxruntime" and "onnx-int8": or a ValueError saying why not), else None."""
        on_cpu = self.device == "cpu"
        if runtime == "torch" or (runtime == "auto" and not on_cpu):
            return None
        from core.model import ort_runtime

        int8 = runtime == "onnx-int8"
        why = None if on_cpu else f"it runs on the CPU here, not {self.device}"
        if int8 and calibration is None:
            why = why or "an int8 model needs calibration crops (core.analysis.calibration)"
        return onnx.open_or_fallback(
            lambda: ort_runtime.OrtModel.from_model(self.model, precision="int8" if int8 else "fp32",
                                                    calibration=calibration),
            runtime in ("onnxruntime", "onnx-int8"), "run this model" + (" in int8" if int8 else ""),
            "torch runs the model", why=why)

    def raw(self, crops_bgr: np.ndarray) -> dict[str, np.ndarray]:
        """Model outputs for one batch (B <= any size) as float32 numpy arrays: logits (B, 2), prob (B,),
        loc (B, 168, 4), conf (B, 168, 2)."""
        if self._ort is not None:
            return self._ort(model_input(crops_bgr, self.convention))
        import torch

        x = to_model_input(crops_bgr, self.convention, self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            out = self.model(x)
        return {k: v.float().cpu().numpy() for k, v in out.items()}

    @contextlib.contextmanager
    def using_threads(self, threads: int):
        """Run with `threads` CPU threads inside the block: ONNX Runtime lanes, or torch's thread count on the CPU
        (restored after)."""
        before = self.threads
        self.threads = max(1, int(threads))
        torch_before = None
        if self._ort is None and self.device == "cpu":
            import torch

            torch_before = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        try:
            yield self
        finally:
            self.threads = before
            if torch_before is not None:
                import torch

                torch.set_num_threads(torch_before)

    @property
    def lanes(self) -> int:
        """How many batches run at once: `threads` with ONNX Runtime (one single-threaded batch per thread), else 1."""
        return max(1, self.threads) if self._ort is not None else 1

    def _lane_pool(self) -> ThreadPoolExecutor | None:
        lanes = self.lanes
        if lanes == 1:
            return None
        with self._pool_lock:
            if self._pool_lanes != lanes:
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                self._pool = ThreadPoolExecutor(lanes, thread_name_prefix="caddm-model")
                self._pool_lanes = lanes
            return self._pool

    def _score(self, crops_bgr: np.ndarray, settings: BoxSettings) -> list[FacePrediction]:
        """One batch (B <= batch_size), in the calling thread."""
        out = self.raw(crops_bgr)
        boxes = artifact_boxes(out["loc"], out["conf"], settings)
        logits, probs = out["logits"], out["prob"]
        return [FacePrediction(float(p), (float(l[0]), float(l[1])), b) for p, l, b in zip(probs, logits, boxes)]

    def submit(self, crops_bgr: np.ndarray, boxes: BoxSettings | None = None) -> Future:
        """`predict(crops_bgr, boxes)` as a Future: on a lane when there are several (the caller keeps at most
        `lanes` in flight to use them all without queueing), else done in the calling thread before returning."""
        settings = self.boxes if boxes is None else boxes
        pool = self._lane_pool()
        if pool is not None:
            return pool.submit(self._predict_serial, crops_bgr, settings)
        done: Future = Future()
        try:
            done.set_result(self._predict_serial(crops_bgr, settings))
        except BaseException as e:  # noqa: BLE001 - delivered by result(), as the pool would
            done.set_exception(e)
        return done

    def _predict_serial(self, crops_bgr: np.ndarray, settings: BoxSettings) -> list[FacePrediction]:
        results: list[FacePrediction] = []
        for start in range(0, len(crops_bgr), self.batch_size):
            results += self._score(crops_bgr[start : start + self.batch_size], settings)
        return results

    def predict(self, crops_bgr: np.ndarray, boxes: BoxSettings | None = None) -> list[FacePrediction]:
        """Score (B, 224, 224, 3) BGR uint8 crops in batches of at most `batch_size`, spread over the lanes (fewer
        crops than lanes x batch_size are split evenly so every lane works); artifact boxes per `boxes` (default:
        the predictor's own settings). The order of the results is the order of the crops."""
        settings = self.boxes if boxes is None else boxes
        pool = self._lane_pool()
        n = len(crops_bgr)
        if pool is None or n < 2:
            return self._predict_serial(crops_bgr, settings)
        size = min(self.batch_size, -(-n // self.lanes))
        parts = [pool.submit(self._score, crops_bgr[s : s + size], settings) for s in range(0, n, size)]
        return [p for part in parts for p in part.result()]
