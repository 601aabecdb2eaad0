"""Work that must not run on the UI thread: the analysis, frame decoding, hashing and export.

- `TaskWorker(fn)`: a QThread running one function; `succeeded(result)` or `failed(message)` (one line).
- `AnalysisWorker`: loads the model (or reuses it), runs `core.analysis.runner.analyze_cached` and forwards each scored
  frame with `frameDone(done, total, FrameResult)`; `cancel()` stops it between frames (a partial result comes back
  with complete=False and is never cached).
- `FrameLoader`: decodes frames on demand in one thread with a small LRU cache. Only the latest request matters:
  a request made while another is decoding replaces the waiting one, and a long decode stops early when a newer
  request arrives (after SLEAP's video widget). Near targets are decoded forward from the current position; a step
  back decodes a short run before the target so that further steps back come from the cache. `hint(indices)` names
  frames likely to be asked for next (the next and previous suspicious frames): decoded while nothing else is asked.
  On long-GOP files a `core.media.proxy` preview is built in the background (low priority) and a second thread answers
  each request with `previewReady(index, small image)` within milliseconds, before the exact frame arrives.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from core.media import proxy
from core.common.errors import CaddmError
from core.media.video import VideoReader


def error_text(e: BaseException) -> str:
    """One line for the message bar: a CaddmError as it is, anything else with its type."""
    if isinstance(e, CaddmError):
        return str(e)
    if isinstance(e, OSError):
        return f"{getattr(e, 'filename', '') or ''}: {e.strerror or e}".lstrip(": ")
    return f"{type(e).__name__}: {e}"


class TaskWorker(QThread):
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[], object], name: str = "task", parent=None):
        super().__init__(parent)
        self.fn = fn
        self.setObjectName(name)

    def run(self) -> None:
        try:
            out = self.fn()
        except BaseException as e:  # noqa: BLE001 - reported in the window, the app keeps running
            self.failed.emit(error_text(e))
            return
        self.succeeded.emit(out)


class AnalysisWorker(QThread):
    modelReady = Signal(str, str)           # model name, device description
    frameDone = Signal(int, int, object)    # done, total, FrameResult
    succeeded = Signal(object, bool)        # AnalysisResult (complete or not), from cache
    failed = Signal(str)

    def __init__(self, run: Callable, parent=None):
        """`run(progress, cancel, model_ready) -> (result, from_cache)` does the work (see Commands.analyse)."""
        super().__init__(parent)
        self._run = run
        self._cancel = threading.Event()
        self.setObjectName("analysis")

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            result, cached = self._run(lambda d, t, fr: self.frameDone.emit(d, t, fr), self._cancel.is_set,
                                       self.modelReady.emit)
        except BaseException as e:  # noqa: BLE001
            self.failed.emit(error_text(e))
            return
        self.succeeded.emit(result, cached)


class _LRU:
    """Decoded frames by index, bounded by total bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.items: OrderedDict[int, np.ndarray] = OrderedDict()
        self.nbytes = 0

    def get(self, index: int) -> np.ndarray | None:
        img = self.items.get(index)
        if img is not None:
            self.items.move_to_end(index)
        return img

    def put(self, index: int, img: np.ndarray) -> None:
        if index in self.items:
            self.items.move_to_end(index)
            return
        self.items[index] = img
        self.nbytes += img.nbytes
        while self.nbytes > self.max_bytes and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.nbytes -= old.nbytes

    def clear(self) -> None:
        self.items.clear()
        self.nbytes = 0


