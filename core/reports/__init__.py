"""Reports written from an analysis result: report.json, frames.csv, report.html, report.pdf.

`write_reports(result, out_dir, formats, frame_source, top_n)` renders everything in memory first, then writes
each file atomically. Reports never open the video: `frame_source(index) -> BGR uint8 (H, W, 3) | None` supplies
full frames (frame pixel coordinates match the result's boxes). Modules: `figures` (timeline, annotated frames),
`content` (what HTML and PDF say), `csv_report`, `html_report`, `pdf_report`; they are imported when a format needs
them, so `FORMATS` costs nothing to import.

May import: `core.analysis` (results, findings), `core.faces` (thumbnails), `core.media`, `core.common`. Never
imports cases, screening, the CLIs or the app.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from core.common.atomic import atomic_write_bytes
from core.common.errors import OutputError

if TYPE_CHECKING:
    from core.reports.content import FrameSource
    from core.analysis.results import AnalysisResult

#: The report formats, in the order they are written; `caddm-analyze --format` and the export dialog offer these.
FORMATS = ("json", "csv", "html", "pdf")
FILENAMES = {"json": "report.json", "csv": "frames.csv", "html": "report.html", "pdf": "report.pdf"}
#: What a menu calls each format, in menu order (the readable reports first).
FORMAT_LABELS = {"html": "HTML", "pdf": "PDF", "json": "JSON", "csv": "CSV (frames)"}

__all__ = ["FORMATS", "FILENAMES", "FORMAT_LABELS", "write_reports", "render_reports"]


def render_reports(result: AnalysisResult, formats: Iterable[str] = FORMATS, frame_source: FrameSource | None = None,
                   top_n: int = 6) -> dict[str, bytes]:
    """The report files' contents, by format, without writing anything."""
    formats = list(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown report format(s) {bad}; choose from {FORMATS}")
    out: dict[str, bytes] = {}
    if "json" in formats:
        out["json"] = (result.to_json(indent=1) + "\n").encode("utf-8")
    if "csv" in formats:
        from core.reports.csv_report import csv_text
        out["csv"] = csv_text(result).encode("utf-8")
    if "html" in formats or "pdf" in formats:
        from core.reports.content import build_content
        content = build_content(result, frame_source, top_n)
        if "html" in formats:
            from core.reports.figures import timeline_png
            from core.reports.html_report import render_html
            out["html"] = render_html(content, timeline_png(result), result.settings.threshold).encode("utf-8")
        if "pdf" in formats:
            from core.reports.pdf_report import render_pdf
            out["pdf"] = render_pdf(result, content)
    return {f: out[f] for f in formats}


def write_reports(result: AnalysisResult, out_dir: str | os.PathLike, formats: Iterable[str] = FORMATS,
                  frame_source: FrameSource | None = None, top_n: int = 6) -> dict[str, Path]:
    """Write the chosen formats into `out_dir` (created if needed) and return {format: path}.

    Everything is rendered before the first file is written, and each file is written atomically. When a file
    cannot be written, the files this call already wrote are removed and OutputError names the failing path, so
    a failed call leaves no partial report set and no half-written file.
    """
    data = render_reports(result, formats, frame_source, top_n)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(out, f"cannot create report folder: {e.strerror or e}") from e
    written: dict[str, Path] = {}
    for fmt, blob in data.items():
        path = out / FILENAMES[fmt]
        try:
            atomic_write_bytes(path, blob)
        except OSError as e:
            for p in written.values():
                with contextlib.suppress(OSError):
                    p.unlink()
            raise OutputError(path, f"cannot write report: {e.strerror or e}") from e
        written[fmt] = path
    return written
