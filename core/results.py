"""The analysis result: what one run of the model over one video found, and its JSON form.

Schema ``caddm-inspector/report@1``. Coordinates are **xyxy frame pixels** (``[x0, y0, x1, y1]``, x right, y down)
unless a name says otherwise: ``Artifact.crop_box`` is in **crop pixels** of the 224x224 aligned face, and
``Artifact.corners`` is that crop box mapped back into the frame (TL, TR, BR, BL), a quadrilateral because the
alignment rotates and scales. Scores are P(fake) in [0, 1].

Values are normalised when an object is built (plain Python ints/floats/tuples, numpy accepted on input) and rounded
so that files stay small: scores and thresholds to 6 significant digits, pixels to 2 decimals, times to microseconds,
timings to 0.1 ms. What is stored round-trips exactly: ``AnalysisResult.from_dict(json.loads(json.dumps(r.to_dict())))
== r``.

Shapes:
    Artifact.box / crop_box        (4,)      frame px / crop px
    Artifact.corners               (4, 2)    frame px, TL TR BR BL of crop_box
    FaceResult.box                 (4,)      frame px
    FaceResult.landmarks           (68, 2)   frame px; (5, 2) (core.faces.landmarks.five_points) or None, as
                                             the settings' extra["landmarks"] says ("68", "5", "none")
    FaceResult.descriptor          (128,)    float32 face descriptor (core.faces.identity), or None; JSON: base64
                                             of float16, and held quantised to float16 so it round-trips exactly
    FrameResult.score              max over the frame's faces, None when it has no face
    track_series(frames)[t]        (times (N,) s, frame indices (N,), scores (N,) NaN where track t is absent)
    identity_series(frames)[1][t]  (frame indices (K,), distances (K,)) over track t's described faces
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

from core import __version__
from core.atomic import atomic_open
from core.errors import CaddmError, OutputError
from core.faces.identity import (cluster, consistency_jumps, descriptor_from_text, descriptor_to_text, distances,
                                 identity_verdict, quantise, track_consistency)
from core.findings import Findings, result_findings
from core.formatting import utc_now
from core.frames import FrameSelection
from core.evidence import VideoInfo
from core.reference import Reference

SCHEMA = "caddm-inspector/report@1"
SOFTWARE_NAME = "caddm-inspector"
VERDICTS = ("fake", "real", "no face")


class ResultFileError(CaddmError):
    """A result file that cannot be read: missing, not JSON, another schema, or malformed."""


# ----------------------------------------------------------------------------------------------------------------
# rounding / normalisation helpers


def round_score(x) -> float:
    """6 significant digits (scores, thresholds, shares)."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"score must be finite, not {x}")
    return float(f"{x:.6g}")


def _opt_score(x) -> float | None:
    return None if x is None else round_score(x)


