"""Reading evidence video: metadata (hash, codec, fps, ...), streamed frame decoding with index and timestamp.

The evidence file is opened read-only and never modified. Frames are BGR uint8 (H, W, 3) as OpenCV decodes them,
rotation metadata applied (asked for explicitly), so width/height are the displayed size. Frame indices count
decodable frames from 0; a frame's time is its presentation time in seconds from the container when that is
sane, else index / fps. The record of a file (`VideoInfo`) lives in `core.media.evidence`, free of OpenCV.

OpenCV decodes; `core.media.container` (PyAV, packet level) adds what OpenCV does not tell: every frame's pts (variable
frame rate), keyframes, pixel format and bit depth, interlacing, audio-only files and resolution changes. For a
file whose resolution changes mid-stream OpenCV silently rescales every frame to the first size, so
`VideoReader` decodes such a file with PyAV instead (each frame at its own size). Truncated files are read to
their last decodable frame and recorded as truncated (`VideoInfo.extra["truncated"]`).
"""
from __future__ import annotations

import bisect
import math
import os
import struct
from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np

from core.common.errors import VideoError
from core.media.evidence import CONTAINER_BY_EXTENSION, VideoInfo
from core.common.hashing import sha256_file
from core.media.container import AVFrames, MediaScan, cached_scan, keyframe_index, remember, scan_media

__all__ = ["Frame", "VideoReader", "display_rotation", "frame_count", "keyframe_index", "probe_video", "quick_probe"]

#: Forward gaps up to this many frames are decoded through with grab(); larger gaps seek.
DEFAULT_SEEK_GAP = 120


@dataclass
class Frame:
    """One decoded frame: index (0-based decode order), time_s (seconds), image (H, W, 3) uint8 BGR."""

    index: int
    time_s: float
    image: np.ndarray


def _sniff_container(path: str) -> str | None:
    """Container name from the file's first bytes, or None when they say nothing known."""
    with open(path, "rb") as f:
        head = f.read(400)
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        if brand.startswith(b"3g"):
            return "3gp"
        return "mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x30\x26\xb2\x75":
        return "asf"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    return None


def _container(path: str) -> str:
    sniffed = _sniff_container(path)
    if sniffed:
        return sniffed
    return CONTAINER_BY_EXTENSION.get(os.path.splitext(path)[1].lower(), "unknown")


def _isobmff_problem(path: str) -> str | None:
    """For MP4/MOV files: a description of structural damage (truncation, no index, no tracks), else None."""
    size = os.path.getsize(path)
    boxes = []
    with open(path, "rb") as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            hdr = f.read(16)
            n, kind = struct.unpack(">I4s", hdr[:8])
            if n == 1 and len(hdr) >= 16:
                n = struct.unpack(">Q", hdr[8:16])[0]
            elif n == 0:
                n = size - pos
            if n < 8:
                return f"damaged MP4 structure (box of size {n} at byte {pos})"
            name = kind.decode("latin-1")
            if pos + n > size:
                return f"truncated: the '{name}' box needs {pos + n} bytes but the file has {size}"
            boxes.append((name, pos, n))
            pos += n
        names = [b[0] for b in boxes]
        if "moov" not in names:
            return "truncated or damaged: no 'moov' index box"
        _, mpos, mlen = boxes[names.index("moov")]
        f.seek(mpos)
        moov = f.read(mlen)
    if b"trak" not in moov:
        return "contains no video frames (no tracks)"
    return None


def _ebml_vint(data: bytes, pos: int, strip_marker: bool) -> tuple[int, int]:
    """(value, length) of the EBML variable-length integer at data[pos]."""
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("bad EBML integer")
    value = first & ((0xFF >> length) if strip_marker else 0xFF)
    for b in data[pos + 1:pos + length]:
        value = (value << 8) | b
    return value, length


