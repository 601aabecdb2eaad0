"""What one analysed frame holds: its faces (`FaceResult`: box, landmarks, score, descriptor, identity distance) and
their artifact boxes (`Artifact`), as plain values with their JSON form. The lowest result types: the summaries
(`core.analysis.summary`), the identity evidence (`core.analysis.identities`) and the whole `AnalysisResult`
(`core.analysis.results`) are built on them. Coordinates and shapes: see `core.analysis.results`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.analysis.values import as_box, as_points, opt_score, round_score, round_time
from core.faces.identity import descriptor_from_text, descriptor_to_text, quantise


@dataclass
class Artifact:
    """One artifact box the detection module found on a face crop.

    box: xyxy frame px (axis-aligned bounds of `corners`); corners: (4, 2) frame px, TL TR BR BL of `crop_box`
    mapped back through the inverse alignment; score: P(fake) of that box; crop_box: xyxy crop px (224 crop).
    """

    box: tuple[float, float, float, float]
    corners: tuple[tuple[float, float], ...]
    score: float
    crop_box: tuple[float, float, float, float]

    def __post_init__(self):
        self.box = as_box(self.box, "artifact box")
        self.corners = as_points(self.corners, (4,), "artifact corners")
        self.score = round_score(self.score)
        self.crop_box = as_box(self.crop_box, "artifact crop_box")

    def to_dict(self) -> dict:
        return {"box": list(self.box), "corners": [list(c) for c in self.corners], "score": self.score,
                "crop_box": list(self.crop_box)}

    @classmethod
    def from_dict(cls, d: dict) -> "Artifact":
        return cls(box=d["box"], corners=d["corners"], score=d["score"], crop_box=d["crop_box"])


@dataclass
class FaceResult:
    """One face in one frame: track id, face box (xyxy frame px), detector score (None when the face was followed
    by its landmarks between two detector runs), P(fake), landmarks ((68, 2) or (5, 2) frame px, or None when not
    kept), the artifact boxes, its identity descriptor ((128,) float32, None when identity was off or this frame was not
    described), its distance to the nearest reference descriptor (None without a reference) and, when the crop was not
    aligned from the landmarks' five points, the points it was aligned from (`aligned_from`, e.g. "retinaface 5
    points": the 68-point fit disagreed with the detector's own points, `core.faces.pipeline.FIVE_POINT_DISAGREEMENT`)."""

    track: int
    box: tuple[float, float, float, float]
    det_score: float | None
    score: float
    landmarks: tuple[tuple[float, float], ...] | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    descriptor: np.ndarray | None = None
    identity_distance: float | None = None
    aligned_from: str | None = None  # None: the crop was aligned from the landmarks; else the points it came from

    def __post_init__(self):
        self.track = int(self.track)
        self.box = as_box(self.box, "face box")
        self.det_score = opt_score(self.det_score)
        self.score = round_score(self.score)
        if self.landmarks is not None:
            self.landmarks = as_points(self.landmarks, (5, 68), "landmarks")
        self.artifacts = [a if isinstance(a, Artifact) else Artifact.from_dict(a) for a in self.artifacts]
        if self.descriptor is not None:
            self.descriptor = (descriptor_from_text(self.descriptor) if isinstance(self.descriptor, str)
                               else quantise(self.descriptor))
        self.identity_distance = opt_score(self.identity_distance)

    def __eq__(self, other):  # the descriptor is an array: compare the stored form
        return self.to_dict() == other.to_dict() if isinstance(other, FaceResult) else NotImplemented

    def to_dict(self) -> dict:
        return {"track": self.track, "box": list(self.box), "det_score": self.det_score, "score": self.score,
                "landmarks": None if self.landmarks is None else [list(p) for p in self.landmarks],
                "artifacts": [a.to_dict() for a in self.artifacts],
                "descriptor": None if self.descriptor is None else descriptor_to_text(self.descriptor),
                "identity_distance": self.identity_distance,
                **({"aligned_from": self.aligned_from} if self.aligned_from else {})}

    def artifacts_at(self, threshold: float) -> list["Artifact"]:
        """The artifact boxes to show at `threshold`: all of them when the face scores at or above it, none below.

        CADDM's detection module is trained on fake images only (real images carry no detection loss), so its boxes
        explain a fake verdict and mean nothing on a face the model calls real. They stay in the result as data."""
        return self.artifacts if self.score >= threshold else []

    @classmethod
    def from_dict(cls, d: dict) -> "FaceResult":
        return cls(track=d["track"], box=d["box"], det_score=d["det_score"], score=d["score"],
                   landmarks=d.get("landmarks"), artifacts=[Artifact.from_dict(a) for a in d.get("artifacts", [])],
                   descriptor=d.get("descriptor"), identity_distance=d.get("identity_distance"),
                   aligned_from=d.get("aligned_from") if isinstance(d.get("aligned_from"), str) else None)


@dataclass
class FrameResult:
    """One analysed frame. `score` is the max over its faces' scores and None when no face was found; leave it
    None when building and it is filled in (a given value must agree with the faces)."""

    index: int
    time_s: float
    score: float | None = None
    faces: list[FaceResult] = field(default_factory=list)

    def __post_init__(self):
        self.index = int(self.index)
        self.time_s = round_time(self.time_s)
        self.faces = [f if isinstance(f, FaceResult) else FaceResult.from_dict(f) for f in self.faces]
        derived = max(f.score for f in self.faces) if self.faces else None
        if self.score is not None and (derived is None or abs(round_score(self.score) - derived) > 1e-6):
            raise ValueError(f"frame {self.index}: score {self.score} disagrees with its faces (max = {derived})")
        self.score = derived

    def to_dict(self) -> dict:
        return {"index": self.index, "time_s": self.time_s, "score": self.score,
                "faces": [f.to_dict() for f in self.faces]}

    @classmethod
    def from_dict(cls, d: dict) -> "FrameResult":
        return cls(index=d["index"], time_s=d["time_s"], score=d.get("score"),
                   faces=[FaceResult.from_dict(f) for f in d.get("faces", [])])
