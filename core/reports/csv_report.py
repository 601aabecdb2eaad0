"""frames.csv: one row per face per analysed frame (a frame without a face gets one row with empty face fields).

Columns: frame, time_s, frame_score, face (index within the frame), track, det_score, score (P(fake)),
box_x0, box_y0, box_x1, box_y1 (xyxy frame px), n_artifacts, artifacts, identity_distance (to the nearest reference
descriptor; empty without a reference or when the face was not described), person (the distinct person of
`AnalysisResult.identities` the face's track belongs to; empty when its track has no described face), flagged,
note.
`artifacts` is compact: ``x0 y0 x1 y1 score`` per artifact (xyxy frame px of the quadrilateral's bounds), joined
by ``;``. Free text (notes) that a spreadsheet would run as a formula is prefixed with ``'``.
"""
from __future__ import annotations

import csv
import io

from core.analysis.results import AnalysisResult

COLUMNS = ["frame", "time_s", "frame_score", "face", "track", "det_score", "score", "box_x0", "box_y0", "box_x1",
           "box_y1", "n_artifacts", "artifacts", "identity_distance", "person", "flagged", "note"]


def _num(x) -> str:
    return "" if x is None else repr(x) if isinstance(x, float) else str(x)


def _safe_text(s: str) -> str:
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t") else s


def artifacts_string(artifacts) -> str:
    return ";".join(" ".join(_num(v) for v in (*a.box, a.score)) for a in artifacts)


def csv_text(result: AnalysisResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    flags, notes = result.review.flags, result.review.notes
    person = {t: c.id for c in result.identities or [] for t in c.tracks}
    for fr in result.frames:
        common = [fr.index, _num(fr.time_s), _num(fr.score)]
        tail = ["1" if fr.index in flags else "0", _safe_text(notes.get(fr.index, ""))]
        if not fr.faces:
            w.writerow(common + [""] * (len(COLUMNS) - len(common) - len(tail)) + tail)
            continue
        for i, face in enumerate(fr.faces):
            w.writerow(common + [i, face.track, _num(face.det_score), _num(face.score), *map(_num, face.box),
                                 len(face.artifacts), artifacts_string(face.artifacts),
                                 _num(face.identity_distance), _num(person.get(face.track))] + tail)
    return buf.getvalue()
