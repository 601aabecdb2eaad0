"""Seek previews: a small, short-GOP copy of a video, so that a seek shows the target frame at once.

Seeking in a long-GOP file (cameras and streams: a keyframe every 2-10 s) decodes every frame from the keyframe
before the target: up to ~800 ms at 1080p on two cores. The app therefore builds, in the background and once per
file, a *proxy*: the same frames scaled so the longer side is `PROXY_SIDE` pixels and re-encoded with a keyframe
every `PROXY_GOP` frames (H.264, no B-frames), in chunks of `CHUNK` frames that become usable one by one. A seek
shows the proxy frame (a few milliseconds) while the exact frame decodes; the exact frame then replaces it. Proxy
frames are for display only: nothing is measured on them, exported from them or written into a report.

Frame i of the proxy is the i-th frame the decoder returns, in presentation order, as `core.media.video.VideoReader`
counts them; the rotation in the container's metadata is applied when a proxy frame is read (`ProxyReader.frame`),
so a preview has the displayed orientation. Files live in `<cache root>/proxies/<key>/` (see `core.common.cache_dir`);
the key hashes the file's absolute path, size and modification time, so an edited file gets a new proxy. Writes are
atomic (each chunk is written to a temporary name and renamed); `done.json` marks a complete proxy.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from fractions import Fraction
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from core.common.atomic import atomic_write_text
from core.common.cache_dir import default_root
from core.media.video import display_rotation

#: Longer side of a proxy frame, pixels.
PROXY_SIDE = 640
#: A keyframe every this many proxy frames: the most frames a preview decodes.
PROXY_GOP = 12
#: Frames per proxy chunk file.
CHUNK = 600
#: Proxy frame i (within its chunk) has presentation time i / 30 s, whatever the source's timing.
_RATE = 30
_TIME_BASE = Fraction(1, _RATE)
#: Proxies kept in the cache root, all files together: the least recently used go first beyond this.
KEEP_BYTES = 4 << 30
#: Bump when the proxy format changes: old proxies are then rebuilt.
PROXY_VERSION = 1


def proxy_dir(video_path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """The folder of this file's proxy: `<root or cache root>/proxies/<40 hex digits>`."""
    p = os.path.abspath(os.fspath(video_path))
    st = os.stat(p)
    key = hashlib.sha256(f"{PROXY_VERSION}\0{p}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:40]
    base = Path(root) if root is not None else default_root()
    return base / "proxies" / key


def proxy_size(width: int, height: int, side: int = PROXY_SIDE) -> tuple[int, int]:
    """(w, h) of proxy frames for a (width, height) source: the longer side `side` (never upscaled), both even."""
    s = min(1.0, side / max(width, height))
    return max(2, int(round(width * s / 2)) * 2), max(2, int(round(height * s / 2)) * 2)


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def prune(root: str | os.PathLike | None = None, keep_bytes: int = KEEP_BYTES, spare: Path | None = None) -> list[Path]:
    """Remove the least recently used proxies (by their newest file) until all of them together take at most
    `keep_bytes`; `spare` (the proxy in use) is never removed. Returns the folders removed."""
    import shutil

    base = (Path(root) if root is not None else default_root()) / "proxies"
    if not base.is_dir():
        return []
    folders = []
    for f in base.iterdir():
        if f.is_dir():
            try:
                folders.append((max((x.stat().st_mtime for x in f.iterdir()), default=0.0), _folder_bytes(f), f))
            except OSError:
                continue
    total = sum(b for _, b, _ in folders)
    removed = []
    for _, size, folder in sorted(folders, key=lambda t: t[0]):
        if total <= keep_bytes:
            break
        if spare is not None and folder.resolve() == Path(spare).resolve():
            continue
        shutil.rmtree(folder, ignore_errors=True)
        total -= size
        removed.append(folder)
    return removed


def keyframe_gaps(video_path: str | os.PathLike) -> tuple[int, int]:
    """(frames, longest run of frames from one keyframe to the next), from `core.media.container`'s packet-level scan
    (no decoding; ~0.3 s for 10 minutes of 1080p). A seek decodes up to that many frames."""
    from core.media.container import cached_scan, scan_media

    scan = cached_scan(video_path) or scan_media(video_path, decode_keyframes=False)   # probe_video's, when it ran
    n = len(scan.pts_s)
    bounds = sorted(set(scan.keyframes) | {0, n})
    return n, max((b - a for a, b in zip(bounds, bounds[1:])), default=0)


def worth_building(video_path: str | os.PathLike, min_gop: int = 60, min_frames: int = 600) -> bool:
    """Whether previews pay for this file: at least `min_frames` frames and a keyframe gap of at least `min_gop`
    frames (short files and short GOPs seek fast enough on their own). False when the file cannot be demuxed."""
    try:
        n, longest = keyframe_gaps(video_path)
    except Exception:  # noqa: BLE001 - any demux failure: no previews, the exact decoder reports the problem
        return False
    return n >= min_frames and longest >= min_gop


def _chunk_name(k: int) -> str:
    return f"chunk_{k:05d}.mp4"


@dataclass
class ProxyStatus:
    """frames: frames available as previews (from 0); total: the source's frame count when known (done), else -1."""

    frames: int
    total: int

    @property
    def complete(self) -> bool:
        return self.total >= 0 and self.frames >= self.total


def status(folder: Path) -> ProxyStatus:
    """How much of a proxy exists in `folder` (chunks are complete files: a chunk exists only when written)."""
    done = folder / "done.json"
    if done.is_file():
        try:
            n = int(json.loads(done.read_text())["frames"])
            return ProxyStatus(n, n)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    k = 0
    while (folder / _chunk_name(k)).is_file():
        k += 1
    return ProxyStatus(k * CHUNK, -1)


def build(video_path: str | os.PathLike, folder: Path, cancel: Callable[[], bool] = lambda: False,
          progress: Callable[[int], None] | None = None, side: int = PROXY_SIDE) -> ProxyStatus:
    """Build (or finish) the proxy of `video_path` in `folder`; returns its status. Chunks already there are kept
    (their frames are decoded again but not encoded). `cancel()` is checked between frames; a cancelled build leaves
    only whole chunks. Raises av.error.FFmpegError / OSError when the file cannot be read or the folder written."""
    import av

    src = os.fspath(video_path)
    folder.mkdir(parents=True, exist_ok=True)
    have = status(folder)
    if have.complete:
        return have
    rotation = display_rotation(src)
    with av.open(src) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        w, h = proxy_size(stream.codec_context.width, stream.codec_context.height, side)
        n = 0
        out = None
        out_stream = None
        tmp = None

        def finish_chunk():
            nonlocal out, out_stream, tmp
            for p in out_stream.encode():
                out.mux(p)
            out.close()
            os.replace(tmp, folder / _chunk_name((n - 1) // CHUNK))
            out = out_stream = tmp = None

        for frame in c.decode(stream):
            if cancel():
                if out is not None:
                    out.close()
                    os.unlink(tmp)
                return status(folder)
            k = n // CHUNK
            if n < have.frames:        # this chunk exists
                n += 1
                continue
            if out is None:
                tmp = folder / f".{_chunk_name(k)}.{os.getpid()}.{threading.get_ident()}.tmp"
                out = av.open(str(tmp), "w", format="mp4")
                out_stream = out.add_stream("libx264", rate=_RATE)
                out_stream.width, out_stream.height, out_stream.pix_fmt = w, h, "yuv420p"
                out_stream.options = {"preset": "ultrafast", "crf": "26", "g": str(PROXY_GOP),
                                      "keyint_min": str(PROXY_GOP), "sc_threshold": "0", "bf": "0"}
            small = frame.reformat(width=w, height=h, format="yuv420p")
            small.pts = n % CHUNK
            small.time_base = _TIME_BASE
            for p in out_stream.encode(small):
                out.mux(p)
            n += 1
            if n % CHUNK == 0:
                finish_chunk()
                if progress is not None:
                    progress(n)
        if out is not None:
            finish_chunk()
    atomic_write_text(folder / "done.json", json.dumps({"frames": n, "width": w, "height": h,
                                                        "rotation": rotation, "version": PROXY_VERSION}))
    if progress is not None:
        progress(n)
    return ProxyStatus(n, n)


class ProxyReader:
    """Proxy frames of one video: `frame(i)` -> (h, w, 3) uint8 BGR in the displayed orientation, or None when the
    proxy does not (yet) hold frame i. Not thread-safe: one reader per thread."""

    def __init__(self, folder: Path, rotation: int | None = None, video_path: str | None = None):
        self.folder = Path(folder)
        if rotation is None:
            rotation = display_rotation(video_path) if video_path else 0
        self.rotation = int(rotation) % 360
        self._chunk = -1
        self._container = None
        self._stream = None
        self._next = 0        # chunk-local index the open decoder returns next
        self._decoder = None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = self._stream = self._decoder = None
        self._chunk = -1

    def _open_chunk(self, k: int) -> bool:
        import av

        path = self.folder / _chunk_name(k)
        if not path.is_file():
            return False
        self.close()
        self._container = av.open(str(path))
        self._stream = self._container.streams.video[0]
        self._chunk = k
        self._decoder = None
        self._next = 0
        return True

    def _rotate(self, img: np.ndarray) -> np.ndarray:
        if self.rotation == 90:
            return cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
        if self.rotation == 180:
            return cv2.rotate(img, cv2.ROTATE_180)
        if self.rotation == 270:
            return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
        return img

    def frame(self, index: int) -> np.ndarray | None:
        k, local = divmod(int(index), CHUNK)
        if k != self._chunk and not self._open_chunk(k):
            return None
        if self._decoder is None or local < self._next or local - self._next >= PROXY_GOP:
            key = local - local % PROXY_GOP
            offset = int(round(Fraction(key, _RATE) / self._stream.time_base))
            self._container.seek(offset, stream=self._stream, backward=True, any_frame=False)
            self._decoder = self._container.decode(self._stream)
            self._next = -1          # known after the first frame (its pts)
        for f in self._decoder:
            pos = int(round(f.time * _RATE))
            self._next = pos + 1
            if pos == local:
                return self._rotate(f.to_ndarray(format="bgr24"))
            if pos > local:
                break
        self._decoder = None
        return None