def _lower_priority() -> None:
    """Run the calling thread (and the decoder threads it starts) at a low CPU priority, where the OS allows it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


class _Previews:
    """The preview side of a FrameLoader: builds the proxy of the open file in one low-priority thread and answers
    requests from it in another (latest request wins). See `core.media.proxy`."""

    def __init__(self, loader: "FrameLoader", root: Path | None, min_gop: int, min_frames: int):
        self.loader, self.root, self.min_gop, self.min_frames = loader, root, min_gop, min_frames
        self._cond = threading.Condition()
        self._pending: tuple[int, int] | None = None   # (generation, index)
        self._generation = 0
        self._path: str | None = None
        self._folder: Path | None = None              # the open file's proxy folder, once worth building
        self._stop = False
        self.built = 0                                # frames in the proxy (for tests and diagnostics)
        self._threads = [threading.Thread(target=self._serve, name="caddm-previews", daemon=True),
                         threading.Thread(target=self._build_loop, name="caddm-proxy-build", daemon=True)]
        for t in self._threads:
            t.start()

    def open(self, path: str) -> None:
        with self._cond:
            self._generation += 1
            self._path, self._folder, self._pending, self.built = path, None, None, 0
            self._cond.notify_all()

    def request(self, index: int) -> None:
        with self._cond:
            self._pending = (self._generation, int(index))
            self._cond.notify_all()

    def close(self, timeout: float) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)

    def _cancelled(self, gen: int) -> bool:
        return self._stop or gen != self._generation

    def _build_loop(self) -> None:
        _lower_priority()
        done_gen = -1
        while True:
            with self._cond:
                while not self._stop and (self._path is None or done_gen == self._generation):
                    self._cond.wait()
                if self._stop:
                    return
                gen, path = self._generation, self._path
            done_gen = gen
            try:
                if not proxy.worth_building(path, self.min_gop, self.min_frames):
                    continue
                folder = proxy.proxy_dir(path, self.root)
                proxy.prune(self.root, spare=folder)
                with self._cond:
                    if gen == self._generation:
                        self._folder = folder

                def progress(n: int, gen=gen) -> None:
                    if gen == self._generation:
                        self.built = n

                proxy.build(path, folder, cancel=lambda gen=gen: self._cancelled(gen), progress=progress)
            except Exception:  # noqa: BLE001 - previews are a convenience: exact frames still come
                continue

    def _serve(self) -> None:
        reader, reader_gen = None, -1
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    break
                (gen, index), self._pending = self._pending, None
                folder, path = self._folder, self._path
            if gen != self._generation or folder is None or self.loader.cached(index) is not None:
                continue
            try:
                if reader is None or reader_gen != gen:
                    if reader is not None:
                        reader.close()
                    reader, reader_gen = proxy.ProxyReader(folder, video_path=path), gen
                img = reader.frame(index)
            except Exception:  # noqa: BLE001 - a damaged or half-written proxy: no preview, the exact frame comes
                reader, reader_gen, img = None, -1, None
            if img is not None and gen == self._generation and self.loader.cached(index) is None:
                self.loader.previewReady.emit(index, img)
        if reader is not None:
            reader.close()


class FrameLoader(QObject):
    frameReady = Signal(int, object)     # index, BGR uint8 (H, W, 3)
    previewReady = Signal(int, object)   # index, BGR uint8 (h, w, 3): the proxy's frame, smaller than the video's
    failed = Signal(int, str)

    FORWARD_RUN = 12     # targets this close ahead are decoded frame by frame into the cache
    BACK_RUN = 12        # a step back decodes this many frames before the target
    SEEK_GAP = 90        # further ahead than this: seek instead of decoding forward

    def __init__(self, cache_bytes: int = 256 << 20, previews: bool = True, proxy_root: str | os.PathLike | None = None,
                 proxy_min_gop: int = 60, proxy_min_frames: int = 600, parent=None):
        """previews: build and show `core.media.proxy` previews for files with keyframe gaps of at least `proxy_min_gop`
        frames and at least `proxy_min_frames` frames; proxy_root: the cache root (None: core.common.cache_dir's
        default)."""
        super().__init__(parent)
        self._cond = threading.Condition()
        self._path: str | None = None
        self._pending: tuple[int, int] | None = None   # (generation, index)
        self._hints: list[int] = []
        self._generation = 0
        self._stop = False
        self._cache = _LRU(cache_bytes)
        self._reader: VideoReader | None = None
        self._reader_gen = -1
        self._pos = 0          # index the reader decodes next
        self.decoded = 0       # frames decoded (for tests and diagnostics)
        self._previews = (_Previews(self, None if proxy_root is None else Path(proxy_root), proxy_min_gop,
                                    proxy_min_frames) if previews else None)
        self._thread = threading.Thread(target=self._loop, name="caddm-frames", daemon=True)
        self._thread.start()

    @property
    def preview_frames(self) -> int:
        """Frames of the open file available as previews so far (0: none, or not worth building)."""
        return self._previews.built if self._previews is not None else 0

    # -- UI thread -------------------------------------------------------------------------------------------
    def open(self, path: str) -> None:
        with self._cond:
            self._path = path
            self._generation += 1
            self._pending = None
            self._hints = []
            self._cond.notify()
        if self._previews is not None:
            self._previews.open(path)

    def request(self, index: int) -> None:
        with self._cond:
            self._pending = (self._generation, int(index))
            self._cond.notify()
        if self._previews is not None:
            self._previews.request(index)

    def hint(self, indices) -> None:
        """Frames likely to be requested next (nearest first): decoded into the cache while no request waits."""
        with self._cond:
            self._hints = [int(i) for i in indices if i is not None and int(i) >= 0]
            self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._previews is not None:
            self._previews.close(timeout)

    def cached(self, index: int) -> np.ndarray | None:
        with self._cond:
            return self._cache.items.get(index)

    # -- loader thread ---------------------------------------------------------------------------------------
    def _newer(self, gen: int, index: int) -> bool:
        p = self._pending
        return self._stop or (p is not None and p != (gen, index)) or gen != self._generation

    def _next_hint(self) -> int | None:
        """(under the lock) The first hinted frame not yet in the cache, dropping those that are."""
        while self._hints and self._hints[0] in self._cache.items:
            self._hints.pop(0)
        return self._hints.pop(0) if self._hints else None

    def _loop(self) -> None:
        while True:
            with self._cond:
                hinted = None
                while self._pending is None and not self._stop:
                    hinted = self._next_hint() if self._path is not None and self._reader_gen == self._generation \
                        else None
                    if hinted is not None:
                        break
                    self._cond.wait()
                if self._stop:
                    break
                if hinted is not None:
                    gen, index = self._generation, hinted
                else:
                    gen, index = self._pending
                    self._pending = None
                path = self._path
                if gen != self._generation:
                    continue
                if self._reader_gen != gen:
                    self._cache.clear()
                img = self._cache.get(index)
            if img is None:
                try:
                    img = self._decode(gen, path, index)
                except BaseException as e:  # noqa: BLE001
                    if hinted is None:
                        self.failed.emit(index, error_text(e))
                    self._drop_reader()
                    continue
            if img is not None and gen == self._generation and hinted is None:
                self.frameReady.emit(index, img)
        self._drop_reader()

    def _drop_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader, self._reader_gen, self._pos = None, -1, 0

    def _store(self, index: int, img: np.ndarray) -> None:
        with self._cond:
            self._cache.put(index, img)
        self._pos = index + 1
        self.decoded += 1

    def _decode(self, gen: int, path: str, index: int) -> np.ndarray | None:
        if self._reader is None or self._reader_gen != gen:
            self._drop_reader()
            self._reader, self._reader_gen, self._pos = VideoReader(path, seek_gap=self.SEEK_GAP), gen, 0
        r = self._reader
        if 0 <= index - self._pos <= self.FORWARD_RUN:
            start = self._pos                          # near ahead: decode forward, keep each frame
        elif index < self._pos:
            start = max(0, index - self.BACK_RUN)      # back: seek a little earlier and fill the cache
            with self._cond:
                while start < index and start in self._cache.items:
                    start += 1
        else:
            start = index                              # far ahead: grab through or seek (VideoReader decides)
        img = None
        for frame in r.frames(range(start, index + 1)):
            self._store(frame.index, frame.image)
            img = frame.image
            if frame.index != index and self._newer(gen, index):
                return None                            # a newer request (or another frame asked during a hint)
        return img


def elapsed_and_remaining(start: float, done: int, total: int) -> tuple[float, float]:
    elapsed = time.perf_counter() - start
    if done <= 0 or total <= 0:
        return elapsed, -1.0
    return elapsed, elapsed / done * max(0, total - done)
