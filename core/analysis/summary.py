"""What a result says over its frames: the video `Summary` (score, verdict, counts), one `TrackSummary` per face
track, and each track's P(fake) curve (`track_series`). Derived from the frames; the JSON keeps them.

Shapes: track_series(frames)[t] = (times (N,) s, frame indices (N,), scores (N,) NaN where track t is absent)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.analysis.identities import TrackIdentity, track_faces, track_identity
from core.analysis.frame_results import FrameResult
from core.analysis.values import opt_score, round_score, round_time

#: The video verdict of the artifact model alone ("real" = no artifact finding; the headline is
#: `core.analysis.findings`).
VERDICTS = ("fake", "real", "no face")


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
    `core.analysis.findings` (the result JSON's "findings").
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
        self.video_score = opt_score(self.video_score)
        self.max_score = opt_score(self.max_score)
        self.share_above = opt_score(self.share_above)
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
    faces = track_faces(frames)
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