def round_px(x) -> float:
    """2 decimals (pixels)."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"pixel coordinate must be finite, not {x}")
    return round(x, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def round_time(x) -> float:
    return round(float(x), 6) + 0.0


def _box(b, what: str) -> tuple[float, float, float, float]:
    vals = [round_px(v) for v in _flat(b)]
    if len(vals) != 4:
        raise ValueError(f"{what} must be [x0, y0, x1, y1], got {len(vals)} values")
    return tuple(vals)  # type: ignore[return-value]


def _points(p, n: tuple[int, ...], what: str) -> tuple[tuple[float, float], ...]:
    raw = _flat(p)
    if len(raw) not in n or any(len(q) != 2 for q in raw):
        raise ValueError(f"{what} must be {' or '.join(map(str, n))} [x, y] points")
    return tuple((round_px(q[0]), round_px(q[1])) for q in raw)


def _flat(b) -> list:
    return list(b.tolist() if hasattr(b, "tolist") else b)


# ----------------------------------------------------------------------------------------------------------------
# per face / per frame


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
        self.box = _box(self.box, "artifact box")
        self.corners = _points(self.corners, (4,), "artifact corners")
        self.score = round_score(self.score)
        self.crop_box = _box(self.crop_box, "artifact crop_box")

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
        self.box = _box(self.box, "face box")
        self.det_score = _opt_score(self.det_score)
        self.score = round_score(self.score)
        if self.landmarks is not None:
            self.landmarks = _points(self.landmarks, (5, 68), "landmarks")
        self.artifacts = [a if isinstance(a, Artifact) else Artifact.from_dict(a) for a in self.artifacts]
        if self.descriptor is not None:
            self.descriptor = (descriptor_from_text(self.descriptor) if isinstance(self.descriptor, str)
                               else quantise(self.descriptor))
        self.identity_distance = _opt_score(self.identity_distance)

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


# ----------------------------------------------------------------------------------------------------------------
# summaries


@dataclass
class TrackIdentity:
    """The identity evidence of one face track (`core.faces.identity`), independent of P(fake).

    n: the track's faces with a descriptor. Against a reference (all None without one): median, p10 and p90 of
    their distances to the nearest reference descriptor, and the verdict ("same person", "different person",
    "inconclusive"). Without a reference as well: consistency_median / consistency_max of each face's distance to
    the track's median descriptor, and `jumps`, the frame indices where that distance exceeds JUMP_DISTANCE."""

    n: int
    median: float | None = None
    p10: float | None = None
    p90: float | None = None
    verdict: str | None = None
    consistency_median: float | None = None
    consistency_max: float | None = None
    jumps: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.n = int(self.n)
        for k in ("median", "p10", "p90", "consistency_median", "consistency_max"):
            setattr(self, k, _opt_score(getattr(self, k)))
        self.jumps = [int(i) for i in self.jumps]

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> "TrackIdentity":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def track_identity(faces: Sequence[tuple[int, "FaceResult"]]) -> TrackIdentity | None:
    """A track's `TrackIdentity` from its (frame index, face) pairs in frame order; None when none has a
    descriptor."""
    described = [(i, f) for i, f in faces if f.descriptor is not None]
    if not described:
        return None
    consistency = track_consistency(np.stack([f.descriptor for _, f in described]))
    out = TrackIdentity(n=len(described), consistency_median=float(np.median(consistency)),
                        consistency_max=float(consistency.max()),
                        jumps=consistency_jumps(consistency, [i for i, _ in described]))
    dists = np.array([f.identity_distance for _, f in described if f.identity_distance is not None])
    if len(dists):
        out.median, out.verdict = round_score(np.median(dists)), identity_verdict(dists)
        out.p10, out.p90 = round_score(np.percentile(dists, 10)), round_score(np.percentile(dists, 90))
    return out


def _track_faces(frames: Sequence[FrameResult]) -> dict[int, list[tuple[int, "FaceResult"]]]:
    """{track id: [(frame index, face), ...] in frame order}, tracks in ascending id."""
    faces: dict[int, list[tuple[int, FaceResult]]] = {}
    for fr in sorted(frames, key=lambda f: f.index):
        for face in fr.faces:
            faces.setdefault(face.track, []).append((fr.index, face))
    return dict(sorted(faces.items()))