def _matroska_problem(path: str) -> str | None:
    """For Matroska/WebM: 'truncated: ...' when the Segment's declared size runs past the end of the file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(4096)
    try:
        _, n = _ebml_vint(head, 0, False)  # EBML header ID
        hsize, m = _ebml_vint(head, n, True)
        pos = n + m + hsize
        seg_id, n = _ebml_vint(head, pos, False)
        if seg_id != 0x18538067:
            return None
        seg_size, m = _ebml_vint(head, pos + n, True)
    except (ValueError, IndexError):
        return None
    if seg_size == (1 << (7 * m)) - 1:  # "unknown size" (a live stream): nothing to compare
        return None
    end = pos + n + m + seg_size
    if end > size:
        return f"truncated: the Matroska segment needs {end} bytes but the file has {size}"
    return None


def _truncation(path: str, container: str, isobmff_problem: str | None) -> str | None:
    """Why the file looks cut short (container structure only), else None. `isobmff_problem`: `_isobmff_problem`
    of an MP4/MOV/3GP file, already read."""
    if container in ("mp4", "mov", "3gp"):
        problem = isobmff_problem
        return problem if problem and problem.startswith("truncated") else None
    if container in ("matroska", "webm"):
        return _matroska_problem(path)
    if container == "mpegts":
        size = os.path.getsize(path)
        packet = 192 if path.lower().endswith(".m2ts") else 188
        if size % packet:
            return f"truncated: the file ends inside a transport packet ({size} bytes, not a multiple of {packet})"
    return None


def _scan(path: str) -> tuple[MediaScan | None, str | None]:
    """PyAV's scan of the file (remembered for readers), or (None, why not). VideoError when it has no video."""
    try:
        scan = scan_media(path)
    except VideoError as e:
        if "no video stream" in str(e):
            raise
        return None, str(e)
    except Exception as e:  # PyAV missing or confused: OpenCV's view still stands
        return None, f"{type(e).__name__}: {e}"
    remember(path, scan)
    return scan, None


def _fourcc(cap: cv2.VideoCapture) -> str:
    v = int(cap.get(cv2.CAP_PROP_FOURCC))
    if v <= 0:
        return "unknown"
    s = "".join(chr((v >> (8 * i)) & 0xFF) for i in range(4))
    return s.strip("\x00 ").strip() if s.isprintable() else f"0x{v:08x}"


def _rotation(cap: cv2.VideoCapture) -> int:
    """The container's display rotation in degrees (0, 90, 180, 270), as OpenCV reads and applies it."""
    r = cap.get(cv2.CAP_PROP_ORIENTATION_META) if hasattr(cv2, "CAP_PROP_ORIENTATION_META") else 0.0
    return int(round(r)) % 360 if math.isfinite(r) else 0


def display_rotation(path: str | os.PathLike) -> int:
    """`VideoInfo.rotation` without probing the whole file: the display rotation OpenCV applies to its frames."""
    cap = _open_capture(os.fspath(path))
    try:
        return _rotation(cap)
    finally:
        cap.release()


def _check_path(path: str) -> None:
    if not os.path.exists(path):
        raise VideoError(path, "file not found")
    if os.path.isdir(path):
        raise VideoError(path, "is a directory, not a video file")
    if not os.access(path, os.R_OK):
        raise VideoError(path, "permission denied")
    if os.path.getsize(path) == 0:
        raise VideoError(path, "not a readable video (the file is empty)")


def _open_capture(path: str) -> cv2.VideoCapture:
    """Open with OpenCV's FFmpeg backend; a VideoError naming the file when that fails."""
    _check_path(path)
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise VideoError(path, _unreadable_reason(path))
    if hasattr(cv2, "CAP_PROP_ORIENTATION_AUTO"):
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # the default; said here because the record relies on it
    return cap


def _unreadable_reason(path: str) -> str:
    try:
        scan_media(path, decode_keyframes=False)
    except VideoError as e:
        if "no video stream" in str(e):
            return str(e).split(": ", 1)[-1]
    except Exception:
        pass
    container = _sniff_container(path)
    if container in ("mp4", "mov", "3gp"):
        problem = _isobmff_problem(path)
        if problem and "no video frames" in problem:
            return problem
        return f"not a readable video ({problem or 'OpenCV cannot decode this MP4'})"
    if container is None:
        return "not a readable video (not a recognised video container)"
    return f"not a readable video (OpenCV cannot open this {container} file)"


