"""report.html: one self-contained file (inline CSS, images as base64 PNG data URIs, no scripts, no external
links). Every piece of user or file text (case, notes, paths, metadata) is HTML-escaped."""
from __future__ import annotations

import base64
from html import escape

import numpy as np

from core.analysis.findings import LEVEL_COLOURS
from core.common.formatting import fmt_score, fmt_time
from core.reports.content import ReportContent
from core.reports.figures import encode_png

CSS = """
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;color:#1a1a1a;margin:0;background:#f4f4f4}
main{max-width:1000px;margin:0 auto;background:#fff;padding:28px 36px 40px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;border-bottom:2px solid #333;padding-bottom:3px;margin:26px 0 10px}
h3{font-size:14px;margin:14px 0 6px}
.sub{color:#555;font-size:12px;margin-bottom:14px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border:1px solid #ccc;padding:4px 7px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eee}
table.kv th{width:28%;font-weight:600}table.kv td{white-space:pre-wrap}
td.mono,.mono{font-family:"DejaVu Sans Mono",Consolas,monospace;word-break:break-all}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict{border:3px solid #333;border-radius:6px;padding:12px 18px;margin:12px 0}
.verdict .label{font-size:30px;font-weight:800;letter-spacing:1px;margin-bottom:6px}
.verdict .line{font-size:15px;font-weight:600}
.warn{background:#fff3cd;border:2px solid #b8860b;padding:8px 12px;font-weight:700;margin:10px 0}
p.expl{font-size:13px;line-height:1.45;margin:6px 0}
img.timeline{width:100%;border:1px solid #ddd}
img.thumb{display:block;border:1px solid #999}
.frames{display:flex;flex-direction:column;gap:14px}
.frame{border:1px solid #ccc;border-radius:4px;padding:10px;page-break-inside:avoid}
.frame .imgs{display:flex;gap:10px;align-items:flex-start;flex-wrap:wrap}
.frame img{max-width:100%;border:1px solid #999}
.frame .cap{font-size:13px;margin-top:6px}.frame .cap b{font-size:14px}
.frame ul{margin:4px 0 0 18px;padding:0;font-size:12px}
.note{background:#eef3fb;border-left:4px solid #1f5fbf;padding:5px 9px;margin-top:6px;font-size:13px;white-space:pre-wrap}
.missing{color:#a00;font-style:italic;font-size:13px}
footer{margin-top:30px;font-size:11px;color:#666;border-top:1px solid #ccc;padding-top:6px}
@media print{body{background:#fff}main{padding:0}}
"""


def _e(s) -> str:
    return escape(str(s), quote=True)


