"""Figures for reports and the GUI: the score timeline (matplotlib) and annotated frames (OpenCV).

Images are **BGR uint8** ``(H, W, 3)`` numpy arrays, as OpenCV decodes them. Face boxes and artifact boxes come from
a `FrameResult` in **frame pixels** (xyxy; artifact quadrilaterals as 4 corners TL, TR, BR, BL). Colours follow
the score: shades of green below the threshold, orange to red at or above it.

Matplotlib is used through `matplotlib.figure.Figure` and the Agg canvas only (no pyplot, no global state), so
this module is safe to import inside the Qt GUI.
"""
from __future__ import annotations

import io
from typing import Sequence

import cv2
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from core.common.formatting import fmt_score
from core.analysis.frame_results import FrameResult
from core.analysis.results import AnalysisResult
from core.analysis.summary import track_series
from core.faces.thumbnail import box_region

TRACK_COLOURS = ["#1f77b4", "#9467bd", "#2ca02c", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
                 "#ff7f0e", "#d62728"]
ABOVE_COLOUR = "#d62728"
NOFACE_COLOUR = "#b0b0b0"
MAX_LEGEND_TRACKS = 6


# ----------------------------------------------------------------------------------------------------------------
# colours


#: Artifact boxes have a colour of their own (magenta): their P(artifact) is not on the P(fake) scale, and a box
#: coloured green by it would read as "real" on a face called fake.
ARTIFACT_BGR = (235, 70, 225)


def score_colour_bgr(score: float, threshold: float) -> tuple[int, int, int]:
    """BGR colour for a score: green (low) to yellow-green just below the threshold; orange at the threshold to
    deep red at 1."""
    s = float(np.clip(score, 0.0, 1.0))
    t = float(np.clip(threshold, 1e-6, 1.0))
    if s < t:
        a = s / t  # 0..1
        rgb = (int(40 + 150 * a), int(170 + 20 * a), 60)
    else:
        a = (s - t) / max(1e-6, 1.0 - t)
        rgb = (int(240 - 50 * a), int(120 - 110 * a), 20)
    return rgb[2], rgb[1], rgb[0]


def _text_colour(bg_bgr) -> tuple[int, int, int]:
    b, g, r = bg_bgr
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


# ----------------------------------------------------------------------------------------------------------------
# annotated frames

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _label(img: np.ndarray, text: str, x: float, y: float, colour, scale: float, above: bool = True) -> None:
    """A filled label with its bottom-left at (x, y) (above=True: sits on top of y), kept inside the image."""
    h, w = img.shape[:2]
    thick = max(1, int(round(scale * 1.6)))
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    pad = max(2, int(round(3 * scale)))
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    x0 = int(round(x))
    y0 = int(round(y)) - bh if above else int(round(y))
    if above and y0 < 0:  # no room above: put it just inside/below
        y0 = int(round(y))
    x0 = min(max(0, x0), max(0, w - bw))
    y0 = min(max(0, y0), max(0, h - bh))
    cv2.rectangle(img, (x0, y0), (x0 + bw, y0 + bh), colour, -1)
    cv2.putText(img, text, (x0 + pad, y0 + pad + th), _FONT, scale, _text_colour(colour), thick, cv2.LINE_AA)


