"""What the HTML and PDF reports say, gathered once so both read the same: labelled rows, tables, the verdict
text, and the frames to show (most suspicious + the analyst's flagged/noted ones) with their images.

Rows are ``(label, value)`` string pairs; tables are ``(header, rows)`` of strings. Frame images are **BGR uint8**
views rendered at report resolution by `figures.render_view` (the whole frame, and a close-up around the faces).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from core.media.evidence import media_summary
from core.common.formatting import DASH, fmt_score, fmt_share, fmt_size, fmt_time
from core.reports.figures import faces_region, render_view
from core.analysis.frame_results import FrameResult
from core.analysis.results import LATENCIES, AnalysisResult, top_frames, utc_now

FrameSource = Callable[[int], Optional[np.ndarray]]


def _compact(d: dict) -> str:
    return json.dumps(d, sort_keys=True, ensure_ascii=False, default=str) if d else DASH


def detector_text(detector: dict) -> str:
    """The report's face-detector row: the detector by name, then the settings it ran with (a result recorded before
    the choice existed ran HOG)."""
    from core.faces.detector_choice import DETECTOR_LABELS, LEGACY_DETECTOR

    if not detector:
        return DASH
    name = detector.get("detector", LEGACY_DETECTOR)
    return f"{DETECTOR_LABELS.get(name, name)}; settings {_compact(detector)}"


MODEL_CARD_ROWS = (("description", "Description"), ("steps", "Training steps"), ("created_utc", "Created (UTC)"),
                   ("licence", "Licence"), ("limits", "Known limits"))


def calibration_text(card: dict, threshold: float) -> str:
    """What the model card says about its calibrated threshold, and whether this analysis used it."""
    from core.analysis.findings import calibration, calibration_rates, is_calibrated

    cal = calibration(card)
    if cal is None:
        return f"none in the model card; this analysis used {threshold:.3f}"
    used = ("this analysis used it" if is_calibrated(card, threshold) else
            f"this analysis used {threshold:.3f} instead")
    on = f" (on {cal['data']})" if isinstance(cal.get("data"), str) else ""
    return f"{float(cal['threshold']):.3f}{on}: " + "; ".join(calibration_rates(card) + [used])


EVIDENCE_HEADER = ["Line of evidence", "Status", "Finding", "What the threshold means (measured)"]


def evidence_table(findings) -> tuple[list[str], list[list[str]]]:
    """The findings' lines of evidence as a report table (`EVIDENCE_HEADER`)."""
    return EVIDENCE_HEADER, [[e.name, e.status, e.text, e.meaning] for e in findings.evidence]


@dataclass
class FrameEntry:
    """A frame shown in a report: its result, why it is shown, and its rendered views: the whole frame (`view`,
    None when the frame could not be fetched; `problem` says why) and one close-up per face (highest score
    first, at most 3; none when the faces already fill the frame). `shown_above`: a reviewed frame that is also
    among the most suspicious, whose images are not repeated."""

    frame: FrameResult
    reasons: list[str] = field(default_factory=list)
    flagged: bool = False
    note: str = ""
    view: np.ndarray | None = None
    closeups: list[np.ndarray] = field(default_factory=list)
    problem: str | None = None
    shown_above: bool = False
    threshold: float = 0.5

    def face_lines(self) -> list[str]:
        """One line per face: track, P(fake), box, and its artifact scores (faces at/above the threshold)."""
        out = []
        for i, f in enumerate(self.frame.faces):
            b = ", ".join(f"{v:.0f}" for v in f.box)
            arts = ", ".join(f"{a.score:.2f}" for a in f.artifacts_at(self.threshold)) or "none"
            out.append(f"face {i} (track {f.track}): P(fake) {fmt_score(f.score)}; box [{b}] px; artifacts: {arts}")
        if not out:
            out.append("no face found in this frame")
        return out


@dataclass
class ReportContent:
    title: str
    #: core.analysis.findings: the headline, its colour ("alert", "caution", "inconclusive", "none") and the sentence
    #: under it
    headline: str
    level: str
    reason: str
    evidence_table: tuple[list[str], list[list[str]]]
    explanation: list[str]
    warnings: list[str]
    case_rows: list[tuple[str, str]] | None
    evidence_rows: list[tuple[str, str]]
    model_rows: list[tuple[str, str]]
    settings_rows: list[tuple[str, str]]
    summary_rows: list[tuple[str, str]]
    track_table: tuple[list[str], list[list[str]]]
    track_review_rows: list[tuple[str, str]]
    identity_text: list[str]
    reference_table: tuple[list[str], list[list[str]]] | None
    identity_table: tuple[list[str], list[list[str]]] | None
    #: the distinct people: (header, rows), each row (thumbnail BGR or None, cells); the thumbnail's column first
    identities_table: tuple[list[str], list[tuple[np.ndarray | None, list[str]]]] | None
    timing_rows: list[tuple[str, str]]
    about_rows: list[tuple[str, str]]
    top: list[FrameEntry]
    reviewed: list[FrameEntry]
    sha_prefix: str
    generated_utc: str


