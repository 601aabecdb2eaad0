"""What the container says about a video, read with PyAV (FFmpeg's demuxer) without decoding every frame.

OpenCV (`core.media.video`) stays the frame decoder; this module adds what OpenCV does not expose: the presentation
time of every frame (packet pts, so variable frame rates are seen), the keyframe index for seeking, pixel format
and bit depth, interlacing, audio-only files, and resolution changes mid-stream (only keyframes are decoded:
a new size starts at a keyframe; intra-only streams with thousands of keyframes are sampled once a second). No
OpenCV here. `AVFrames` decodes a file's frames with PyAV, each at its own
size, for the one case OpenCV gets wrong (it rescales every frame to the first frame's size).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from core.common.errors import VideoError

#: A frame rate counts as variable when frame intervals spread by more than this many seconds and 5% of the median
#: (a 29.97 fps stream in a millisecond time base alternates 33/34 ms: that is constant).
VFR_TOLERANCE_S = 0.0015
#: Up to this many keyframes are all decoded to look for size changes; beyond (intra-only codecs), one a second.
MAX_DECODED_KEYFRAMES = 2000

_FIELD_ORDERS = {1: "progressive", 2: "top field first", 3: "bottom field first", 4: "top coded, bottom first",
                 5: "bottom coded, top first"}


@dataclass
class MediaScan:
    """One pass over a file's video packets. `pts_s`: presentation times of the frames in display order, seconds
    from the first; `keyframes`: frame indices (display order) of keyframes; `size_changes`: [(frame index,
    width, height)] of each keyframe whose coded size differs from the one before (the first entry is frame 0);
    `demux_error`: what the demuxer said when it stopped early (a damaged or truncated file); `keyframes_decoded`:
    how many keyframes were decoded to see their size (all of them, or one a second past MAX_DECODED_KEYFRAMES:
    a change is then placed at the first decoded keyframe with the new size)."""

    format_name: str
    codec: str
    pixel_format: str | None = None
    bit_depth: int | None = None
    interlaced: bool | None = None
    field_order: str | None = None
    pts_s: list[float] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)
    size_changes: list[tuple[int, int, int]] = field(default_factory=list)
    audio_codecs: list[str] = field(default_factory=list)
    demux_error: str | None = None
    keyframes_decoded: int = 0

    @property
    def frame_intervals(self) -> np.ndarray:
        return np.diff(np.asarray(self.pts_s, dtype=np.float64))

    @property
    def variable_frame_rate(self) -> bool:
        d = self.frame_intervals
        if len(d) < 2:
            return False
        return float(d.max() - d.min()) > max(VFR_TOLERANCE_S, 0.05 * float(np.median(d)))

    @property
    def resolution_changes(self) -> list[tuple[int, int, int]]:
        """The size changes after frame 0 (empty when every frame has one size)."""
        return self.size_changes[1:]

    def record(self) -> dict:
        """The facts for `VideoInfo.extra` (JSON-friendly)."""
        out: dict = {"demuxer": self.format_name, "codec_name": self.codec}
        if self.pixel_format:
            out["pixel_format"] = self.pixel_format
        if self.bit_depth:
            out["bit_depth"] = self.bit_depth
        if self.interlaced is not None:
            out["interlaced"] = self.interlaced
        if self.field_order:
            out["field_order"] = self.field_order
        d = self.frame_intervals
        if len(d):
            out["variable_frame_rate"] = self.variable_frame_rate
            out["frame_interval_ms"] = {"min": round(float(d.min()) * 1000, 3),
                                        "median": round(float(np.median(d)) * 1000, 3),
                                        "max": round(float(d.max()) * 1000, 3)}
        out["keyframe_count"] = len(self.keyframes)
        if self.keyframes_decoded and self.keyframes_decoded < len(self.keyframes):
            out["size_check"] = f"{self.keyframes_decoded} of {len(self.keyframes)} keyframes decoded (one a second)"
        if self.resolution_changes:
            out["resolution_changes"] = [{"frame": i, "width": w, "height": h} for i, w, h in self.size_changes]
        if self.audio_codecs:
            out["audio"] = list(self.audio_codecs)
        if self.demux_error:
            out["demux_error"] = self.demux_error
        return out


def _bit_depth(pix_fmt: str | None) -> int | None:
    if not pix_fmt:
        return None
    import av

    try:
        comps = av.VideoFormat(pix_fmt).components
        return max(c.bits for c in comps) if comps else None
    except Exception:
        return None


def _open(path: str):
    import av

    try:
        return av.open(path, metadata_errors="ignore")
    except av.FFmpegError as e:
        raise VideoError(path, f"not a readable video (FFmpeg: {e.strerror or e})") from None


def scan_media(path: str | os.PathLike, decode_keyframes: bool = True) -> MediaScan:
    """Demux the first video stream's packets (no full decode). `decode_keyframes` also decodes the keyframes
    (only them) to find size changes and interlacing. VideoError naming the file when it holds no video stream."""
    import av

    path = os.fspath(path)
    with _open(path) as c:
        audio = [s.codec_context.name for s in c.streams.audio]
        if not c.streams.video:
            if audio:
                raise VideoError(path, f"has no video stream (audio only: {', '.join(audio)})")
            if len(c.streams):
                raise VideoError(path, f"has no video stream (only {', '.join(sorted({s.type for s in c.streams}))})")
            raise VideoError(path, "contains no video frames (no streams)")
        s = c.streams.video[0]
        cc = s.codec_context
        pix_fmt = cc.pix_fmt
        scan = MediaScan(format_name=c.format.name, codec=cc.name, pixel_format=pix_fmt, bit_depth=_bit_depth(pix_fmt),
                         audio_codecs=audio)
        if cc.field_order in _FIELD_ORDERS:
            scan.field_order = _FIELD_ORDERS[cc.field_order]
            scan.interlaced = cc.field_order > 1
        pts: list[int] = []
        key_pts: list[int] = []
        tb = s.time_base
        try:
            for p in c.demux(s):
                if p.size == 0:
                    continue
                t = p.pts if p.pts is not None else p.dts
                if t is None:
                    continue
                pts.append(t)
                if p.is_keyframe:
                    key_pts.append(t)
        except av.FFmpegError as e:
            scan.demux_error = str(e.strerror or e)
    sizes: list[tuple[int, int, int]] = []  # (pts, w, h) of decoded keyframes
    if decode_keyframes and key_pts:
        chosen = _keyframes_to_decode(key_pts, tb)
        scan.keyframes_decoded = len(chosen)
        _decode_keyframes(path, chosen, scan, sizes)
    order = sorted(set(pts))
    if order:
        t0 = order[0]
        scan.pts_s = [float((t - t0) * tb) for t in order]
        rank = {t: i for i, t in enumerate(order)}
        scan.keyframes = sorted({rank[t] for t in key_pts})
        last = None
        for t, w, h in sorted(sizes):
            if (w, h) != last and t in rank:
                scan.size_changes.append((rank[t], w, h))
                last = (w, h)
    return scan


def _keyframes_to_decode(key_pts: list[int], tb) -> set[int]:
    """Every keyframe, unless there are more than MAX_DECODED_KEYFRAMES (an intra-only stream such as MJPEG or
    ProRes, where every frame is one): then the first, the last and one a second."""
    if len(key_pts) <= MAX_DECODED_KEYFRAMES:
        return set(key_pts)
    chosen, last = set(), None
    for t in sorted(key_pts):
        if last is None or float((t - last) * tb) >= 1.0:
            chosen.add(t)
            last = t
    chosen.add(max(key_pts))
    return chosen


def _decode_keyframes(path: str, chosen: set[int], scan: MediaScan, sizes: list) -> None:
    """Second pass: decode only the `chosen` keyframes (by pts) for their size and interlacing."""
    import av

    with _open(path) as c:
        s = c.streams.video[0]
        s.codec_context.skip_frame = "NONKEY"
        s.codec_context.thread_type = "AUTO"
        try:
            for p in c.demux(s):
                t = p.pts if p.pts is not None else p.dts
                if p.size and p.is_keyframe and t in chosen:
                    for f in s.decode(p):
                        _note_frame(scan, sizes, f)
            for f in s.decode(None):
                _note_frame(scan, sizes, f)
        except av.FFmpegError:
            pass


def _note_frame(scan: MediaScan, sizes: list, f) -> None:
    if f.pts is not None:
        sizes.append((f.pts, f.width, f.height))
    if scan.interlaced is None or (f.interlaced_frame and not scan.interlaced):
        scan.interlaced = bool(f.interlaced_frame)
    if f.format is not None and f.format.name and not scan.pixel_format:
        scan.pixel_format, scan.bit_depth = f.format.name, _bit_depth(f.format.name)


def keyframe_index(path: str | os.PathLike) -> list[int]:
    """Frame indices (0-based, display order, as `core.media.video.VideoReader` counts them) of the keyframes: where a
    seek lands without decoding from an earlier frame. Packet-level demux only; fast."""
    return scan_media(path, decode_keyframes=False).keyframes


# ------------------------------------------------------------------ a small cache, so readers reuse probe's scan
_LOCK = threading.Lock()
_CACHE: "OrderedDict[tuple, MediaScan]" = OrderedDict()
_CACHE_SIZE = 8


def _key(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns)


def remember(path: str | os.PathLike, scan: MediaScan) -> None:
    key = _key(os.fspath(path))
    if key is None:
        return
    with _LOCK:
        _CACHE[key] = scan
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


def cached_scan(path: str | os.PathLike) -> MediaScan | None:
    """The scan `core.media.video.probe_video` made of this file (same size and modification time), else None."""
    key = _key(os.fspath(path))
    with _LOCK:
        return _CACHE.get(key) if key else None


# ------------------------------------------------------------------ frames at their own size
class AVFrames:
    """Decode a file's frames with PyAV as BGR uint8, each at its own coded size, display rotation applied:
    (index, time_s, image) in display order. Used by `core.media.video.VideoReader` for files whose resolution
    changes mid-stream."""

    def __init__(self, path: str | os.PathLike, pts_s: list[float] | None = None):
        self.path = os.fspath(path)
        self.pts_s = pts_s

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        import av

        with _open(self.path) as c:
            s = c.streams.video[0]
            s.codec_context.thread_type = "AUTO"
            t0 = None
            try:
                for i, f in enumerate(c.decode(s)):
                    if self.pts_s is not None and i < len(self.pts_s):
                        t = self.pts_s[i]
                    else:
                        t0 = f.time if t0 is None and f.time is not None else t0
                        t = float(f.time - t0) if f.time is not None and t0 is not None else float("nan")
                    img = f.to_ndarray(format="bgr24")
                    rot = int(getattr(f, "rotation", 0) or 0) % 360  # counter-clockwise degrees
                    if rot:
                        img = np.ascontiguousarray(np.rot90(img, k=rot // 90))
                    yield i, t, img
            except av.FFmpegError:
                return
