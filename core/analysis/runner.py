"""Running an analysis the way the command line and the GUI both do: model -> predictor, result cache look-up by
(video SHA-256, model SHA-256, result-affecting settings), analysis, and storing complete results.

    predictor = load_predictor(None, device="auto")          # bundled default, or CheckpointError
    result, cached = analyze_cached(path, predictor, options, ResultCache())
    info, cached = lookup_cached(path, None, options, ResultCache())   # opening a video: no model loaded

The cache key has one derivation, `ResultCache.key` over the result's settings: a result is stored under the key
of what it records (`ResultCache.key_for`), and looked up under the key of the options that would produce it.
"""
from __future__ import annotations

import os

from core.analysis.engine import AnalysisOptions, CancelFn, ProgressFn, analyze_video
from core.analysis.cache import ResultCache
from core.common.errors import CaddmError
from core.common.hashing import sha256_file_memo
from core.model.inference import Predictor
from core.analysis.reference import Reference
from core.model.registry import resolve_model
from core.analysis.results import AnalysisResult
from core.media.evidence import VideoInfo
from core.media.video import probe_video


def load_predictor(model: str | os.PathLike | None, device: str = "auto", batch_size: int = 16,
                   runtime: str = "auto") -> Predictor:
    """A registry name, a checkpoint path or None (bundled default) -> a ready `Predictor` (`runtime`: see
    `core.model.inference.RUNTIME_CHOICES`). Raises CheckpointError (no model, unreadable checkpoint) or ValueError
    (device not available, runtime unknown or unusable)."""
    path = resolve_model(None if model is None else os.fspath(model))
    calibration = None
    if runtime == "onnx-int8":
        from core.analysis.calibration import calibration as shipped

        calibration = shipped()
    return Predictor.for_checkpoint(path, device=device, batch_size=batch_size, runtime=runtime,
                                    calibration=calibration)


def model_sha256(predictor: Predictor) -> str:
    """SHA-256 of the checkpoint the predictor's model was loaded from ("" for a model built in memory)."""
    info = predictor.info
    return info.sha256 if info is not None else ""


def lookup_cached(path: str | os.PathLike, model: str | os.PathLike | None, options: AnalysisOptions,
                  cache: ResultCache) -> tuple[VideoInfo, AnalysisResult | None]:
    """(the video's evidence record, a cached complete result for it with `model` and `options`, or None), without
    loading the model: the checkpoint is only hashed (once per process and file version). For opening a video."""
    info = probe_video(path)
    try:
        model_sha = sha256_file_memo(resolve_model(None if model is None else os.fspath(model)))
    except (CaddmError, OSError):
        return info, None  # no usable model: nothing can be cached for it; analysis will say why
    return info, _cached(cache, info, model_sha, options, path)


def _cached(cache: ResultCache, info: VideoInfo, model_sha: str, options: AnalysisOptions,
            video_path, precision: str = "fp32") -> AnalysisResult | None:
    result = cache.get(ResultCache.key(info.sha256, model_sha, options.settings(precision=precision)))
    if result is None:
        return None
    result.video.path = os.path.abspath(os.fspath(video_path))
    return result.with_threshold(options.threshold)


def analyze_cached(path: str | os.PathLike, predictor: Predictor, options: AnalysisOptions,
                   cache: ResultCache | None = None, progress: ProgressFn | None = None,
                   cancel: CancelFn | None = None, info: VideoInfo | None = None,
                   reference: Reference | None = None,
                   startup_s: float | None = None) -> tuple[AnalysisResult, bool]:
    """(result, came_from_cache). Analyses when the cache has nothing; stores the result only when complete
    (a cancelled run is never cached). `reference` (`core.analysis.reference_scan.load_reference`): the faces are
    compared with the claimed person's reference after the cache (the cache holds the descriptors, not the
    comparison). `startup_s`: the caller's start-up before this analysis, recorded in its timings (`LATENCIES`)."""
    info = info or probe_video(path)
    result = None
    if cache is not None:
        result = _cached(cache, info, model_sha256(predictor), options, path, predictor.precision)
    cached = result is not None
    if not cached:
        result = analyze_video(path, predictor, options, progress=progress, cancel=cancel, info=info,
                               startup_s=startup_s)
        if cache is not None and result.complete:
            cache.put(cache.key_for(result), result)
    return (result if reference is None else result.with_reference(reference)), cached
