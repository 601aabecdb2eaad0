"""Running an analysis the way the command line and the GUI both do: model -> predictor, result cache look-up by
(video SHA-256, model SHA-256, result-affecting settings), analysis, and storing complete results.

    predictor = load_predictor(None, device="auto")          # bundled default, or CheckpointError
    result, cached = analyze_cached(path, predictor, options, ResultCache())

`cache_key` needs only the two hashes and the options, so a caller that has hashed the model file can look up a
cached result (`lookup`) without loading the model.
"""
from __future__ import annotations

import os

from .analysis import AnalysisOptions, CancelFn, ProgressFn, analyze_video
from .cache import ResultCache
from .checkpoints import load_model
from .inference import Predictor
from .registry import resolve_model
from .results import AnalysisResult
from .evidence import VideoInfo
from .video import probe_video


def load_predictor(model: str | os.PathLike | None, device: str = "auto", batch_size: int = 16) -> Predictor:
    """A registry name, a checkpoint path or None (bundled default) -> a ready `Predictor`.
    Raises CheckpointError (no model, unreadable checkpoint) or ValueError (device not available)."""
    m = load_model(resolve_model(None if model is None else os.fspath(model)), device=device)
    return Predictor(m, device=device, batch_size=batch_size)


def model_sha256(predictor: Predictor) -> str:
    return (getattr(predictor.model, "metadata", {}) or {}).get("source", {}).get("sha256", "")


def cache_key(cache: ResultCache, video_sha256: str, model_sha: str, options: AnalysisOptions) -> str:
    """The cache key of a result (the device and threshold do not enter it)."""
    return cache.key(video_sha256, model_sha, options.settings("any"))


def lookup(cache: ResultCache, key: str, video_path: str | os.PathLike, threshold: float) -> AnalysisResult | None:
    """A cached complete result for `key`, pointed at `video_path` and summarised at `threshold`, or None."""
    result = cache.get(key)
    if result is None:
        return None
    result.video.path = os.path.abspath(os.fspath(video_path))
    return result.with_threshold(threshold)


def analyze_cached(path: str | os.PathLike, predictor: Predictor, options: AnalysisOptions,
                   cache: ResultCache | None = None, progress: ProgressFn | None = None,
                   cancel: CancelFn | None = None, info: VideoInfo | None = None) -> tuple[AnalysisResult, bool]:
    """(result, came_from_cache). Analyses when the cache has nothing; stores the result only when complete
    (a cancelled run is never cached)."""
    info = info or probe_video(path)
    key = None
    if cache is not None:
        key = cache_key(cache, info.sha256, model_sha256(predictor), options)
        hit = lookup(cache, key, path, options.threshold)
        if hit is not None:
            return hit, True
    result = analyze_video(path, predictor, options, progress=progress, cancel=cancel, info=info)
    if cache is not None and result.complete:
        cache.put(key, result)
    return result, False