def _count_by_decoding(path: str) -> int:
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        n = 0
        while cap.grab():
            n += 1
        return n
    finally:
        cap.release()


def _verified_frame_count(path: str, cap: cv2.VideoCapture, reported: int) -> tuple[int, str]:
    """(count, how): trust the container's count when frame count-1 decodes and frame count does not."""
    if reported > 0:
        try:
            if cap.set(cv2.CAP_PROP_POS_FRAMES, reported - 1) and cap.grab() and not cap.grab():
                return reported, "container (verified)"
        except cv2.error:
            pass
    return _count_by_decoding(path), "counted"


def _first_frame(path: str, cap: cv2.VideoCapture) -> np.ndarray:
    """The first decoded frame; VideoError naming the file (and any MP4 damage) when there is none."""
    ok, first = cap.read()
    if not ok or first is None:
        problem = _isobmff_problem(path) if _sniff_container(path) in ("mp4", "mov", "3gp") else None
        raise VideoError(path, f"contains no decodable video frames{f' ({problem})' if problem else ''}")
    return first


def frame_count(path: str | os.PathLike) -> int:
    """The number of decodable frames, verified as `probe_video` does, without hashing the file: for work that
    only needs to pick frames (data preparation). VideoError naming the file when it is not a readable video."""
    path = os.fspath(path)
    cap = _open_capture(path)
    try:
        _first_frame(path, cap)
        count, _ = _verified_frame_count(path, cap, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    finally:
        cap.release()
    if count <= 0:
        raise VideoError(path, "contains no decodable video frames")
    return count


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Metadata of a video file, read-only. Raises VideoError (one line naming the file) when it is not a
    readable video: missing, a directory, not a video, truncated or damaged, or without any frame."""
    path = os.fspath(path)
    _check_path(path)
    scan, scan_error = _scan(path)
    cap = _open_capture(path)
    try:
        height, width = _first_frame(path, cap).shape[:2]
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        codec = _fourcc(cap)
        rotation = _rotation(cap)
        reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        backend = cap.getBackendName()
        count, how = _verified_frame_count(path, cap, reported)
    finally:
        cap.release()
    if count <= 0:
        raise VideoError(path, "contains no decodable video frames")
    extra = {"reported_frame_count": reported, "frame_count_source": how, "backend": backend,
             "rotation_applied": rotation}
    if not (math.isfinite(fps) and fps > 0):
        extra["fps_missing"] = True
        fps = 0.0
    container = _container(path)
    problem = _isobmff_problem(path) if _sniff_container(path) in ("mp4", "mov", "3gp") else None
    if problem:
        extra["container_problem"] = problem
    truncated = _truncation(path, container, problem)
    if truncated:
        extra["truncated"] = truncated
    duration = count / fps if fps > 0 else 0.0
    if scan is not None:
        extra.update(scan.record())
        if scan.variable_frame_rate and len(scan.pts_s) == count:
            # the last frame lasts as long as the median interval; count / average fps says less of a VFR file
            duration = scan.pts_s[-1] + float(np.median(scan.frame_intervals))
    else:
        extra["media_scan_error"] = scan_error
    st = os.stat(path)
    return VideoInfo(path=os.path.abspath(path), sha256=sha256_file(path), size_bytes=st.st_size,
                     container=container, codec=codec, width=int(width), height=int(height), fps=fps,
                     frame_count=int(count), duration_s=float(duration), rotation=rotation, extra=extra)


def quick_probe(path: str | os.PathLike) -> tuple[int, float, tuple[int, int]]:
    """(frame count as the container says (at least 1), fps (0.0 when unknown), (width, height) px), in
    milliseconds and without hashing: for showing a video at once. `probe_video` gives the verified record.
    VideoError naming the file when it is not a readable video."""
    path = os.fspath(path)
    cap = _open_capture(path)
    try:
        ok, first = cap.read()
        if not ok or first is None:
            raise VideoError(path, "contains no decodable video frames")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()
    h, w = first.shape[:2]
    return max(n, 1), (fps if math.isfinite(fps) and fps > 0 else 0.0), (int(w), int(h))


class VideoReader:
    """Streamed, read-only frame access. Use as a context manager::

        with VideoReader(path) as r:
            for frame in r.frames([0, 10, 20]):   # increasing order; never all frames in memory
                ...
            img = r.read_frame(5)                 # random access (seeks)

    `frames` decodes forward, grabbing (not converting) skipped frames, and seeks only across gaps larger
    than `seek_gap` frames. Times come from the decoder's timestamp (CAP_PROP_POS_MSEC) when it is finite,
    non-negative and increasing (and within the container's timestamps when `probe_video` scanned the file in
    this process, else within the nominal timeline), else from the container's pts for that frame, else
    index / fps.

    When `probe_video` found that the resolution changes mid-stream, OpenCV would rescale every frame to the first
    size; the reader then decodes with PyAV (`core.media.container.AVFrames`), each frame at its own size
    (`self.backend` says which). A reader opened before the probe (the app shows a frame while it probes) takes the
    probe's scan up when its next `frames()` or `read_frame()` call starts, and switches then.
    """

    def __init__(self, path: str | os.PathLike, seek_gap: int = DEFAULT_SEEK_GAP):
        self.path = os.fspath(path)
        self.seek_gap = int(seek_gap)
        self._scan: MediaScan | None = None  # probe_video's scan, taken up by _adopt_scan
        self._cap = _open_capture(self.path)
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if math.isfinite(fps) and fps > 0 else 0.0
        self._next = 0  # index of the frame the next grab() returns
        self._last_time = -math.inf
        self._closed = False
        self.backend = "opencv"
        self._av_iter = None  # PyAV mode: the running decode, its next index in self._next
        self._adopt_scan()

    def _adopt_scan(self) -> None:
        """Take up probe_video's scan of this file once there is one; with a resolution change, decode with PyAV
        from now on (OpenCV would rescale frames to the first size)."""
        if self._scan is None and not self._closed:
            self._scan = cached_scan(self.path)
        if self._scan is not None and self._scan.resolution_changes and self.backend == "opencv":
            self.backend = "pyav"
            if self._cap is not None:
                self._cap.release()
            self._cap = None
            self._next, self._last_time = 0, -math.inf

    # context manager -------------------------------------------------------------------------------------
    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        if self._av_iter is not None:
            self._av_iter.close()
        self._av_iter = None
        self._closed = True

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # internals -------------------------------------------------------------------------------------------
    def _require_open(self) -> cv2.VideoCapture:
        if self._cap is None:
            raise VideoError(self.path, "reader is closed")
        return self._cap

    def _av_next(self, index: int) -> Frame:
        """PyAV mode: decode forward (restarting when `index` lies behind) to frame `index`."""
        if self._closed:
            raise VideoError(self.path, "reader is closed")
        if self._av_iter is None or index < self._next:
            if self._av_iter is not None:
                self._av_iter.close()
            self._av_iter = iter(AVFrames(self.path, self._scan.pts_s if self._scan else None))
            self._next = 0
        for i, t, image in self._av_iter:
            self._next = i + 1
            if i == index:
                return Frame(index=i, time_s=float(t), image=image)
        raise VideoError(self.path, f"frame {index} could not be decoded (the video ends at frame {self._next}; "
                                    f"truncated or damaged?)")

    def _seek(self, index: int) -> None:
        cap = self._require_open()
        if not cap.set(cv2.CAP_PROP_POS_FRAMES, index):
            raise VideoError(self.path, f"cannot seek to frame {index}")
        self._next = index
        self._last_time = -math.inf

    def _advance_to(self, index: int) -> None:
        """Position so that the next grab() returns frame `index`: grab through small gaps, seek over big ones,
        except forward where no keyframe lies between (a seek would decode from the same keyframe on)."""
        if index < self._next or (index - self._next > self.seek_gap and self._keyframe_between(index)):
            self._seek(index)
            return
        cap = self._require_open()
        while self._next < index:
            if not cap.grab():
                raise VideoError(self.path, f"frame {index} could not be decoded (the video ends at frame "
                                            f"{self._next}; truncated or damaged?)")
            self._next += 1

    def _keyframe_between(self, index: int) -> bool:
        """Whether a keyframe lies after the next frame to decode and at or before `index` (True when unknown)."""
        keys = self._scan.keyframes if self._scan is not None else None
        if not keys:
            return True
        k = bisect.bisect_right(keys, index) - 1
        return k >= 0 and keys[k] > self._next

    def _time_of(self, index: int) -> float:
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        t = ms / 1000.0 if ms is not None else float("nan")
        fallback = index / self.fps if self.fps > 0 else float("nan")
        pts = self._scan.pts_s if self._scan is not None else None
        sane = math.isfinite(t) and t >= 0 and t > self._last_time and not (index > 0 and t == 0.0)
        if sane and pts:
            # A variable frame rate may leave the nominal timeline far behind; the container's own timestamps
            # bound what is believable.
            sane = t <= pts[-1] + 1.0
        elif sane and self.fps > 0:
            # A timestamp far from the nominal timeline (more than 10 s or 50% off) is not trusted.
            sane = abs(t - fallback) <= max(10.0, 0.5 * fallback)
        if not sane and pts and index < len(pts) and pts[index] > self._last_time:
            fallback = pts[index]
        if not sane:
            t = fallback if math.isfinite(fallback) else max(self._last_time, 0.0)
        self._last_time = t
        return float(t)

    def _read_next(self, index: int) -> Frame:
        cap = self._require_open()
        if not cap.grab():
            raise VideoError(self.path, f"frame {index} could not be decoded (the video ends before it; "
                                        f"truncated or damaged?)")
        ok, image = cap.retrieve()
        if not ok or image is None:
            raise VideoError(self.path, f"frame {index} could not be decoded")
        self._next = index + 1
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return Frame(index=index, time_s=self._time_of(index), image=image)

    # public ----------------------------------------------------------------------------------------------
    def frames(self, indices: Iterable[int] | None = None) -> Iterator[Frame]:
        """Yield frames in increasing index order: all of them (indices=None, until the stream ends) or the
        given indices (sorted and de-duplicated; a VideoError if one lies past the end)."""
        self._adopt_scan()
        if self.backend == "pyav":
            yield from self._av_frames(indices)
            return
        if indices is None:
            if self._next != 0:
                self._seek(0)
            cap = self._require_open()
            i = 0
            while cap.grab():
                ok, image = cap.retrieve()
                if not ok or image is None:
                    break
                self._next = i + 1
                if image.ndim == 2:
                    image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                yield Frame(index=i, time_s=self._time_of(i), image=image)
                i += 1
            return
        wanted = sorted({int(i) for i in indices})
        if wanted and wanted[0] < 0:
            raise ValueError(f"frame indices must be >= 0, not {wanted[0]}")
        for index in wanted:
            self._advance_to(index)
            yield self._read_next(index)

    def read_frame(self, index: int) -> np.ndarray:
        """Frame `index` as (H, W, 3) uint8 BGR (seeks unless it is at most `seek_gap` frames ahead)."""
        index = int(index)
        if index < 0:
            raise ValueError(f"frame index must be >= 0, not {index}")
        self._adopt_scan()
        if self.backend == "pyav":
            return self._av_next(index).image
        self._advance_to(index)
        return self._read_next(index).image

    def _av_frames(self, indices: Iterable[int] | None) -> Iterator[Frame]:
        if indices is None:
            i = 0
            while True:
                try:
                    frame = self._av_next(i)
                except VideoError:
                    if self._closed:
                        raise
                    return
                yield frame
                i += 1
        wanted = sorted({int(i) for i in indices})
        if wanted and wanted[0] < 0:
            raise ValueError(f"frame indices must be >= 0, not {wanted[0]}")
        for index in wanted:
            yield self._av_next(index)
