"""One row per screened file, and the two tables made of the rows: `results.parquet` (pyarrow, for programs) and
`summary.csv` (most suspicious first, for a person).

A row is a plain dict with the keys of `COLUMNS`, in that order. The analysis part of a row (everything but path,
size and result file) comes from a commit record (`core.screen.journal`): a renamed copy of a screened file
shares its record, so it gets its own row without a second analysis. Scores are P(fake) in [0, 1]; `top_frame` is
a frame index of the video (0-based), None without a scored frame.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from core.common.atomic import atomic_open, atomic_write_text
from core.analysis.results import AnalysisResult, top_frames

#: (column, pyarrow type name): the table's schema, in order.
COLUMNS = (
    ("path", "string"), ("size_bytes", "int64"), ("sha256", "string"), ("status", "string"), ("error", "string"),
    ("video_score", "float64"), ("verdict", "string"), ("headline", "string"), ("threshold", "float64"), ("frames_analysed", "int64"),
    ("frames_with_faces", "int64"), ("faces", "int64"), ("top_frame", "int64"), ("top_frame_score", "float64"),
    ("model_name", "string"), ("model_sha256", "string"), ("runtime", "string"), ("analysis_s", "float64"),
    ("host", "string"), ("result_file", "string"))
NAMES = tuple(name for name, _ in COLUMNS)
#: The analysis part of a row: what a commit record holds.
ANALYSIS_FIELDS = tuple(n for n in NAMES if n not in ("path", "size_bytes", "result_file"))
STATUSES = ("ok", "no_face", "error")

PARQUET = "results.parquet"
SUMMARY = "summary.csv"


def analysis_fields(result: AnalysisResult, analysis_s: float, host: str) -> dict:
    """The analysis part of a row for a finished analysis: status `ok` when a frame had a face, else `no_face`."""
    s = result.summary
    top = top_frames(result, 1)
    return {"sha256": result.video.sha256, "status": "ok" if s.frames_with_faces else "no_face", "error": "",
            "video_score": s.video_score, "verdict": s.verdict, "headline": result.findings().headline,
            "threshold": s.threshold,
            "frames_analysed": s.frames_analysed, "frames_with_faces": s.frames_with_faces,
            "faces": sum(len(f.faces) for f in result.frames),
            "top_frame": top[0].index if top else None, "top_frame_score": top[0].score if top else None,
            "model_name": result.model.name, "model_sha256": result.model.sha256, "runtime": result.settings.runtime,
            "analysis_s": round(float(analysis_s), 3), "host": host}


def error_fields(sha256: str, message: str, model_sha256: str = "", model_name: str = "", analysis_s: float = 0.0,
                 host: str = "") -> dict:
    """The analysis part of a row for a file that could not be analysed (`message`: one line naming it)."""
    return {"sha256": sha256, "status": "error", "error": message, "video_score": None, "verdict": "",
            "headline": "", "threshold": None, "frames_analysed": 0, "frames_with_faces": 0, "faces": 0, "top_frame": None,
            "top_frame_score": None, "model_name": model_name, "model_sha256": model_sha256, "runtime": "",
            "analysis_s": round(float(analysis_s), 3), "host": host}


def make_row(path: str | os.PathLike, size_bytes: int | None, fields: dict, result_file: str = "") -> dict:
    """A full row: the input file's own path and size, the analysis part `fields`, the result file (relative to
    the output folder, "" without one)."""
    row = {"path": os.fspath(path), "size_bytes": size_bytes, **{k: fields.get(k) for k in ANALYSIS_FIELDS},
           "result_file": result_file}
    return {k: row[k] for k in NAMES}


def by_suspicion(rows: list[dict]) -> list[dict]:
    """Rows by video score, highest first; rows without a score (no face, error) after them, by path."""
    return sorted(rows, key=lambda r: (r["video_score"] is None, -(r["video_score"] or 0.0), r["path"]))


def summary_csv(rows: list[dict]) -> str:
    """The CSV text of `summary.csv`: every column, most suspicious first, scores with 4 decimals."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(NAMES)
    for r in by_suspicion(rows):
        w.writerow(["" if r[k] is None else (f"{r[k]:.4f}" if k in ("video_score", "top_frame_score") else r[k])
                    for k in NAMES])
    return buf.getvalue()


def write_tables(rows: list[dict], out: str | os.PathLike) -> tuple[Path, Path]:
    """Write `out/results.parquet` (rows in the given order) and `out/summary.csv`, each atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMNS])
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_open(out / PARQUET, "wb") as f:
        pq.write_table(table, f)
    atomic_write_text(out / SUMMARY, summary_csv(rows))
    return out / PARQUET, out / SUMMARY