LIMITS = ("The artifact score is a statistical estimate from one detection model, not proof. It depends on what "
          "the model was trained on, on video quality, compression and resolution, and on face detection; "
          "manipulation methods the model has not seen may score low, and heavy compression can raise the score of "
          "authentic video. The absence of a finding does not show that a video is authentic. Artifact boxes mark "
          "where the model found blending traces; they are not a precise map of the manipulation. Weigh this "
          "result together with other evidence and expert review.")


def _explanation(result: AnalysisResult) -> list[str]:
    """The paragraphs under the headline: how the video score is made (or why there is none), and the limits."""
    s = result.summary
    if s.verdict == "no face":
        return [f"No face was detected in any of the {s.frames_analysed} analysed frames, so the model gives no "
                "score. This says nothing about whether the video is authentic.", LIMITS]
    how = (f"The video score is the mean of the per-frame fake probabilities P(fake) over the "
           f"{s.frames_with_faces} analysed frames in which a face was found (a frame's score is the highest "
           f"among its faces). It ranges from 0 (looks authentic to the model) to 1 (looks manipulated).")
    return [how, LIMITS]


def _thumbnail(frame_source: FrameSource | None, index: int, box) -> np.ndarray | None:
    from core.faces.thumbnail import face_thumbnail

    if frame_source is None:
        return None
    try:
        img = frame_source(index)
    except Exception:  # noqa: BLE001 - a report is still written, without this thumbnail
        return None
    return None if img is None else face_thumbnail(img, box, IDENTITY_THUMB)


#: Side in px of an identity thumbnail in the reports.
IDENTITY_THUMB = 112


def _identities(result: AnalysisResult, frame_source: FrameSource | None):
    """(paragraph, (header, [(thumbnail, cells)])) for the distinct people of the video, or (None, None)."""
    from core.faces.identity import DIFFERENT_MIN, SAME_MAX

    ids = result.identities or []
    if not ids:
        return None, None
    n = len(ids)
    text = (f"Distinct people: {n}. Face tracks are grouped into one person when the average distance between "
            f"their median descriptors is at most {SAME_MAX:.2f}; two people less than {DIFFERENT_MIN:.2f} apart "
            f"may still be one (their distance is shown). Each is shown by the described face nearest its median "
            f"descriptor.")
    rows = []
    for c in ids:
        if c.nearest is None:
            nearest = DASH
        else:
            maybe = " (may be the same person)" if c.nearest_distance < DIFFERENT_MIN else ""
            nearest = f"{c.nearest} at {c.nearest_distance:.3f}{maybe}"
        ref = "no reference" if result.reference is None else (
            DASH if c.median is None else f"{c.median:.3f}: {c.verdict}")
        rows.append((_thumbnail(frame_source, c.face_frame, c.face_box),
                     [str(c.id), ", ".join(map(str, c.tracks)), str(c.n_frames), f"{c.first_frame}\u2013{c.last_frame}",
                      str(c.n_described), DASH if c.spread is None else f"{c.spread:.3f}", nearest, ref]))
    header = ["Face", "Person", "Tracks", "Frames", "First\u2013last frame", "Described", "Spread",
              "Nearest other person", "Against the reference"]
    return text, (header, rows)


