"""The identity evidence of a result, derived from its faces' descriptors (independent of P(fake)): each track's
`TrackIdentity` (distances to the reference, consistency within the track), the distinct people of the video
(`IdentityCluster`, `identity_clusters`) and the per-track identity curve (`identity_series`).

Shapes: identity_series(frames)[1][t] = (frame indices (K,) int64, distances (K,) float64) over track t's described
faces; IdentityCluster.face_box is xyxy frame px."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from core.analysis.frame_results import FaceResult, FrameResult
from core.analysis.values import as_box, opt_score, round_score
from core.faces.identity import cluster, consistency_jumps, identity_verdict, track_consistency


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
            setattr(self, k, opt_score(getattr(self, k)))
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


def track_faces(frames: Sequence[FrameResult]) -> dict[int, list[tuple[int, "FaceResult"]]]:
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
              for t, faces in track_faces(frames).items()}
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
        self.face_box = as_box(self.face_box, "identity face box")
        self.nearest = None if self.nearest is None else int(self.nearest)
        for k in ("spread", "nearest_distance", "median"):
            setattr(self, k, opt_score(getattr(self, k)))

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
    by_track = {t: faces for t, faces in track_faces(frames).items()
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