def _draw(img: np.ndarray, fr: FrameResult, threshold: float, ox: float, oy: float, zoom: float,
          show_landmarks: bool = False, scale: float | None = None) -> np.ndarray:
    """Draw `fr` onto `img`, mapping frame px (x, y) to image px ((x - ox) * zoom, (y - oy) * zoom).
    Face labels read "T<track> P(fake) <score>"; artifact boxes (ARTIFACT_BGR) are labelled "P(artifact) <score>"."""
    h, w = img.shape[:2]
    if scale is None:  # text grows with the output image: ~2.2 % of its longer side
        scale = float(np.clip(max(h, w) / 1000.0, 0.45, 4.0))
    lw = max(1, int(round(max(h, w) / 600.0)))

    def pt(x, y):
        return (x - ox) * zoom, (y - oy) * zoom

    def visible(box) -> bool:  # faces outside a close-up are not drawn (their labels would be pushed inside)
        x0, y0 = pt(box[0], box[1])
        x1, y1 = pt(box[2], box[3])
        return x1 > 0 and y1 > 0 and x0 < w and y0 < h

    faces = [f for f in fr.faces if visible(f.box)]
    for face in faces:
        for art in face.artifacts_at(threshold):
            col = ARTIFACT_BGR
            quad = np.array([pt(*c) for c in art.corners], np.float64)
            cv2.polylines(img, [np.round(quad).astype(np.int32)], True, col, lw, cv2.LINE_AA)
        if show_landmarks and face.landmarks is not None:
            for x, y in face.landmarks:
                px, py = pt(x, y)
                cv2.circle(img, (int(round(px)), int(round(py))), max(1, lw), (255, 255, 0), -1, cv2.LINE_AA)
    for face in faces:
        col = score_colour_bgr(face.score, threshold)
        x0, y0 = pt(face.box[0], face.box[1])
        x1, y1 = pt(face.box[2], face.box[3])
        cv2.rectangle(img, (int(round(x0)), int(round(y0))), (int(round(x1)), int(round(y1))), col, 2 * lw,
                      cv2.LINE_AA)
        # artifact scores: small labels just below each quadrilateral's bottom-left corner (the face label is above)
        for art in face.artifacts_at(threshold):
            ax, ay = pt(*art.corners[3])
            _label(img, f"P(artifact) {art.score:.2f}", ax, ay + lw, ARTIFACT_BGR, max(0.4, 0.6 * scale), above=False)
        _label(img, f"T{face.track} P(fake) {fmt_score(face.score)}", x0 - lw, y0 - lw, col, scale, above=True)
    return img


def annotate_frame(frame_bgr: np.ndarray, frame_result: FrameResult, threshold: float, *,
                   show_landmarks: bool = False) -> np.ndarray:
    """A copy of the full frame with face boxes (label: track, P(fake), above/below threshold) and artifact
    quadrilaterals (corners, with their scores) drawn, coloured by score. Same size as the input."""
    img = np.ascontiguousarray(frame_bgr[..., :3] if frame_bgr.ndim == 3 else cv2.cvtColor(frame_bgr,
                                                                                            cv2.COLOR_GRAY2BGR))
    return _draw(img.copy(), frame_result, threshold, 0.0, 0.0, 1.0, show_landmarks)


def faces_region(frame_result: FrameResult, width: int, height: int, margin: float = 0.35,
                 faces=None) -> tuple[int, ...] | None:
    """xyxy frame px of a square-ish close-up around `faces` (default: all of the frame's faces; union box grown by
    `margin` of its size on each side, clipped to the frame), or None when there is no face."""
    faces = frame_result.faces if faces is None else faces
    if not faces:
        return None
    return box_region([f.box for f in faces], width, height, margin)


def render_view(frame_bgr: np.ndarray, frame_result: FrameResult, threshold: float, region=None,
                max_side: int = 560, text_scale: float | None = None) -> np.ndarray:
    """An annotated view of `region` (xyxy frame px; None = whole frame) scaled so its longer side is `max_side`
    (up or down). The drawing is done at output resolution, so labels stay legible in thumbnails and close-ups;
    `text_scale` is OpenCV's font scale (default grows with `max_side`)."""
    h, w = frame_bgr.shape[:2]
    x0, y0, x1, y1 = region if region is not None else (0, 0, w, h)
    crop = frame_bgr[y0:y1, x0:x1]
    zoom = max_side / max(crop.shape[0], crop.shape[1])
    size = (max(1, int(round(crop.shape[1] * zoom))), max(1, int(round(crop.shape[0] * zoom))))
    interp = cv2.INTER_AREA if zoom < 1 else cv2.INTER_CUBIC
    out = cv2.resize(crop, size, interpolation=interp)
    if text_scale is None:
        text_scale = float(np.clip(max_side / 900.0, 0.45, 4.0))
    return _draw(np.ascontiguousarray(out), frame_result, threshold, x0, y0, zoom, scale=text_scale)


def encode_png(img_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img_bgr)
    if not ok:
        raise ValueError("could not encode image as PNG")
    return buf.tobytes()


def write_annotated_png(path, frame_bgr: np.ndarray, frame_result: FrameResult, threshold: float, *,
                        show_landmarks: bool = False):
    """`annotate_frame` written atomically as a PNG at `path` (".png" added when missing); returns the path.
    OutputError naming the file when it cannot be encoded or written."""
    from pathlib import Path

    from core.common.atomic import atomic_write_bytes
    from core.common.errors import OutputError

    out = Path(path)
    if out.suffix.lower() != ".png":
        out = out.with_suffix(".png")
    try:
        data = encode_png(annotate_frame(frame_bgr, frame_result, threshold, show_landmarks=show_landmarks))
    except ValueError:
        raise OutputError(out, "could not encode the PNG") from None
    try:
        atomic_write_bytes(out, data)
    except OSError as e:
        raise OutputError(out, f"cannot write ({e.strerror or e})") from None
    return out