def _identity(result: AnalysisResult, frame_source: FrameSource | None = None):
    """(paragraphs, reference files table or None, per-track table or None, people table or None) of the report's
    Identity section."""
    from core.faces.identity import DIFFERENT_MIN, JUMP_DISTANCE, MIN_FACES, SAME_MAX

    about = (f"Identity is a second line of evidence, separate from the model's P(fake) and never mixed into it. "
             f"Each described face gets a 128-number descriptor from dlib's face-recognition network; descriptors "
             f"of one person lie close together (Euclidean distance). Compared with a reference of the claimed "
             f"person, a track whose median distance is at most {SAME_MAX:.2f} reads \u201csame person\u201d, at "
             f"least {DIFFERENT_MIN:.2f} \u201cdifferent person\u201d (dlib's published operating point is 0.6), in "
             f"between, or with fewer than {MIN_FACES} described faces, \u201cinconclusive\u201d. Consistency needs no "
             f"reference: each face's distance to its track's median descriptor; frames above {JUMP_DISTANCE:.2f} "
             f"are listed as jumps (the face changes identity within the track).")
    limits = ("What it can show: a face swap replaces the claimed person's inner face with someone else's, and "
              "then lies far from the reference. What it cannot show: expression re-enactment (such as Face2Face "
              "or NeuralTextures) and lip-sync keep the person's identity and pass this check, so \u201csame "
              "person\u201d does not mean the video is authentic. \u201cDifferent person\u201d is only as good as "
              "the reference: it must truly show the claimed person; lookalikes, years between recordings, heavy "
              "compression, profile views and small faces move distances.")
    described = sum(f.descriptor is not None for fr in result.frames for f in fr.faces)
    every = (result.settings.extra.get("identity") or {}).get("every")
    if not described:
        status = ("Identity descriptors were not computed in this analysis." if "identity" not in
                  result.settings.extra else "No analysed face was described.")
        return [status, about, limits], None, None, None
    how = f"{described} faces were described" + (f" (a track's first analysed frame, then one in every {every})"
                                                  if every and every > 1 else "") + "."
    ref = result.reference
    ref_table = None
    if ref is None:
        how += " No reference of the claimed person was given: only the consistency within each track is shown."
    else:
        used = len(ref.descriptors)
        how += (f" Reference: {len(ref.files)} file(s), {used} face(s) used." if used else
                " A reference was given but no face was found in it: no distances were computed.")
        ref_table = (["File", "SHA-256", "Notes", "Images read", "Faces found", "Faces used"],
                     [[f.path, f.sha256 or DASH, "; ".join(f.notes) or DASH, f"{f.frames_read} ({f.kind})",
                       str(f.faces_found), str(f.faces_used)] for f in ref.files])
    rows = []
    for t in result.tracks:
        i = t.identity
        if i is None:
            rows.append([str(t.track), "0"] + [DASH] * 5)
            continue
        spread = DASH if i.p10 is None else f"{i.p10:.3f}\u2013{i.p90:.3f}"
        median = DASH if i.median is None else f"{i.median:.3f}"
        jumps = ", ".join(map(str, i.jumps[:12])) + (f" (+{len(i.jumps) - 12})" if len(i.jumps) > 12 else "")
        rows.append([str(t.track), str(i.n), median, spread, i.verdict or "no reference",
                     f"{i.consistency_median:.3f} / {i.consistency_max:.3f}", jumps or "none"])
    header = ["Track", "Faces described", "Median distance", "10th\u201390th pct.", "Verdict",
              "Consistency median / max", "Jump frames"]
    people, people_table = _identities(result, frame_source)
    return [how] + ([people] if people else []) + [about, limits], ref_table, (header, rows), people_table


