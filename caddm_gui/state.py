"""The one place that holds what the app shows (after SLEAP's `gui/state.py`): the open video, its metadata, the
current frame, the analysis result (or the frames scored so far), the threshold, the review and the overlays.

Views read it and subscribe to its signals; only commands (`caddm_gui.commands`) change it.
"""
from __future__ import annotations

import bisect

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.analysis.frame_results import FrameResult
from core.analysis.results import AnalysisResult, Review
from core.analysis.summary import summarize, Summary
from core.media.evidence import VideoInfo

from .preferences import default_overlays


class AppState(QObject):
    videoOpened = Signal(str)                        # path; frame_count / fps / size are set
    infoChanged = Signal(object)                     # VideoInfo (hash done) or None
    frameChanged = Signal(int)                       # current frame index
    imageChanged = Signal(int, object)               # decoded current frame: index, BGR uint8 (H, W, 3)
    previewChanged = Signal(int, object)             # a smaller preview of the current frame, before the exact one
    framesReset = Signal()                           # the scored frames were replaced (new video, result loaded)
    frameScored = Signal(object)                     # one FrameResult added while an analysis runs
    resultChanged = Signal(object)                   # the finished AnalysisResult, or None
    thresholdChanged = Signal(float)
    overlaysChanged = Signal()
    reviewChanged = Signal(int)                      # frame index whose flag / note changed
    busyChanged = Signal(bool)                       # an analysis is running
    progressChanged = Signal(int, int, float, float)  # done, total, elapsed s, remaining s (-1: unknown)
    modelChanged = Signal()                          # model_name / device_name
    caseChanged = Signal()                           # a case opened or closed, or its content changed
    message = Signal(str, str)                       # level: info | warning | error, text

    def __init__(self, parent=None):
        super().__init__(parent)
        self.video_path: str | None = None
        self.frame_count = 0
        self.fps = 0.0
        self.size = (0, 0)
        self.info: VideoInfo | None = None
        self.frame_index = 0
        self.image: np.ndarray | None = None
        self.image_index = -1
        self.frames: list[FrameResult] = []
        self._by_index: dict[int, FrameResult] = {}
        self._sorted: list[int] = []
        self.result: AnalysisResult | None = None
        self.from_cache = False
        self.review = Review()
        self.threshold = 0.5
        self.overlays = default_overlays()
        self.busy = False
        self.model_name = ""
        self.device_name = ""
        self.selection: list[int] = []
        self.case = None                 # the open core.case.Case (caddm_gui.case_commands), or None
        self.case_item: int | None = None          # the open video's evidence item in the case
        self.case_analysis: int | None = None      # the case's analysis the shown result is

    # -- video ---------------------------------------------------------------------------------------------
    def set_video(self, path: str, frame_count: int, fps: float, size: tuple[int, int]) -> None:
        self.video_path, self.frame_count, self.fps, self.size = path, max(0, frame_count), fps, size
        self.info = None
        self.image, self.image_index = None, -1
        self.frame_index = 0
        self.selection = []
        self._set_frames([])
        self.result, self.from_cache = None, False
        self.review = Review()
        self.case_item = self.case_analysis = None
        self.videoOpened.emit(path)
        self.infoChanged.emit(None)
        self.resultChanged.emit(None)
        self.frameChanged.emit(0)

    def set_info(self, info: VideoInfo) -> None:
        self.info = info
        if info.frame_count > 0:
            self.frame_count = info.frame_count
        self.fps = info.fps or self.fps
        self.infoChanged.emit(info)

    def set_frame(self, index: int) -> None:
        if self.frame_count <= 0:
            return
        index = int(min(max(0, index), self.frame_count - 1))
        if index != self.frame_index:
            self.frame_index = index
            self.frameChanged.emit(index)

    def set_image(self, index: int, image: np.ndarray) -> None:
        self.image, self.image_index = image, index
        self.imageChanged.emit(index, image)

    def set_preview(self, index: int, image: np.ndarray) -> None:
        """Show a preview (core.media.proxy: smaller, display only) of the current frame until its exact image comes.
        `image` stays the last exact frame: exports never use a preview."""
        if index == self.frame_index and self.image_index != index:
            self.previewChanged.emit(index, image)

    def time_of(self, index: int) -> float:
        fr = self._by_index.get(index)
        if fr is not None:
            return fr.time_s
        return index / self.fps if self.fps > 0 else 0.0

    # -- scores --------------------------------------------------------------------------------------------
    def _set_frames(self, frames: list[FrameResult]) -> None:
        self.frames = list(frames)
        self._by_index = {f.index: f for f in self.frames}
        self._sorted = sorted(self._by_index)
        self.framesReset.emit()

    def begin_scoring(self) -> None:
        self.result, self.from_cache = None, False
        self._set_frames([])
        self.resultChanged.emit(None)

    def add_frame(self, fr: FrameResult) -> None:
        self.frames.append(fr)
        self._by_index[fr.index] = fr
        bisect.insort(self._sorted, fr.index)
        self.frameScored.emit(fr)

    def set_result(self, result: AnalysisResult | None, from_cache: bool = False, review: Review | None = None) -> None:
        """`review`: the review to show with it (a case's), in place of the result's own."""
        self.result, self.from_cache = result, from_cache
        if result is not None:
            # the review lives in the result (saved and reported with it); keep flags made while it ran
            if review is not None:
                result.review = review
            elif self.review.flags or self.review.notes:
                result.review.flags |= self.review.flags
                result.review.notes.update(self.review.notes)
            self.review = result.review
            self.model_name = result.model.name
            self.modelChanged.emit()
        self._set_frames(result.frames if result is not None else [])
        self.resultChanged.emit(result)
        self.reviewChanged.emit(-1)

    def frame_result(self, index: int) -> FrameResult | None:
        return self._by_index.get(index)

    def scored_indices(self) -> list[int]:
        return list(self._sorted)

    def summary(self) -> Summary | None:
        if not self.frames:
            return None
        return summarize(self.frames, self.threshold)

    def set_threshold(self, t: float) -> None:
        t = float(min(1.0, max(0.0, t)))
        if abs(t - self.threshold) > 1e-9:
            self.threshold = t
            self.thresholdChanged.emit(t)

    def above(self, fr: FrameResult) -> bool:
        return fr.score is not None and fr.score >= self.threshold

    def next_above(self, index: int, direction: int) -> int | None:
        """The nearest scored frame after (direction +1) or before (-1) `index` at or above the threshold."""
        if direction > 0:
            seq = self._sorted[bisect.bisect_right(self._sorted, index):]
        else:
            seq = reversed(self._sorted[:bisect.bisect_left(self._sorted, index)])
        for i in seq:                   # from the nearest analysed frame on: asked on every move (loader hints)
            if self.above(self._by_index[i]):
                return i
        return None

    # -- case ------------------------------------------------------------------------------------------------
    def set_case(self, case) -> None:
        self.case, self.case_item, self.case_analysis = case, None, None
        self.caseChanged.emit()

    def set_review(self, review: Review) -> None:
        """Show another review of the current result (the case's, after an import)."""
        self.review = review
        if self.result is not None:
            self.result.review = review
        self.reviewChanged.emit(-1)

    def review_refused(self) -> str | None:
        """Why review actions are refused now (a case open read-only, or the open video's hash not known yet, so
        its item in the case is not known), or None."""
        if self.case is not None and not self.case.writable:
            return f"The case {self.case.path.name} is open read-only ({self.case.read_only_reason}): review " \
                   "actions are not recorded."
        if self.case is not None and self.video_path is not None and self.info is None:
            return "The SHA-256 of the video is still being computed: review actions are recorded in the case once " \
                   "it is known."
        return None

    # -- view options ----------------------------------------------------------------------------------------
    def set_overlay(self, name: str, on: bool) -> None:
        if self.overlays.get(name) != bool(on):
            self.overlays[name] = bool(on)
            self.overlaysChanged.emit()

    def set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busyChanged.emit(busy)

    def set_model(self, name: str, device: str) -> None:
        self.model_name, self.device_name = name, device
        self.modelChanged.emit()

    def info_msg(self, text: str) -> None:
        self.message.emit("info", text)

    def error(self, text: str) -> None:
        self.message.emit("error", text)

    def warning(self, text: str) -> None:
        self.message.emit("warning", text)
