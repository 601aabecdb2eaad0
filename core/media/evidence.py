"""The evidence record: what a report keeps about an evidence file (`VideoInfo`), and which files are videos.

No OpenCV here: results, the cache and the reports read and write `VideoInfo` without a decoder; `core.media.video`
fills it (`probe_video`).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: File name extension -> container name, for the videos the decoder opens (OpenCV's FFmpeg backend).
CONTAINER_BY_EXTENSION = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".avi": "avi", ".mkv": "matroska", ".webm": "webm",
    ".flv": "flv", ".ts": "mpegts", ".mts": "mpegts", ".m2ts": "mpegts", ".mpg": "mpeg", ".mpeg": "mpeg",
    ".wmv": "asf", ".3gp": "3gp", ".ogv": "ogg"}
#: Extensions that count as video when a folder is searched (CLI, app's file dialog, data preparation).
VIDEO_EXTENSIONS = frozenset(CONTAINER_BY_EXTENSION)
#: Still images accepted by data preparation (a photo is a one-frame "video").
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})


def video_file_filter() -> str:
    """A file-dialog filter over `VIDEO_EXTENSIONS`: "Videos (*.mp4 ...);;All files (*)"."""
    return "Videos (" + " ".join(f"*{e}" for e in sorted(VIDEO_EXTENSIONS)) + ");;All files (*)"


def reference_file_filter() -> str:
    """A file-dialog filter for a claimed person's reference (`core.analysis.reference`): photos and videos."""
    photos = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
    videos = " ".join(f"*{e}" for e in sorted(VIDEO_EXTENSIONS))
    return f"Photos and videos ({photos} {videos});;Photos ({photos});;Videos ({videos});;All files (*)"


def find_videos(folder: str | os.PathLike, extensions=VIDEO_EXTENSIONS) -> list[Path]:
    """The files under `folder`, recursively, whose extension (any case) is in `extensions`, sorted by path.

    The folder search of `caddm-analyze` and of data preparation (which passes images too)."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in extensions)


def collect_videos(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Files as given, folders expanded to the videos inside (recursively, sorted). Returns (videos, problems)."""
    videos, problems = [], []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = find_videos(path)
            if not found:
                problems.append(f"{path}: folder holds no video files ({', '.join(sorted(VIDEO_EXTENSIONS))})")
            videos += found
        else:
            videos.append(path)  # missing or unreadable files are reported per video, with the others still run
    return videos, problems


@dataclass
class VideoInfo:
    """What the report records about an evidence file.

    width/height are the displayed frame size in pixels (after rotation metadata is applied);
    fps is the nominal rate; frame_count the number of decodable frames; duration_s = frame_count / fps
    unless the container says otherwise; rotation in degrees (0, 90, 180, 270) as stored in the container.
    """

    path: str
    sha256: str
    size_bytes: int
    container: str
    codec: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    rotation: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "VideoInfo":
        return cls(**d)


def media_summary(info: VideoInfo) -> str:
    """One line for reports: "Container: mp4, codec: h264, rotation applied: 90°, frame rate: variable
    (17..250 ms between frames)", then what else the probe found (pixel format and bit depth, interlacing,
    resolution changes, truncation). Works on records made before these facts were kept (they are left out)."""
    x = info.extra or {}
    codec = x.get("codec_name") or info.codec
    parts = [f"Container: {info.container}", f"codec: {codec}",
             f"rotation applied: {int(x.get('rotation_applied', info.rotation) or 0)}\u00b0"]
    iv = x.get("frame_interval_ms") or {}
    if x.get("variable_frame_rate") is True and iv:
        parts.append(f"frame rate: variable ({iv['min']:g}..{iv['max']:g} ms between frames)")
    elif x.get("variable_frame_rate") is False:
        parts.append("frame rate: constant")
    if x.get("pixel_format"):
        depth = f", {x['bit_depth']}-bit" if x.get("bit_depth") else ""
        parts.append(f"pixels: {x['pixel_format']}{depth}")
    if x.get("interlaced"):
        parts.append(f"interlaced ({x.get('field_order') or 'field order unknown'}; analysed as decoded, "
                     "not deinterlaced)")
    changes = x.get("resolution_changes") or []
    if len(changes) > 1:
        sizes = ", ".join(f"{c['width']}\u00d7{c['height']} from frame {c['frame']}" for c in changes)
        parts.append(f"resolution changes: {sizes} (each frame analysed at its own size)")
    if x.get("truncated"):
        why = str(x["truncated"]).removeprefix("truncated: ")
        parts.append(f"TRUNCATED ({why}; the frames that decode were analysed)")
    return ", ".join(parts)

