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

The summaries over frames are `core.analysis.summary`, the identity evidence `core.analysis.identities`, the
rounding `core.analysis.values`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from typing import Iterable

import numpy as np

from core import __version__
from core.common.atomic import atomic_open
from core.common.errors import CaddmError, OutputError
from core.faces.identity import distances
from core.analysis.frame_results import FrameResult
from core.analysis.identities import IdentityCluster, identity_clusters
from core.analysis.summary import Summary, TrackSummary, summarize, track_summaries
from core.analysis.values import round_score
from core.analysis.findings import Findings, result_findings
from core.common.formatting import utc_now
from core.media.frames import FrameSelection
from core.media.evidence import VideoInfo
from core.analysis.reference import Reference

SCHEMA = "caddm-inspector/report@1"
SOFTWARE_NAME = "caddm-inspector"


class ResultFileError(CaddmError):
    """A result file that cannot be read: missing, not JSON, another schema, or malformed."""


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


#: Timings that are waits, not stages: "startup" (the command's start until the analysis began: imports, the model;
#: set by caddm-analyze) and "first_score" (the analysis's start until its first frame was scored: the face models,
#: the first decode and detection).
LATENCIES = {"startup": "start-up (command start to analysis)", "first_score": "analysis start to first score"}


@dataclass
class AnalysisResult:
    """Everything one analysis found, plus what is needed to reproduce and report it.

    frames are in increasing index order; `tracks` and `summary` are derived from `frames` at
    `settings.threshold` (use `build` or `with_threshold` to keep them consistent); `complete` is False for a
    cancelled or failed run (partial frames); `timings` maps a stage name to seconds (and the `LATENCIES`: what
    the user waited for, not stages of the total); `reference`: the claimed
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
        """The headline over all the evidence (`core.analysis.findings`); derived: written to the JSON, recomputed on
        load."""
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