def data_uri_png(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(img_bgr: np.ndarray | None, alt: str, cls: str = "") -> str:
    if img_bgr is None:
        return ""
    h, w = img_bgr.shape[:2]
    c = f' class="{cls}"' if cls else ""
    return f'<img{c} width="{w}" height="{h}" alt="{_e(alt)}" src="{data_uri_png(encode_png(img_bgr))}">'


MONO = {"SHA-256", "Checkpoint SHA-256", "File", "Checkpoint file"}


def _kv(rows) -> str:
    body = "".join(f'<tr><th>{_e(k)}</th><td{" class=mono" if k in MONO else ""}>{_e(v)}</td></tr>'
                   for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _table(header, rows, numeric_from: int = 1) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i >= numeric_from else ""}>{_e(c)}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _thumb_table(header, rows) -> str:
    """A table whose first column holds an image (or "no image") and the others text."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr><td>" + (_img(img, f"face of person {cells[0]}", "thumb") if img is not None else
                                 '<span class="missing">no image</span>') + "</td>"
                   + "".join(f'<td{" class=num" if i < 6 else ""}>{_e(c)}</td>' for i, c in enumerate(cells))
                   + "</tr>" for img, cells in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _frame_card(e, threshold: float) -> str:
    fr = e.frame
    head = (f"<b>Frame {fr.index}</b> at {fmt_time(fr.time_s)} ({fr.time_s:.3f} s) &middot; "
            f"frame score {fmt_score(fr.score)}"
            f"{' (at/above threshold)' if fr.score is not None and fr.score >= threshold else ''}"
            f" &middot; {_e(', '.join(e.reasons))}")
    if e.shown_above:
        imgs = ""
        faces = '<li>Images and face scores: see \u201cMost suspicious frames\u201d above.</li>'
    else:
        if e.view is not None:
            closeups = "".join(_img(c, f"frame {fr.index}, close-up of a face") for c in e.closeups)
            imgs = f'<div class="imgs">{_img(e.view, f"frame {fr.index}, annotated")}{closeups}</div>'
        else:
            imgs = f'<div class="missing">{_e(e.problem or "no image")}</div>'
        faces = "".join(f"<li>{_e(line)}</li>" for line in e.face_lines())
    note = f'<div class="note"><b>Analyst note:</b> {_e(e.note)}</div>' if e.note else ""
    return f'<div class="frame">{imgs}<div class="cap">{head}<ul>{faces}</ul>{note}</div></div>'


def render_html(c: ReportContent, timeline_png: bytes, threshold: float) -> str:
    edge, face = LEVEL_COLOURS[c.level]
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
             f'<meta name="viewport" content="width=device-width,initial-scale=1">'
             f"<title>{_e(c.title)}</title><style>{CSS}</style></head><body><main>",
             f"<h1>{_e(c.title)}</h1>",
             f'<div class="sub">CADDM Inspector frame report &middot; generated {_e(c.generated_utc)} &middot; '
             f'evidence SHA-256 <span class="mono">{_e(c.sha_prefix)}&hellip;</span></div>']
    parts += [f'<div class="warn">{_e(w)}</div>' for w in c.warnings]
    if c.case_rows:
        parts += ["<h2>Case</h2>", _kv(c.case_rows)]
    parts += ["<h2>Findings</h2>",
              f'<div class="verdict {c.level}" style="border-color:{edge};background:{face}">'
              f'<div class="label" style="color:{edge}">{_e(c.headline)}</div>'
              f'<div><div class="line">{_e(c.reason)}</div>'
              f'<div class="expl">Decision threshold: {threshold:.3f}</div></div></div>',
              _table(*c.evidence_table, numeric_from=99)]
    parts += [f'<p class="expl">{_e(p)}</p>' for p in c.explanation]
    parts += [_kv(c.summary_rows)]
    parts += ["<h2>Evidence</h2>", _kv(c.evidence_rows)]
    parts += ["<h2>Score over time</h2>",
              f'<img class="timeline" alt="P(fake) per face track over time" src="{data_uri_png(timeline_png)}">']
    header, rows = c.track_table
    parts += ["<h2>Face tracks</h2>", _table(header, rows) if rows else "<p class=expl>No face tracks.</p>"]
    if c.track_review_rows:
        parts += ["<h2>Face tracks flagged or annotated by the analyst</h2>", _kv(c.track_review_rows)]
    parts += ["<h2>Identity</h2>"] + [f'<p class="expl">{_e(p)}</p>' for p in c.identity_text]
    if c.reference_table is not None:
        parts += ["<h3>Reference files</h3>", _table(*c.reference_table, numeric_from=3)]
    if c.identity_table is not None and c.identity_table[1]:
        parts += ["<h3>Per track</h3>", _table(*c.identity_table)]
    if c.identities_table is not None:
        parts += ["<h3>People in the video</h3>", _thumb_table(*c.identities_table)]
    parts += ["<h2>Model</h2>", _kv(c.model_rows), "<h2>Settings</h2>", _kv(c.settings_rows)]
    parts += ["<h2>Most suspicious frames</h2>"]
    if c.top:
        parts += ['<p class="expl">Boxes: face (label: track and P(fake)) and artifact regions (label: score), '
                  'red at/above the threshold, green below. Images are downscaled views for orientation; the '
                  'evidence file itself is authoritative.</p>',
                  '<div class="frames">' + "".join(_frame_card(e, threshold) for e in c.top) + "</div>"]
    else:
        parts += ['<p class="expl">No frame had a face.</p>']
    if c.reviewed:
        parts += ["<h2>Frames flagged or annotated by the analyst</h2>",
                  '<div class="frames">' + "".join(_frame_card(e, threshold) for e in c.reviewed) + "</div>"]
    if c.timing_rows:
        parts += ["<h2>Timings</h2>", _kv(c.timing_rows)]
    parts += ["<h2>About this report</h2>", _kv(c.about_rows)]
    parts += [f"<footer>{_e(c.about_rows[0][1])} &middot; evidence SHA-256 {_e(c.sha_prefix)}&hellip; &middot; "
              f"generated {_e(c.generated_utc)}</footer></main></body></html>"]
    return "\n".join(parts) + "\n"
