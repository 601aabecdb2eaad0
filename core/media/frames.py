"""Which frames of a video to analyse: all, every k-th, or N evenly spaced (the paper's test protocol: 32)."""
from __future__ import annotations

from dataclasses import dataclass

MODES = ("all", "stride", "count")
#: What a menu calls each mode, in menu order (N or k is the selection's `value`).
MODE_LABELS = {"count": "N evenly spaced frames", "stride": "Every k-th frame", "all": "All frames"}


@dataclass(frozen=True)
class FrameSelection:
    """mode "all" (value ignored), "stride" (every `value`-th frame from 0) or "count" (`value` evenly spaced)."""

    mode: str = "count"
    value: int = 32

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"frame selection mode must be one of {MODES}, not {self.mode!r}")
        if self.mode != "all" and int(self.value) < 1:
            raise ValueError(f"frame selection {self.mode} needs a value >= 1, not {self.value}")

    def indices(self, frame_count: int) -> list[int]:
        """Sorted, unique frame indices in [0, frame_count)."""
        if frame_count <= 0:
            return []
        if self.mode == "all":
            return list(range(frame_count))
        if self.mode == "stride":
            return list(range(0, frame_count, int(self.value)))
        n = min(int(self.value), frame_count)
        # Evenly spaced over the whole clip, first and last frame included when n > 1 (numpy.linspace semantics).
        if n == 1:
            return [0]
        return sorted({round(i * (frame_count - 1) / (n - 1)) for i in range(n)})

    def to_dict(self) -> dict:
        return {"mode": self.mode, "value": int(self.value)}

    @classmethod
    def from_dict(cls, d: dict) -> "FrameSelection":
        return cls(mode=d["mode"], value=int(d.get("value", 0)))

    def describe(self) -> str:
        return {"all": "all frames", "stride": f"every {self.value}th frame",
                "count": f"{self.value} evenly spaced frames"}[self.mode]