def identity_series(frames: Sequence[FrameResult]) -> tuple[str | None, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Each track's identity distance over its described faces: what the app's identity curve and frames column
    show. ``(kind, {track id: (frame indices (K,) int64, distances (K,) float64)})``: kind "reference" when the
    faces were compared with a reference (`AnalysisResult.with_reference`; each face's distance to the nearest
    reference descriptor), else "consistency" (each face's distance to its track's median descriptor, no
    reference needed), None when no face has a descriptor (and the dict is empty). A track with two described
    faces in one frame has two entries there."""
    tracks = {t: [(i, f) for i, f in faces if f.descriptor is not None]
              for t, faces in _track_faces(frames).items()}
    tracks = {t: faces for t, faces in tracks.items() if faces}
    if not tracks:
        return None, {}
    if any(f.identity_distance is not None for faces in tracks.values() for _, f in faces):
        out = {}
        for t, faces in tracks.items():
            at = [(i, f.identity_distance) for i, f in faces if f.identity_distance is not None]
            out[t] = (np.array([i for i, _ in at], dtype=np.int64), np.array([d for _, d in at], dtype=np.float64))
        return "reference", {t: v for t, v in out.items() if len(v[0])}
    return "consistency", {t: (np.array([i for i, _ in faces], dtype=np.int64),
                               track_consistency(np.stack([f.descriptor for _, f in faces])))
                           for t, faces in tracks.items()}


@dataclass
class IdentityCluster:
    """One person in the video: the face tracks whose median descriptors `core.faces.identity.cluster` groups
    together (independent of P(fake) and of any reference).

    id: 0, 1, ... by how many analysed frames show the person (most first); tracks: its track ids; n_frames:
    analysed frames in which one of its tracks has a face; n_described: its faces with a descriptor; first_frame /
    last_frame: the first and last of those frames. The representative face (to crop a thumbnail from):
    face_frame, face_track and face_box (xyxy frame px), the described face nearest the person's median
    descriptor among those at least half as large (area) as its largest described face. spread: the largest
    distance between two of its tracks' median descriptors (None for one track); nearest / nearest_distance: the
    other identity nearest by average linkage and that distance (None when alone; below DIFFERENT_MIN the two may
    be one person). Against a reference (None without one): median of its faces' distances and the verdict."""

    id: int
    tracks: list[int]
    n_frames: int
    n_described: int
    first_frame: int
    last_frame: int
    face_frame: int
    face_track: int
    face_box: tuple[float, float, float, float]
    spread: float | None = None
    nearest: int | None = None
    nearest_distance: float | None = None
    median: float | None = None
    verdict: str | None = None

    def __post_init__(self):
        self.tracks = [int(t) for t in self.tracks]
        for k in ("id", "n_frames", "n_described", "first_frame", "last_frame", "face_frame", "face_track"):
            setattr(self, k, int(getattr(self, k)))
        self.face_box = _box(self.face_box, "identity face box")
        self.nearest = None if self.nearest is None else int(self.nearest)
        for k in ("spread", "nearest_distance", "median"):
            setattr(self, k, _opt_score(getattr(self, k)))

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["face_box"] = list(self.face_box)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "IdentityCluster":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def identity_clusters(frames: Sequence[FrameResult]) -> list[IdentityCluster]:
    """The distinct people of the video (`IdentityCluster`), from the tracks with at least one described face;
    empty when no face has a descriptor (identity off)."""
    by_track = {t: faces for t, faces in _track_faces(frames).items()
                if any(f.descriptor is not None for _, f in faces)}
    if not by_track:
        return []
    ids = list(by_track)
    medians = np.stack([np.median(np.stack([f.descriptor for _, f in by_track[t] if f.descriptor is not None]),
                                  axis=0) for t in ids])
    groups, link = cluster(medians)
    found = []
    for g, rows in enumerate(groups):
        faces = [(i, f) for r in rows for i, f in by_track[ids[r]]]
        described = [(i, f) for i, f in faces if f.descriptor is not None]
        desc = np.stack([f.descriptor for _, f in described])
        area = np.array([(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for _, f in described])
        gap = np.linalg.norm(desc - np.median(desc, axis=0), axis=1)
        gap[area < 0.5 * area.max()] = np.inf
        best = min(range(len(described)), key=lambda k: (gap[k], described[k][0]))
        frame_ix = sorted({i for i, _ in faces})
        m = medians[rows]
        spread = (float(np.linalg.norm(m[:, None] - m[None], axis=2).max()) if len(rows) > 1 else None)
        others = [(link[g, h], h) for h in range(len(groups)) if h != g]
        dists = [f.identity_distance for _, f in described if f.identity_distance is not None]
        found.append(dict(tracks=[ids[r] for r in rows], n_frames=len(frame_ix), n_described=len(described),
                          first_frame=frame_ix[0], last_frame=frame_ix[-1], face_frame=described[best][0],
                          face_track=described[best][1].track, face_box=described[best][1].box, spread=spread,
                          nearest=min(others)[1] if others else None,
                          nearest_distance=min(others)[0] if others else None,
                          median=float(np.median(dists)) if dists else None,
                          verdict=identity_verdict(dists) if dists else None))
    order = sorted(range(len(found)), key=lambda g: (-found[g]["n_frames"], found[g]["first_frame"]))
    new_id = {g: k for k, g in enumerate(order)}
    out = []
    for g in order:
        c = found[g]
        if c["nearest"] is not None:
            c["nearest"] = new_id[c["nearest"]]
        out.append(IdentityCluster(id=new_id[g], **c))
    return out


@dataclass
class TrackSummary:
    """One face track over the analysed frames: first/last analysed frame it appears in, their times, how many
    analysed frames it appears in, mean and max P(fake), the share of those frames with score >= threshold, and
    its identity evidence (None when no face of it has a descriptor)."""

    track: int
    first_frame: int
    last_frame: int
    start_s: float
    end_s: float
    n_frames: int
    mean_score: float
    max_score: float
    share_above: float
    identity: TrackIdentity | None = None

    def __post_init__(self):
        for k in ("track", "first_frame", "last_frame", "n_frames"):
            setattr(self, k, int(getattr(self, k)))
        self.start_s, self.end_s = round_time(self.start_s), round_time(self.end_s)
        for k in ("mean_score", "max_score", "share_above"):
            setattr(self, k, round_score(getattr(self, k)))
        if isinstance(self.identity, dict):
            self.identity = TrackIdentity.from_dict(self.identity)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["identity"] = None if self.identity is None else self.identity.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrackSummary":
        return cls(**d)


@dataclass
class Summary:
    """The video-level finding.

    video_score: mean of frame scores over frames with a face (None when none); max_score: max frame score;
    share_above: fraction of scored frames with score >= threshold; verdict: the artifact model's line alone, kept
    from the first schema: "fake" when video_score >= threshold, "real" below (meaning "no artifact finding", not
    that the video is authentic), "no face" when no frame had a face. The headline over all the evidence is
    `core.findings` (the result JSON's "findings").
    """

    video_score: float | None
    max_score: float | None
    share_above: float | None
    verdict: str
    threshold: float
    frames_analysed: int
    frames_with_faces: int
    n_tracks: int

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {self.verdict!r}")
        self.video_score = _opt_score(self.video_score)
        self.max_score = _opt_score(self.max_score)
        self.share_above = _opt_score(self.share_above)
        self.threshold = round_score(self.threshold)
        for k in ("frames_analysed", "frames_with_faces", "n_tracks"):
            setattr(self, k, int(getattr(self, k)))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> "Summary":
        return cls(**d)


def summarize(frames: Sequence[FrameResult], threshold: float) -> Summary:
    """Video-level summary of `frames` at `threshold` (see `Summary`)."""
    threshold = round_score(threshold)
    scores = [f.score for f in frames if f.score is not None]
    tracks = {face.track for f in frames for face in f.faces}
    if scores:
        video_score = sum(scores) / len(scores)
        verdict = "fake" if round_score(video_score) >= threshold else "real"
        share = sum(s >= threshold for s in scores) / len(scores)
        mx = max(scores)
    else:
        video_score = mx = share = None
        verdict = "no face"
    return Summary(video_score=video_score, max_score=mx, share_above=share, verdict=verdict, threshold=threshold,
                   frames_analysed=len(frames), frames_with_faces=len(scores), n_tracks=len(tracks))


def track_series(frames: Sequence[FrameResult]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each face track's P(fake) over the analysed frames: what the timeline, the report figure and the track
    summaries are drawn from.

    Returns ``{track id: (times, indices, scores)}`` in ascending track id. The three arrays have shape (N,),
    N = the number of distinct analysed frame indices, in ascending frame order: ``times`` in seconds (float64)
    and ``indices`` (int64) are the same read-only arrays for every track; ``scores`` (float64) is the track's
    P(fake) in each frame, the max when it has two faces there, and NaN where it has none (a plotted line breaks).
    """
    order = sorted(frames, key=lambda f: f.index)
    slot: dict[int, int] = {}
    times: list[float] = []
    for fr in order:
        if fr.index not in slot:
            slot[fr.index] = len(times)
            times.append(fr.time_s)
    t = np.array(times, dtype=np.float64)
    ix = np.array(list(slot), dtype=np.int64)
    t.flags.writeable = ix.flags.writeable = False
    scores: dict[int, np.ndarray] = {}
    for fr in order:
        k = slot[fr.index]
        for face in fr.faces:
            ys = scores.get(face.track)
            if ys is None:
                ys = scores[face.track] = np.full(len(t), np.nan)
            if not ys[k] >= face.score:  # NaN (first face of the track here) or a lower score
                ys[k] = face.score
    return {track: (t, ix, scores[track]) for track in sorted(scores)}


def track_summaries(frames: Sequence[FrameResult], threshold: float) -> list[TrackSummary]:
    """One `TrackSummary` per track id, sorted by track id. A track seen twice in one frame counts once (max)."""
    threshold = round_score(threshold)
    faces = _track_faces(frames)
    out = []
    for track, (times, indices, ys) in track_series(frames).items():
        at = np.flatnonzero(~np.isnan(ys))
        scores = ys[at].tolist()
        out.append(TrackSummary(track=track, first_frame=indices[at[0]], last_frame=indices[at[-1]],
                                start_s=times[at[0]], end_s=times[at[-1]], n_frames=len(scores),
                                mean_score=sum(scores) / len(scores), max_score=max(scores),
                                share_above=sum(s >= threshold for s in scores) / len(scores),
                                identity=track_identity(faces[track])))
    return out


# ----------------------------------------------------------------------------------------------------------------
# context: model, settings, case, review


@dataclass
class ModelInfo:
    """The checkpoint that produced the scores: registry name, backbone, SHA-256 of the file, its path, input size
    (square crop side in px) and the checkpoint's own metadata."""

    name: str
    backbone: str
    sha256: str
    path: str
    input_size: int = 224
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "backbone": self.backbone, "sha256": self.sha256, "path": self.path,
                "input_size": int(self.input_size), "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelInfo":
        return cls(**d)


@dataclass
class AnalysisSettings:
    """How the analysis was run. `threshold` only turns scores into a verdict (it does not change any score);
    `detector` holds the face detector's parameters and `extra` anything else that affects results."""

    frame_selection: FrameSelection = field(default_factory=FrameSelection)
    threshold: float = 0.5
    device: str = "auto"
    batch_size: int = 32
    detector: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    runtime: str = ""  # what ran the model ("torch 2.14.1", "onnxruntime 1.32.0"); "" in results made before it was kept

    def __post_init__(self):
        if isinstance(self.frame_selection, dict):
            self.frame_selection = FrameSelection.from_dict(self.frame_selection)
        self.threshold = round_score(self.threshold)
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], not {self.threshold}")
        self.batch_size = int(self.batch_size)

    def to_dict(self) -> dict:
        return {"frame_selection": self.frame_selection.to_dict(), "threshold": self.threshold,
                "device": self.device, "batch_size": self.batch_size, "detector": dict(self.detector),
                "extra": dict(self.extra), **({"runtime": self.runtime} if self.runtime else {})}

    def result_affecting(self) -> dict:
        """The settings that change scores or boxes (for cache keys): everything but threshold, device, batch size
        and runtime (run facts: the runtimes agree within 1e-6)."""
        return {"frame_selection": self.frame_selection.to_dict(), "detector": dict(self.detector),
                "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, d: dict) -> "AnalysisSettings":
        d = dict(d)
        d["frame_selection"] = FrameSelection.from_dict(d["frame_selection"])
        return cls(**d)


@dataclass
class CaseInfo:
    """The analyst's case header (free text, shown escaped in reports). `audit`: a result exported from a case
    file (`core.case`) carries the case's audit summary ("57 entries; chain verified: yes; head 1a2b..."), empty
    otherwise (and then left out of the JSON)."""

    case_id: str = ""
    analyst: str = ""
    notes: str = ""
    audit: str = ""

    def to_dict(self) -> dict:
        d = {"case_id": self.case_id, "analyst": self.analyst, "notes": self.notes}
        if self.audit:
            d["audit"] = self.audit
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CaseInfo":
        return cls(**d)


@dataclass
class Review:
    """The analyst's review: flagged frame indices and free-text notes per frame index, and the same per face
    track id (`track_flags`, `track_notes`; a case file keeps them, `core.case`; left out of the JSON when empty)."""

    flags: set[int] = field(default_factory=set)
    notes: dict[int, str] = field(default_factory=dict)
    track_flags: set[int] = field(default_factory=set)
    track_notes: dict[int, str] = field(default_factory=dict)

    def __post_init__(self):
        self.flags = {int(i) for i in self.flags}
        self.notes = {int(k): str(v) for k, v in self.notes.items()}
        self.track_flags = {int(i) for i in self.track_flags}
        self.track_notes = {int(k): str(v) for k, v in self.track_notes.items()}

    def to_dict(self) -> dict:
        d = {"flags": sorted(self.flags), "notes": {str(k): self.notes[k] for k in sorted(self.notes)}}
        if self.track_flags or self.track_notes:
            d["track_flags"] = sorted(self.track_flags)
            d["track_notes"] = {str(k): self.track_notes[k] for k in sorted(self.track_notes)}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Review":
        return cls(flags=d.get("flags", []), notes=d.get("notes", {}), track_flags=d.get("track_flags", []),
                   track_notes=d.get("track_notes", {}))

    def reviewed_indices(self) -> list[int]:
        """Frames the analyst flagged or wrote a note on, sorted."""
        return sorted(self.flags | set(self.notes))


# ----------------------------------------------------------------------------------------------------------------
# the whole result


def _software() -> dict:
    return {"name": SOFTWARE_NAME, "version": __version__}


@dataclass
class AnalysisResult:
    """Everything one analysis found, plus what is needed to reproduce and report it.

    frames are in increasing index order; `tracks` and `summary` are derived from `frames` at
    `settings.threshold` (use `build` or `with_threshold` to keep them consistent); `complete` is False for a
    cancelled or failed run (partial frames); `timings` maps a stage name to seconds; `reference`: the claimed
    person's reference the faces were compared with (`with_reference`), None without one; `identities`: the
    distinct people of the video (`identity_clusters(frames)`, derived from `frames` when not given, so results
    written before it existed get it too).
    """

    video: VideoInfo
    model: ModelInfo
    settings: AnalysisSettings
    frames: list[FrameResult]
    tracks: list[TrackSummary]
    summary: Summary
    timings: dict[str, float] = field(default_factory=dict)
    complete: bool = True
    case: CaseInfo | None = None
    review: Review = field(default_factory=Review)
    created_utc: str = field(default_factory=utc_now)
    software: dict = field(default_factory=_software)
    schema: str = SCHEMA
    reference: Reference | None = None
    identities: list[IdentityCluster] | None = None

    def __post_init__(self):
        self.identities = (identity_clusters(self.frames) if self.identities is None else
                           [c if isinstance(c, IdentityCluster) else IdentityCluster.from_dict(c)
                            for c in self.identities])
        self.timings = {str(k): round(float(v), 4) + 0.0 for k, v in self.timings.items()}
        self.complete = bool(self.complete)

    @classmethod
    def build(cls, video: VideoInfo, model: ModelInfo, settings: AnalysisSettings, frames: Iterable[FrameResult],
              **kw) -> "AnalysisResult":
        """A result whose `tracks` and `summary` are computed from `frames` at `settings.threshold`."""
        frames = sorted(frames, key=lambda f: f.index)
        return cls(video=video, model=model, settings=settings, frames=frames,
                   tracks=track_summaries(frames, settings.threshold),
                   summary=summarize(frames, settings.threshold), **kw)

    def with_threshold(self, threshold: float) -> "AnalysisResult":
        """A copy at another threshold: summary and tracks recomputed, scores and boxes shared (unchanged)."""
        settings = replace(self.settings, threshold=threshold)
        return replace(self, settings=settings, frames=list(self.frames),
                       tracks=track_summaries(self.frames, settings.threshold),
                       summary=summarize(self.frames, settings.threshold))

    def with_reference(self, reference: Reference | None) -> "AnalysisResult":
        """A copy compared with the claimed person's reference: each face with a descriptor gets its distance to
        the nearest reference descriptor (None when the reference holds none), the tracks their identity verdicts,
        and `reference` records the files. None removes a comparison. Scores and boxes are unchanged."""
        ref = None if reference is None else reference.descriptors
        described = [f for fr in self.frames for f in fr.faces if f.descriptor is not None]
        found = {}
        if ref is not None and len(ref) and described:
            found = dict(zip(map(id, described), distances(np.stack([f.descriptor for f in described]), ref)))
        frames = [replace(fr, faces=[replace(f, identity_distance=found.get(id(f))) for f in fr.faces])
                  for fr in self.frames]
        return replace(self, frames=frames, tracks=track_summaries(frames, self.settings.threshold),
                       reference=reference, identities=None)

    def findings(self) -> "Findings":
        """The headline over all the evidence (`core.findings`); derived: written to the JSON, recomputed on load."""
        return result_findings(self)

    def frame(self, index: int) -> FrameResult | None:
        """The analysed frame with this index, or None."""
        for f in self.frames:
            if f.index == index:
                return f
        return None

    # -- JSON ---------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "schema": self.schema,
            "software": dict(self.software),
            "created_utc": self.created_utc,
            "complete": self.complete,
            "case": None if self.case is None else self.case.to_dict(),
            "video": self.video.to_dict(),
            "model": self.model.to_dict(),
            "settings": self.settings.to_dict(),
            "reference": None if self.reference is None else self.reference.to_dict(),
            "summary": self.summary.to_dict(),
            "tracks": [t.to_dict() for t in self.tracks],
            "identities": [c.to_dict() for c in self.identities],
            "findings": self.findings().to_dict(),
            "timings": dict(self.timings),
            "review": self.review.to_dict(),
            "frames": [f.to_dict() for f in self.frames],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "AnalysisResult":
        if d.get("schema") != SCHEMA:
            raise ValueError(f"unknown schema {d.get('schema')!r} (this version reads {SCHEMA!r})")
        return cls(
            schema=d["schema"], software=dict(d["software"]), created_utc=d["created_utc"],
            complete=d["complete"], case=None if d.get("case") is None else CaseInfo.from_dict(d["case"]),
            video=VideoInfo.from_dict(d["video"]), model=ModelInfo.from_dict(d["model"]),
            settings=AnalysisSettings.from_dict(d["settings"]), summary=Summary.from_dict(d["summary"]),
            tracks=[TrackSummary.from_dict(t) for t in d["tracks"]], timings=dict(d.get("timings", {})),
            review=Review.from_dict(d.get("review", {})), frames=[FrameResult.from_dict(f) for f in d["frames"]],
            reference=None if d.get("reference") is None else Reference.from_dict(d["reference"]),
            identities=None if d.get("identities") is None else [IdentityCluster.from_dict(c)
                                                                 for c in d["identities"]])

    def to_json(self, indent: int | None = None) -> str:
        """Compact JSON (`indent` None), or indented with one compact line per frame: readable, greppable by frame,
        and a third of the size of indenting every number (a 10-minute all-frames run stays under 15 MB)."""
        kw = dict(ensure_ascii=False, allow_nan=False)
        if indent is None:
            return json.dumps(self.to_dict(), separators=(",", ":"), **kw)
        d = self.to_dict()
        frames = d.pop("frames")
        head = json.dumps(d, indent=indent, separators=(",", ": "), **kw)
        pad = " " * indent
        rows = f",\n{pad}{pad}".join(json.dumps(f, separators=(",", ":"), **kw) for f in frames)
        body = f'[\n{pad}{pad}{rows}\n{pad}]' if frames else "[]"
        return f'{head[:-2]},\n{pad}"frames": {body}\n}}'

    def save_json(self, path: str | os.PathLike, indent: int | None = 1) -> None:
        """Write atomically (the old file or the new one, never half of one); OutputError naming `path`."""
        text = self.to_json(indent)
        try:
            with atomic_open(path, "w") as f:
                f.write(text)
                f.write("\n")
        except OSError as e:
            raise OutputError(path, f"cannot write result: {e.strerror or e}") from e


def load_json(path: str | os.PathLike) -> AnalysisResult:
    """Read a result file; ResultFileError naming `path` when it is missing, not JSON, of an unknown schema or
    malformed."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except FileNotFoundError:
        raise ResultFileError(path, "no such result file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ResultFileError(path, f"cannot read result file: {e}") from e
    except json.JSONDecodeError as e:
        raise ResultFileError(path, f"not a JSON result file ({e.msg} at line {e.lineno})") from e
    if not isinstance(d, dict) or "schema" not in d:
        raise ResultFileError(path, "not a CADDM Inspector result (no schema)")
    if d["schema"] != SCHEMA:
        raise ResultFileError(path, f"unknown schema {d['schema']!r}; this version reads {SCHEMA!r}")
    try:
        return AnalysisResult.from_dict(d)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise ResultFileError(path, f"malformed result ({type(e).__name__}: {e})") from e


def top_frames(result: AnalysisResult, n: int) -> list[FrameResult]:
    """The `n` most suspicious analysed frames (highest score first, earlier frame first on ties); frames without
    a face are never included."""
    scored = [f for f in result.frames if f.score is not None]
    scored.sort(key=lambda f: (-f.score, f.index))
    return scored[:max(0, int(n))]
