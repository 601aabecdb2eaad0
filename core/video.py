"""Reading evidence video: metadata (hash, codec, fps, ...), streamed frame decoding with index and timestamp.

The evidence file is opened read-only and never modified.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
