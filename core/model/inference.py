"""Scoring aligned face crops: the one place a crop becomes P(fake) and artifact boxes.

The analysis engine and the evaluation command both call `Predictor.predict`, so a frame scores the same in both.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from core.model import onnx, ort_runtime
from core.model.artifacts import ArtifactBox, BoxSettings, artifact_boxes
from core.model.device import RUNTIME_CHOICES, resolve_device
from core.model.caddm import CADDM
from core.model.preprocess import to_model_input


@dataclass
class FacePrediction:
    prob: float  # P(fake) of this face crop
    logits: tuple[float, float]
    artifacts: list[ArtifactBox] = field(default_factory=list)  # xyxy crop pixels


class Predictor:
    """Batched inference under `torch.inference_mode()` on `device` ("auto": cuda, mps, cpu), with `runtime`
    (RUNTIME_CHOICES); `self.runtime` names the one that runs ("torch 2.14.1", "onnxruntime 1.32.0").

    crops: BGR uint8 (B, 224, 224, 3). `channels_last` memory format speeds convolutions on CPU and GPU.

    Lanes: with ONNX Runtime, each batch runs single-threaded and `lanes` (= torch's thread count, which the analysis
    sets per run) batches run at once on a pool of threads; `predict` spreads its batches over them and `submit`
    lets a caller keep up to `lanes` batches in flight while it prepares the next (core.model.ort_runtime says why).
    With torch (GPU, or `runtime="torch"`) there is one lane and batches run in the caller's thread.
    """

    def __init__(self, model: CADDM, device="auto", batch_size: int = 16, boxes: BoxSettings = BoxSettings(),
                 channels_last: bool = True, runtime: str = "auto"):
        if runtime not in RUNTIME_CHOICES:
            raise ValueError(f"runtime: choose from {', '.join(RUNTIME_CHOICES)}, not {runtime!r}")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.channels_last = channels_last
        self.batch_size = max(1, int(batch_size))
        self.boxes = boxes
        self._ort = self._onnx_runtime(runtime)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lanes = 0
        self._pool_lock = threading.Lock()
        self.runtime = onnx.version() if self._ort is not None else f"torch {torch.__version__.split('+')[0]}"

    def _onnx_runtime(self, runtime: str):
        """An OrtModel when `runtime` asks for ONNX Runtime ("auto": on the CPU, when installed and the export
        checks out; "onnxruntime": or a ValueError saying why not), else None."""
        if runtime == "torch" or (runtime == "auto" and self.device.type != "cpu"):
            return None
        return onnx.open_or_fallback(
            lambda: ort_runtime.OrtModel(self.model), runtime == "onnxruntime", "run this model", "torch runs the model",
            why=None if self.device.type == "cpu" else f"it runs on the CPU here, not {self.device}")

    def raw(self, crops_bgr: np.ndarray) -> dict[str, torch.Tensor]:
        """Model outputs for one batch (B <= any size): logits, prob, loc, conf (on the model's device)."""
        x = to_model_input(crops_bgr, self.model.convention, self.device)
        if self._ort is not None:
            return self._ort(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.model(x)

    @property
    def lanes(self) -> int:
        """How many batches run at once: torch's thread count with ONNX Runtime (one single-threaded batch per
        thread), else 1."""
        return max(1, torch.get_num_threads()) if self._ort is not None else 1

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
        logits = out["logits"].float().cpu().numpy()
        probs = out["prob"].float().cpu().numpy()
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
