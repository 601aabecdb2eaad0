"""The screening actor: one process that loads the model and the face models once and analyses video after video.

`Screener` is a plain class; the driver makes it a Ray actor (`ray.remote(...)(Screener)`), so this module does not
import Ray, and nothing heavy loads before `__init__` has called `configure_threads()`.

`analyze(path, sha256)` never raises for a bad file: it returns the row's analysis part (`core.screen.rows`) and
the full result as a dict (None for an error). Only the death of the process (killed, out of memory, a crash in
native code) reaches the driver, as Ray's actor error after Ray's retries.

Test hook: `crash` = "NAME" makes the process exit (`os._exit`) when it is given a file named NAME; "NAME:MARKER"
only while the file MARKER does not exist (it is created first), i.e. once.
"""
from __future__ import annotations

import os
import socket
import time


class Screener:
    """Analyses videos with one model (`model`: a path, registry name or None for the bundled default) on `device`
    ("cpu": ONNX Runtime where it can, the project's CPU path; "auto": a GPU when the actor was given one) with
    `options` (`core.analysis.engine.AnalysisOptions`)."""

    def __init__(self, model, device: str, options, crash: str = ""):
        from core.common.threads import configure_threads

        configure_threads()  # before torch loads in this process
        from core.faces.pipeline import FacePipeline
        from core.analysis.runner import load_predictor, model_sha256

        t0 = time.perf_counter()
        self.predictor = load_predictor(model, device=device, batch_size=options.batch_size)
        self.pipeline = FacePipeline(options.detector)  # reused: dlib's models load once, not per video
        self.options = options
        self.model_sha256 = model_sha256(self.predictor)
        self.model_name = self.predictor.info.name
        self.host = socket.gethostname()
        self.load_s = time.perf_counter() - t0
        self.crash = crash

    def ready(self) -> dict:
        """What the driver checks before sending work: host, process id, model identity, model load seconds, memory."""
        return {"host": self.host, "pid": os.getpid(), "model_sha256": self.model_sha256,
                "model_name": self.model_name, "load_s": round(self.load_s, 3), "rss_mb": rss_mb(),
                "runtime": self.predictor.runtime}

    def _maybe_crash(self, path: str) -> None:
        if not self.crash:
            return
        name, _, marker = self.crash.partition(":")
        if os.path.basename(path) != name:
            return
        if marker:
            if os.path.exists(marker):
                return
            open(marker, "w").close()
        os._exit(3)

    def analyze(self, path: str, sha256: str) -> dict:
        """{"fields": the row's analysis part, "result": AnalysisResult.to_dict() or None, "rss_mb": float}."""
        from core.analysis.engine import analyze_video
        from core.common.errors import CaddmError
        from core.faces.pipeline import StageTimes
        from core.media.video import probe_video
        from core.screen.rows import analysis_fields, error_fields

        self._maybe_crash(path)
        t0 = time.perf_counter()

        def failed(message: str) -> dict:
            return {"fields": error_fields(sha256, message, self.model_sha256, self.model_name,
                                           time.perf_counter() - t0, self.host), "result": None, "rss_mb": rss_mb()}

        try:
            info = probe_video(path)
            if info.sha256 != sha256:
                return failed(f"{path}: the file changed while it was screened (SHA-256 {info.sha256[:16]}... "
                              f"now, {sha256[:16]}... when listed)")
            self.pipeline.times = StageTimes()  # the result's timings are this video's only
            result = analyze_video(path, self.predictor, self.options, pipeline=self.pipeline, info=info)
        except CaddmError as e:
            return failed(str(e))
        except Exception as e:  # noqa: BLE001 - one bad file must not stop the screen; the row says what happened
            return failed(f"{path}: analysis failed ({type(e).__name__}: {e})")
        return {"fields": analysis_fields(result, time.perf_counter() - t0, self.host), "result": result.to_dict(),
                "rss_mb": rss_mb()}


def rss_mb() -> float:
    """This process's resident memory in MiB (Linux /proc; 0.0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return 0.0
