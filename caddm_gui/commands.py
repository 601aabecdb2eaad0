"""What the analyst can do, as methods that change `AppState` (after SLEAP's `gui/commands.py`): open a video,
analyse it, cancel, seek and step, set the threshold, flag and annotate frames, export reports and the current
frame. No widgets here: tests drive these directly, without a window.

Long work runs in `workers`; results come back as signals on the UI thread. Problems become one-line messages on
`state.message`, and the app keeps running.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from core.analysis.engine import AnalysisOptions
from core.common.atomic import ensure_output_dir
from core.analysis.cache import ResultCache
from core.faces.pipeline import DetectorSettings
from core.case import check_evidence_file
from core.model.device import describe_device, device_name
from core.common.errors import CaddmError, VideoError
from core.common.formatting import utc_now
from core.media.evidence import video_file_filter
from core.model.registry import model_default_threshold, resolve_model
from core.reports import FORMATS, write_reports
from core.reports.figures import write_annotated_png
from core.analysis.reference import Reference
from core.analysis.frame_results import FrameResult
from core.analysis.results import AnalysisResult, CaseInfo
from core.analysis.runner import analyze_cached, load_predictor, lookup_cached
from core.media.video import VideoReader, quick_probe

from .case_commands import CaseCommands
from .preferences import Preferences
from .state import AppState
from .workers import AnalysisWorker, FrameLoader, TaskWorker, elapsed_and_remaining, error_text

VIDEO_FILTER = video_file_filter()


class Commands(QObject):
    analysisFinished = Signal(object)   # AnalysisResult or None (failed)
    exportFinished = Signal(object)     # {format: path} / path, or None (failed)
    infoReady = Signal()                # hashing (and the cache look-up) of the open video is done

    def __init__(self, state: AppState, prefs: Preferences | None = None, settings: QSettings | None = None,
                 cache: ResultCache | None = None, parent=None):
        super().__init__(parent)
        self.state = state
        self.prefs = prefs or Preferences()
        self.settings = settings
        self.cache = cache if cache is not None else ResultCache()
        self.loader = FrameLoader(proxy_root=self.cache.root)
        self.loader.frameReady.connect(self._on_frame)
        self.loader.previewReady.connect(self.state.set_preview)
        self.loader.failed.connect(self._on_frame_failed)
        self.state.frameChanged.connect(self._request_frame)
        self._workers: set = set()
        self._analysis: AnalysisWorker | None = None
        self._analysis_start, self._analysis_utc = 0.0, ""
        self._open_gen = 0
        self._predictor = None
        self._predictor_key = None
        self._predictor_lock = threading.Lock()
        self.reference: Reference | None = None   # the claimed person's reference (reference_panel), or None
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(400)
        self._save_timer.timeout.connect(self._save_review)
        self.state.threshold = self.effective_threshold()
        self.state.overlays.update(self.prefs.overlays)
        self.describe_device()
        self.cases = CaseCommands(self)   # the case file's side of all this (case_commands.py)

    # -- helpers ---------------------------------------------------------------------------------------------
    def _start(self, worker) -> None:
        self._workers.add(worker)
        worker.finished.connect(lambda w=worker: self._workers.discard(w))
        worker.start()

    def _task(self, fn: Callable, on_ok: Callable, on_fail: Callable | None = None, name: str = "task") -> TaskWorker:
        w = TaskWorker(fn, name)
        w.succeeded.connect(on_ok)
        w.failed.connect(on_fail or self.state.error)
        self._start(w)
        return w

    def save_prefs(self) -> None:
        if self.settings is not None:
            self.prefs.save(self.settings)

    def options(self) -> AnalysisOptions:
        return AnalysisOptions(frames=self.prefs.frame_selection(), threshold=self.state.threshold,
                               identity=self.prefs.identity, landmarks=self.prefs.landmarks,
                               detector=DetectorSettings(detector=self.prefs.face_detector))

    def describe_device(self) -> str:
        try:
            text = describe_device(device_name(self.prefs.device))
        except ValueError as e:
            text = "unavailable"
            self.state.error(str(e))
        self.state.device_name = text
        if self.state.result is None:
            self.state.model_name = self.configured_model()
        self.state.modelChanged.emit()
        return text

    def configured_model(self) -> str:
        """The model the next analysis uses, as the findings panel names it before one has run."""
        if self.prefs.model_path:
            return os.path.basename(self.prefs.model_path)
        try:
            return f"bundled default ({resolve_model(None).name})"
        except CaddmError:
            return "none: choose one in Settings"

    def model_threshold(self) -> float:
        """The configured model's calibrated threshold (its card), 0.5 for a model without one or no model."""
        return model_default_threshold(self.prefs.model_arg())

    def effective_threshold(self) -> float:
        """The threshold in force: the model's calibrated one, or the analyst's own (Preferences.model_threshold)."""
        return self.model_threshold() if self.prefs.model_threshold else self.prefs.threshold

    def apply_preferences(self, prefs: Preferences) -> None:
        """New settings from the dialog: remembered, and the threshold / overlays / device take effect now."""
        model_changed = (prefs.model_path, prefs.device) != (self.prefs.model_path, self.prefs.device)
        self.prefs = prefs
        self.save_prefs()
        self.set_threshold(self.effective_threshold(), by_user=False)
        for name, on in prefs.overlays.items():
            self.state.set_overlay(name, on)
        if model_changed:
            self._predictor = self._predictor_key = None
            self.describe_device()

    # -- open ------------------------------------------------------------------------------------------------
    def open_video(self, path: str | os.PathLike) -> bool:
        """Show the first frame at once; hash and probe in a worker, then load a cached result if there is one."""
        path = os.path.abspath(os.fspath(path))
        if self.state.busy:
            self.state.warning("An analysis is running: cancel it before opening another video.")
            return False
        try:
            n, fps, size = quick_probe(path)
        except CaddmError as e:
            self.state.error(str(e))
            return False
        except OSError as e:
            self.state.error(str(VideoError(path, f"cannot be read ({e.strerror or e})")))
            return False
        self._open_gen += 1
        gen = self._open_gen
        self.prefs.add_recent(path)
        self.save_prefs()
        self.loader.open(path)
        self.state.set_video(path, n, fps, size)
        self.loader.request(0)
        self.state.info_msg(f"Opened {os.path.basename(path)}; computing SHA-256...")
        options, model, cache = self.options(), self.prefs.model_arg(), self.cache
        in_case = self.state.case is not None   # then the cache's review of it may be offered to the case

        def probe():
            info, result = lookup_cached(path, model, options, cache)
            return info, result, (cache.results_for_video(info.sha256) if in_case else [])

        self._task(probe, lambda out, g=gen: self._on_probed(g, out),
                   lambda msg, g=gen: self._on_probe_failed(g, msg), name="hash")
        return True

    def _on_probed(self, gen: int, out) -> None:
        if gen != self._open_gen:
            return  # another video was opened meanwhile
        info, result, found = out
        self.state.set_info(info)
        from_case = self.cases.video_probed(info)   # with a case open: its analysis of the video, if any
        if from_case is not None:
            self.state.set_result(self._compared(from_case), review=self.cases.review())
        elif result is not None:
            self.state.set_result(self._compared(result), from_cache=True, review=self.cases.review())
            self.state.info_msg(f"Loaded the cached analysis of {os.path.basename(info.path)} "
                                f"({len(result.frames)} frames, model {result.model.name}).")
        else:
            self.state.info_msg(f"{os.path.basename(info.path)}: {info.frame_count} frames, SHA-256 {info.sha256[:16]}...")
            if self.prefs.auto_analyse:
                self.analyse()
        self.cases.offer_cached(info, found)
        self.infoReady.emit()

    def _on_probe_failed(self, gen: int, msg: str) -> None:
        if gen == self._open_gen:
            self.state.error(msg)
            self.infoReady.emit()

    # -- frames ----------------------------------------------------------------------------------------------
    def _request_frame(self, index: int) -> None:
        """Ask for the current frame, and name the next and previous suspicious frames as the likely next asks."""
        self.loader.request(index)
        self.loader.hint([self.state.next_above(index, 1), self.state.next_above(index, -1)])

    def _on_frame(self, index: int, image) -> None:
        if index == self.state.frame_index:
            self.state.set_image(index, image)

    def _on_frame_failed(self, index: int, msg: str) -> None:
        self.state.error(msg)

    def seek(self, index: int) -> None:
        self.state.set_frame(index)

    def step(self, delta: int) -> None:
        self.state.set_frame(self.state.frame_index + delta)

    def jump_above(self, direction: int) -> bool:
        i = self.state.next_above(self.state.frame_index, direction)
        if i is None:
            self.state.info_msg(f"No {'later' if direction > 0 else 'earlier'} analysed frame at or above the "
                                f"threshold {self.state.threshold:.2f}.")
            return False
        self.seek(i)
        return True

    # -- analysis --------------------------------------------------------------------------------------------
    def _get_predictor(self, model_arg, device):
        with self._predictor_lock:
            key = (model_arg, device)
            if self._predictor is None or self._predictor_key != key:
                self._predictor = load_predictor(model_arg, device=device)
                self._predictor_key = key
            return self._predictor

    def analyse(self) -> bool:
        """Start analysing the open video in a worker (a cached result, when there is one, comes back at once)."""
        s = self.state
        if s.video_path is None:
            s.warning("Open a video first (File > Open, or drop a file on the window).")
            return False
        if s.busy:
            return False
        path, info, options = s.video_path, s.info, self.options()
        model_arg, device = self.prefs.model_arg(), self.prefs.device
        cache = self.cache

        def run(progress, cancel, model_ready):
            predictor = self._get_predictor(model_arg, device)
            where = describe_device(predictor.device, predictor.lanes)
            model_ready(predictor.info.name, f"{where}, {predictor.runtime}")
            return analyze_cached(path, predictor, options, cache, progress=progress, cancel=cancel, info=info)

        w = AnalysisWorker(run)
        w.modelReady.connect(self._on_model_ready)
        w.frameDone.connect(self._on_frame_scored)
        w.succeeded.connect(self._on_analysed)
        w.failed.connect(self._on_analysis_failed)
        self._analysis = w
        s.begin_scoring()
        s.set_busy(True)
        self._analysis_start = time.perf_counter()
        self._analysis_utc = utc_now(milliseconds=True)
        s.progressChanged.emit(0, 0, 0.0, -1.0)
        s.info_msg("Loading the model...")
        self._start(w)
        return True

    def _on_model_ready(self, name: str, device: str) -> None:
        self.state.set_model(name, device)
        self.state.info_msg(f"Analysing with {name} on {device}...")

    def _on_frame_scored(self, done: int, total: int, fr: FrameResult) -> None:
        if self._analysis is None:
            return
        self.state.add_frame(fr)
        el, rem = elapsed_and_remaining(self._analysis_start, done, total)
        self.state.progressChanged.emit(done, total, el, rem)

    def _finish_analysis(self) -> None:
        self._analysis = None
        self.state.set_busy(False)

    def _on_analysed(self, result: AnalysisResult, cached: bool) -> None:
        self._finish_analysis()
        s = self.state
        self.cases.analysed(result, cached, self._analysis_utc)   # recorded in the open case
        result = self._compared(result)
        s.set_result(result, from_cache=cached, review=self.cases.review())
        sm = result.summary
        if not result.complete:
            s.warning(f"Analysis cancelled: {len(result.frames)} frames scored are shown (not cached, report marked "
                      f"incomplete).")
        elif sm.frames_with_faces == 0:
            s.warning(f"No face was found in the {sm.frames_analysed} analysed frames: no score, inconclusive. Try "
                      f"more frames (Settings > Frames) or another face detector.")
        else:
            s.info_msg(f"{'Loaded cached analysis' if cached else 'Analysis done'}: {len(result.frames)} frames, "
                       f"{sm.frames_with_faces} with a face.")
        self.analysisFinished.emit(result)

    def _on_analysis_failed(self, msg: str) -> None:
        self._finish_analysis()
        self.state.error(f"Analysis failed: {msg}")
        self.analysisFinished.emit(None)

    def cancel_analysis(self) -> None:
        if self._analysis is not None:
            self._analysis.cancel()
            self.state.info_msg("Cancelling...")

    @property
    def analysing(self) -> bool:
        return self._analysis is not None

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Wait for every worker to end (True when they all did)."""
        deadline = time.perf_counter() + timeout_ms / 1000
        for w in list(self._workers):
            left = max(0, int((deadline - time.perf_counter()) * 1000))
            if not w.wait(left):
                return False
            self._workers.discard(w)
        return True

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel the analysis, save the review, wait for the workers, stop the frame loader."""
        self.cancel_analysis()
        self.flush_review()
        ok = self.wait(timeout_ms)
        self.cases.shutdown()
        self.loader.close()
        self.save_prefs()
        return ok

    def flush_review(self) -> None:
        """Save a review change still waiting for the save timer now."""
        if self._save_timer.isActive():
            self._save_timer.stop()
            self._save_review(sync=True)

    # -- identity reference ----------------------------------------------------------------------------------
    def _compared(self, result: AnalysisResult) -> AnalysisResult:
        return result if self.reference is None and result.reference is None else result.with_reference(self.reference)

    def set_reference(self, reference: Reference | None) -> bool:
        """Compare the faces with the claimed person's reference (None: no comparison), now for the current
        result (distances and track verdicts recomputed from its descriptors; nothing is re-analysed) and for
        every result opened or analysed after. False when there is no result to compare yet."""
        self.reference = reference
        s = self.state
        if s.result is None or s.busy:
            return False
        s.set_result(self._compared(s.result), from_cache=s.from_cache, review=s.review)
        if reference is None:
            s.info_msg("Reference cleared: identity shows the consistency within each track.")
        elif not any(f.descriptor is not None for fr in s.result.frames for f in fr.faces):
            s.warning("This analysis has no identity descriptors (identity was off in Settings, or no face was "
                      "described): turn identity on in Settings and analyse again to compare with the reference.")
        elif not len(reference.descriptors):
            s.warning("The reference holds no face: identity distances are not computed.")
        else:
            verdicts = [f"track {t.track}: {t.identity.verdict}" for t in s.result.tracks
                        if t.identity is not None and t.identity.verdict is not None]
            s.info_msg(f"Compared with the reference ({len(reference.descriptors)} faces): "
                       + ("; ".join(verdicts) or "no described track"))
        return True

    # -- threshold and review ----------------------------------------------------------------------------------
    def set_threshold(self, t: float, by_user: bool = True) -> None:
        """Set the threshold in force. `by_user` (timeline drag, keyboard): the analyst's own value from now on,
        remembered, in place of the model's calibrated threshold (Settings can switch back)."""
        self.state.set_threshold(t)
        if by_user:
            if self.prefs.model_threshold and abs(self.state.threshold - self.model_threshold()) > 1e-9:
                self.prefs.model_threshold = False
                self.state.info_msg(f"Threshold {self.state.threshold:.3f} set by you; the model's calibrated "
                                    f"threshold is {self.model_threshold():.3f} (Settings > Threshold).")
            self.prefs.threshold = self.state.threshold

    def set_flag(self, index: int, on: bool) -> None:
        flags = self.state.review.flags
        if on == (index in flags):
            return
        if not self.cases.record_review("frame", index, "flag", on):
            self.state.reviewChanged.emit(index)   # refused: the views show the unchanged flag again
            return
        (flags.add if on else flags.discard)(index)
        self._review_changed(index)

    def toggle_flag(self, index: int | None = None) -> bool:
        index = self.state.frame_index if index is None else index
        on = index not in self.state.review.flags
        self.set_flag(index, on)
        return on

    def set_note(self, index: int, text: str) -> None:
        text = text.strip()
        notes = self.state.review.notes
        if notes.get(index, "") == text:
            return
        if not self.cases.record_review("frame", index, "note", text):
            self.state.reviewChanged.emit(index)
            return
        if text:
            notes[index] = text
        else:
            notes.pop(index, None)
        self._review_changed(index)

    def _review_changed(self, index: int) -> None:
        self.state.reviewChanged.emit(index)
        self._save_timer.start()

    def _save_review(self, sync: bool = False) -> None:
        """The review is saved with the cached result, so re-opening the video brings it back (with a case open,
        the case holds it instead)."""
        r = self.state.result
        if r is None or not r.complete or self.state.case is not None:
            return
        cache = self.cache

        def save():
            cache.put(cache.key_for(r), r)
        if sync:
            try:
                save()
            except (CaddmError, OSError) as e:
                self.state.error(f"Could not save the review: {error_text(e)}")
        else:
            self._task(save, lambda _: None, lambda m: self.state.error(f"Could not save the review: {m}"), "review")

    # -- export ----------------------------------------------------------------------------------------------
    def export_report(self, out_dir: str | os.PathLike, formats=FORMATS, case: CaseInfo | None = None,
                      top_n: int = 6) -> bool:
        s = self.state
        if s.result is None:
            s.warning("Nothing to export yet: analyse the video first.")
            return False
        result = s.result.with_threshold(s.threshold)
        result.review = s.review
        result.case = case
        try:   # with a case open: its header and review, recorded in it once written
            from_case = self.cases.prepare_export(result)
        except CaddmError as e:
            s.error(f"Export failed: {e}")
            return False
        if from_case is not None:
            result = from_case.result
        path, out = s.video_path, Path(out_dir)
        formats = list(formats)
        self.prefs.export_dir = str(out)
        if result.case is not None and result.case.analyst:
            self.prefs.analyst = result.case.analyst
        self.save_prefs()

        def export():
            if from_case is not None:   # the frames shown as evidence must be the case's evidence file
                check_evidence_file(f"evidence item {from_case.item}", path, from_case.sha256)
            ensure_output_dir(out)
            with VideoReader(path) as reader:
                return write_reports(result, out, formats=formats, frame_source=reader.read_frame, top_n=top_n)

        s.info_msg(f"Writing the report to {out}...")
        self._task(export, lambda written: self._on_exported(written, from_case), self._on_export_failed, "export")
        return True

    def _on_exported(self, written, from_case=None) -> None:
        if isinstance(written, dict):
            names = ", ".join(p.name for p in written.values())
            folder = next(iter(written.values())).parent if written else ""
            recorded = self.cases.exported(from_case, written) if from_case is not None else ""
            self.state.info_msg(f"Report written: {names} in {folder}{recorded}")
        else:
            self.state.info_msg(f"Saved {written}")
        self.exportFinished.emit(written)

    def _on_export_failed(self, msg: str) -> None:
        self.state.error(f"Export failed: {msg}")
        self.exportFinished.emit(None)

    def export_frame_png(self, path: str | os.PathLike) -> bool:
        """The current frame with its boxes (as in the report) as a PNG, written in a worker."""
        s = self.state
        if s.image is None or s.image_index != s.frame_index:
            s.warning("The current frame is not decoded yet; try again in a moment.")
            return False
        image, index = s.image, s.frame_index
        fr = s.frame_result(index) or FrameResult(index=index, time_s=s.time_of(index))
        threshold, landmarks = s.threshold, s.overlays.get("landmarks", False)

        def export():
            return write_annotated_png(path, image, fr, threshold, show_landmarks=landmarks)

        self._task(export, self._on_exported, self._on_export_failed, "export-png")
        return True