def build_content(result: AnalysisResult, frame_source: FrameSource | None = None, top_n: int = 6,
                  view_side: int = 560, closeup_side: int = 360) -> ReportContent:
    v, m, st, s = result.video, result.model, result.settings, result.summary
    findings = result.findings()
    explanation = _explanation(result)
    warnings = []
    if not result.complete:
        warnings.append(f"INCOMPLETE ANALYSIS: the run did not finish; only {len(result.frames)} frames were "
                        "analysed. The figures below cover those frames only.")
    case_rows = None
    if result.case is not None:
        case_rows = [("Case ID", result.case.case_id or DASH), ("Analyst", result.case.analyst or DASH)]
        if result.case.notes:
            case_rows.append(("Case notes", result.case.notes))
        if result.case.audit:
            case_rows.append(("Case audit log", result.case.audit))
    rot = f"; rotated {v.rotation}\u00b0" if v.rotation else ""
    evidence_rows = [("File", v.path), ("SHA-256", v.sha256), ("Size", fmt_size(v.size_bytes)),
                     ("Container / codec", f"{v.container} / {v.codec}"), ("Media", media_summary(v)),
                     ("Frame size", f"{v.width} \u00d7 {v.height} px{rot}"),
                     ("Frame rate", f"{v.fps:.3f} fps"), ("Frames", f"{v.frame_count:,}"),
                     ("Duration", f"{v.duration_s:.3f} s ({fmt_time(v.duration_s)})")]
    model_rows = [("Model", m.name), ("Backbone", m.backbone), ("Checkpoint SHA-256", m.sha256),
                  ("Checkpoint file", m.path), ("Input size", f"{m.input_size} \u00d7 {m.input_size} px face crop")]
    # the model card's human parts; the full card stays in the checkpoint and in report.json
    for card_key, row_name in MODEL_CARD_ROWS:
        value = m.metadata.get(card_key)
        if value not in (None, "", {}, []):
            model_rows.append((row_name, value if isinstance(value, str) else _compact(value)))
    model_rows.append(("Threshold calibration", calibration_text(m.metadata, st.threshold)))
    settings_rows = [("Frames analysed", f"{st.frame_selection.describe()} ({s.frames_analysed} frames)"),
                     ("Threshold", f"{st.threshold:.3f}"),
                     ("Device", f"{st.device} ({st.runtime})" if st.runtime else st.device),
                     ("Batch size", str(st.batch_size)), ("Face detector", detector_text(st.detector))]
    if st.extra:
        settings_rows.append(("Other settings", _compact(st.extra)))
    summary_rows = [("Video score (mean P(fake))", fmt_score(s.video_score)),
                    ("Highest frame score", fmt_score(s.max_score)),
                    ("Frames at/above threshold", fmt_share(s.share_above)),
                    ("Frames analysed / with a face", f"{s.frames_analysed} / {s.frames_with_faces}"),
                    ("Face tracks", str(s.n_tracks))]
    header = ["Track", "First frame", "Last frame", "From", "To", "Frames", "Mean P(fake)", "Max P(fake)",
              "At/above thr."]
    rows = [[str(t.track), str(t.first_frame), str(t.last_frame), fmt_time(t.start_s), fmt_time(t.end_s),
             str(t.n_frames), fmt_score(t.mean_score), fmt_score(t.max_score), fmt_share(t.share_above)]
            for t in result.tracks]
    rv = result.review
    track_review_rows = [(f"Track {t}", "; ".join((["flagged by analyst"] if t in rv.track_flags else [])
                                                  + ([f"note: {rv.track_notes[t]}"] if t in rv.track_notes else [])))
                         for t in sorted(rv.track_flags | set(rv.track_notes))]
    identity_text, reference_table, identity_table, identities_table = _identity(result, frame_source)
    timing_rows = [(LATENCIES.get(k, k), f"{v_:.2f} s") for k, v_ in result.timings.items()]
    if timing_rows and "total" not in result.timings:  # results from before the engine recorded its total
        timing_rows.append(("total", f"{sum(v_ for k, v_ in result.timings.items() if k not in LATENCIES):.2f} s"))
    generated = utc_now()
    about_rows = [("Software", f"{result.software.get('name', '')} {result.software.get('version', '')}"),
                  ("Analysis run (UTC)", result.created_utc), ("Report generated (UTC)", generated),
                  ("Result schema", result.schema)]

    # frames to show
    entries: dict[int, FrameEntry] = {}
    top = []
    for rank, fr in enumerate(top_frames(result, top_n), 1):
        e = entries.setdefault(fr.index, FrameEntry(fr, threshold=s.threshold))
        e.reasons.append(f"#{rank} most suspicious")
        top.append(e)
    reviewed = []
    for idx in result.review.reviewed_indices():
        fr = result.frame(idx)
        if fr is None:
            continue
        flagged, note = idx in result.review.flags, result.review.notes.get(idx, "")
        why = "flagged by analyst" if flagged else "analyst note"
        shown = entries.get(idx)
        if shown is not None:  # already among the most suspicious: mark it there, list it here without images
            shown.flagged, shown.note = flagged, note
            shown.reasons.append(why)
            reviewed.append(FrameEntry(fr, reasons=list(shown.reasons), flagged=flagged, note=note,
                                       shown_above=True, threshold=s.threshold))
        else:
            e = entries[idx] = FrameEntry(fr, reasons=[why], flagged=flagged, note=note, threshold=s.threshold)
            reviewed.append(e)
    for idx in sorted(entries):  # in frame order: the reader runs forward instead of seeking back for each
        e = entries[idx]
        if frame_source is None:
            e.problem = "frame image not supplied"
            continue
        try:
            img = frame_source(idx)
        except Exception as exc:  # a report is still written; the frame says why its image is missing
            img, e.problem = None, f"frame could not be read ({type(exc).__name__}: {exc})"
        if img is None:
            e.problem = e.problem or "frame image not available"
            continue
        thr = st.threshold
        e.view = render_view(img, e.frame, thr, None, view_side)
        h, w = img.shape[:2]
        for face in sorted(e.frame.faces, key=lambda f: -f.score)[:3]:
            region = faces_region(e.frame, w, h, faces=[face])
            if region is None or (region[2] - region[0]) * (region[3] - region[1]) > 0.5 * w * h:
                continue
            e.closeups.append(render_view(img, e.frame, thr, region, closeup_side, text_scale=0.55))
    case_id = result.case.case_id if result.case is not None and result.case.case_id else None
    title = "Deepfake analysis report" + (f" \u2014 case {case_id}" if case_id else "")
    return ReportContent(title=title, headline=findings.headline, level=findings.level, reason=findings.reason,
                         evidence_table=evidence_table(findings),
                         explanation=explanation, warnings=warnings, case_rows=case_rows,
                         evidence_rows=evidence_rows, model_rows=model_rows, settings_rows=settings_rows,
                         summary_rows=summary_rows, track_table=(header, rows),
                         track_review_rows=track_review_rows, identity_text=identity_text,
                         reference_table=reference_table, identity_table=identity_table,
                         identities_table=identities_table, timing_rows=timing_rows,
                         about_rows=about_rows, top=top, reviewed=reviewed, sha_prefix=v.sha256[:16],
                         generated_utc=generated)