# ----------------------------------------------------------------------------------------------------------------
# timeline


def _spans(times: Sequence[float], mask: Sequence[bool], t_end: float) -> list[tuple[float, float]]:
    """Time spans covering consecutive analysed frames where mask is True; each frame owns the interval between
    the midpoints to its neighbours (first from 0 ... last to t_end)."""
    n = len(times)
    spans = []
    for i in range(n):
        if not mask[i]:
            continue
        a = 0.0 if i == 0 else (times[i - 1] + times[i]) / 2
        b = t_end if i == n - 1 else (times[i] + times[i + 1]) / 2
        if spans and abs(spans[-1][1] - a) < 1e-9:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans


def draw_timeline(ax: Axes, result: AnalysisResult, fontsize: float = 9.0) -> None:
    """Per-track P(fake) against time on `ax`: one line per track (broken where the track is absent), the
    threshold as a dashed line, above-threshold frames shaded red and no-face frames shaded grey."""
    thr = result.settings.threshold
    frames = result.frames
    times = [f.time_s for f in frames]
    t_end = max([result.video.duration_s] + times) if times else max(result.video.duration_s, 1.0)
    if t_end <= 0:
        t_end = 1.0
    for a, b in _spans(times, [f.score is not None and f.score >= thr for f in frames], t_end):
        ax.axvspan(a, b, color=ABOVE_COLOUR, alpha=0.13, lw=0)
    for a, b in _spans(times, [f.score is None for f in frames], t_end):
        ax.axvspan(a, b, color=NOFACE_COLOUR, alpha=0.35, lw=0)
    series = track_series(frames)
    tracks = list(series)
    lines = {}
    marker = "o" if len(frames) <= 200 else None
    for k, (track, (t, _, y)) in enumerate(series.items()):
        (lines[track],) = ax.plot(t, y, color=TRACK_COLOURS[k % len(TRACK_COLOURS)], lw=1.4, marker=marker,
                                  ms=3.5, label=f"track {track}")
    # the legend names at most MAX_LEGEND_TRACKS tracks: those with the highest scores
    shown = sorted(tracks, key=lambda t: -np.nanmax(lines[t].get_ydata()))[:MAX_LEGEND_TRACKS]
    handles = [lines[t] for t in sorted(shown)]
    if len(tracks) > len(shown):
        handles.append(Patch(color="none", label=f"+{len(tracks) - len(shown)} more tracks"))
    thr_line = ax.axhline(thr, color=ABOVE_COLOUR, ls="--", lw=1.2, label=f"threshold {thr:.2f}")
    handles += [thr_line, Patch(color=ABOVE_COLOUR, alpha=0.13, label="frame at/above threshold"),
                Patch(color=NOFACE_COLOUR, alpha=0.35, label="no face found")]
    ax.set_xlim(0, t_end)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time in video (s)", fontsize=fontsize)
    ax.set_ylabel("P(fake)", fontsize=fontsize)
    ax.tick_params(labelsize=fontsize * 0.9)
    ax.grid(True, color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    if not frames:
        ax.text(0.5, 0.5, "no frames analysed", ha="center", va="center", transform=ax.transAxes,
                fontsize=fontsize)
    ncol = len(handles) if len(handles) <= 6 else 4
    ax.legend(handles=handles, fontsize=fontsize * 0.85, ncol=ncol, loc="lower left", bbox_to_anchor=(0, 1.01),
              frameon=False, borderaxespad=0.0, handlelength=1.6, columnspacing=1.2)


def timeline_figure(result: AnalysisResult, width_in: float = 10.0, height_in: float = 3.4, dpi: int = 130) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0.07, 0.16, 0.9, 0.62])
    draw_timeline(ax, result)
    return fig


def timeline_png(result: AnalysisResult, width_in: float = 10.0, height_in: float = 3.4, dpi: int = 130) -> bytes:
    """The timeline as PNG bytes."""
    fig = timeline_figure(result, width_in, height_in, dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()
