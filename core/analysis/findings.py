"""The headline of an analysis: the findings its lines of evidence support, never a claim that a video is authentic.

A detector with the bundled model's measured accuracy cannot certify a video as real, and the absence of a finding
is not authenticity. So the headline names findings, and each line of evidence stands in a small table under it
with its figure, its threshold and what that threshold means in measurements:

    line          figure                                   fires (a finding)                      measured by
    artifact      video score (mean P(fake))               score >= threshold                     the model card's calibration
    identity      median distance of the video's person    no person is the claimed one and the   bench/identity_bench.py
                  to the reference                         main person is "different person"
    consistency   largest distance of a face to its        a face beyond JUMP_DISTANCE            bench/identity_bench.py
                  track's median descriptor                                                       --consistency
    coverage      frames with a face / analysed            never; under MIN_FACE_FRAMES it makes
                                                           the analysis inconclusive

Each line's `status`: "finding", "clear" (checked, nothing found), "inconclusive" (checked, no answer) or "not run"
(e.g. no reference given). The headline (`Findings.headline`):
- every finding that fired, strongest first, joined by " + ": MANIPULATION SUSPECTED (artifact), IDENTITY MISMATCH
  (identity), IDENTITY CHANGE IN A TRACK (consistency);
- else INCONCLUSIVE when a line that was asked for could not answer (no face, too few frames with a face, a
  reference that could not be compared);
- else NO FINDING.
`level` picks the colour: "alert" (manipulation or identity mismatch), "caution" (identity change only),
"inconclusive", "none". No headline is green: nothing here says "authentic".

Pure and Qt-free; it reads duck-typed parts of a result (`core.analysis.summary.Summary`, `TrackSummary`,
`IdentityCluster`) so that `core.analysis.results` can import it without a cycle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from core.faces.identity_thresholds import (DIFFERENT_MIN, JUMP_DISTANCE, MEASURED_GENUINE, MEASURED_OTHERS,
                                            MEASURED_REAL_TRACKS_WITH_JUMPS, MEASURED_SWAPS, MIN_FACES, SAME_MAX)
from core.common.formatting import fmt_score, fmt_share

STATUSES = ("finding", "clear", "inconclusive", "not run")
LEVELS = ("alert", "caution", "inconclusive", "none")  # strongest first
#: per level: (strong colour: the headline's text or fill, light background), the app's and the reports' one home
LEVEL_COLOURS = {"alert": ("#c62828", "#fdecea"), "caution": ("#b25e00", "#fff3e0"),
                 "inconclusive": ("#555555", "#f2f2f2"), "none": ("#37474f", "#eceff1")}
#: the artifact line's stored verdict (`Summary.verdict`; a case's analyses table keeps only it) in words, and its
#: level: never "REAL", since no finding is not authenticity
ARTIFACT_VERDICT_WORDS = {"fake": ("artifact finding", "alert"), "real": ("no artifact finding", "none"),
                          "no face": ("no face", "inconclusive")}
MIN_FACE_FRAMES = 3  # fewer analysed frames with a face than this: too little to weigh (the headline is inconclusive)

MANIPULATION, MISMATCH, CHANGE = "MANIPULATION SUSPECTED", "IDENTITY MISMATCH", "IDENTITY CHANGE IN A TRACK"
INCONCLUSIVE, NO_FINDING = "INCONCLUSIVE", "NO FINDING"
LINE_NAMES = {"artifact": "Artifact model", "identity": "Identity vs reference",
              "consistency": "Identity within tracks", "coverage": "Coverage"}


@dataclass(frozen=True)
class EvidenceLine:
    """One line of evidence. key: "artifact" / "identity" / "consistency" / "coverage"; value: its figure (see the
    module table; None when there is none); threshold: the line it is compared with (None for none); text: what was
    found, in words; meaning: what the threshold means, measured."""

    key: str
    status: str
    value: float | None
    threshold: float | None
    text: str
    meaning: str

    @property
    def name(self) -> str:
        return LINE_NAMES[self.key]

    def to_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "status": self.status, "value": self.value,
                "threshold": self.threshold, "text": self.text, "meaning": self.meaning}


@dataclass(frozen=True)
class Findings:
    """headline: the findings that fired (or INCONCLUSIVE / NO FINDING); level: the colour (`LEVELS`); fired: the
    finding names in the headline; reason: one sentence under it; evidence: the four lines, in table order."""

    headline: str
    level: str
    fired: tuple[str, ...]
    reason: str
    evidence: tuple[EvidenceLine, ...]

    def line(self, key: str) -> EvidenceLine:
        return next(e for e in self.evidence if e.key == key)

    def to_dict(self) -> dict:
        return {"headline": self.headline, "level": self.level, "fired": list(self.fired), "reason": self.reason,
                "evidence": [e.to_dict() for e in self.evidence]}


# -- the threshold's measured meaning ------------------------------------------------------------------------------

def calibration(card: dict) -> dict | None:
    """The model card's `calibration` with a numeric threshold in [0, 1], else None."""
    cal = card.get("calibration") if isinstance(card, dict) else None
    t = cal.get("threshold") if isinstance(cal, dict) else None
    if isinstance(t, (int, float)) and not isinstance(t, bool) and 0.0 <= t <= 1.0:
        return cal
    return None


def is_calibrated(card: dict, threshold: float) -> bool:
    """Whether `threshold` is the card's calibrated threshold (to the 3 decimals a result keeps)."""
    cal = calibration(card)
    return cal is not None and abs(float(cal["threshold"]) - float(threshold)) < 5e-4


def calibration_rates(card: dict) -> list[str]:
    """What the card measured at its calibrated threshold: ["2.6 % of held-out real videos scored at or above it",
    "21.2 % of held-out fake videos did"] (those it records)."""
    cal = calibration(card) or {}
    rates = []
    if isinstance(cal.get("fpr_real_videos"), (int, float)):
        rates.append(f"{fmt_share(cal['fpr_real_videos'])} of held-out real videos scored at or above it")
    if isinstance(cal.get("tpr_fake_videos"), (int, float)):
        rates.append(f"{fmt_share(cal['tpr_fake_videos'])} of held-out fake videos did")
    return rates


def artifact_meaning(card: dict, threshold: float) -> str:
    """The threshold's meaning in the model's measurements, or why there is none."""
    cal = calibration(card)
    if cal is None:
        return "the model card holds no calibration: no measured false-positive rate at any threshold"
    if not is_calibrated(card, threshold):
        return (f"not the calibrated threshold ({float(cal['threshold']):.3f}): no measured false-positive rate "
                "at this one")
    rates = calibration_rates(card)
    return "at this threshold " + ("; ".join(rates) if rates else "(the card records no rates)") + \
        " (model card calibration)"


def _of(n: int, total: int) -> str:
    return f"{n} of {total}"


def identity_meaning() -> str:
    g, s, o = MEASURED_GENUINE, MEASURED_SWAPS, MEASURED_OTHERS
    return (f"measured with a reference from the same recording: at or above {DIFFERENT_MIN:.2f} \"different "
            f"person\": {_of(g[2], sum(g))} genuine videos of the person, {_of(s[2], sum(s))} face swaps, "
            f"{_of(o[2], sum(o))} other people; at or below {SAME_MAX:.2f} \"same person\": {_of(g[0], sum(g))} "
            f"genuine, {_of(s[0], sum(s))} swaps (re-enactments keep the person and pass, by design)")


def consistency_meaning() -> str:
    n, total = MEASURED_REAL_TRACKS_WITH_JUMPS
    return (f"{_of(n, total)} face tracks of real clips had a face beyond {JUMP_DISTANCE:.2f} (two people in one "
            "track, faces under hair, a face changing at cuts)")


# -- the lines ---------------------------------------------------------------------------------------------------

def artifact_line(summary, card: dict) -> EvidenceLine:
    """From `summary` (video_score, threshold, verdict) and the model card."""
    thr = float(summary.threshold)
    meaning = artifact_meaning(card, thr)
    if summary.video_score is None:
        return EvidenceLine("artifact", "inconclusive", None, thr, "no face: no score", meaning)
    score = float(summary.video_score)
    if score >= thr:
        return EvidenceLine("artifact", "finding", score, thr,
                            f"video score {fmt_score(score)} \u2265 threshold {fmt_score(thr)}", meaning)
    return EvidenceLine("artifact", "clear", score, thr,
                        f"video score {fmt_score(score)} < threshold {fmt_score(thr)}", meaning)


def identity_line(identities: Sequence, reference_faces: int | None) -> EvidenceLine:
    """From the people of the video (`IdentityCluster`s: id, n_described, median, verdict) and the number of
    reference faces used (None: no reference given)."""
    meaning = identity_meaning()
    if reference_faces is None:
        return EvidenceLine("identity", "not run", None, DIFFERENT_MIN, "no reference of the claimed person given",
                            meaning)
    if reference_faces == 0:
        return EvidenceLine("identity", "inconclusive", None, DIFFERENT_MIN,
                            "the reference holds no usable face", meaning)
    judged = [c for c in identities if c.verdict is not None and c.median is not None]
    if not judged:
        return EvidenceLine("identity", "inconclusive", None, DIFFERENT_MIN,
                            "no face of the video was described (identity descriptors off, or faces too small)",
                            meaning)
    same = [c for c in judged if c.verdict == "same person"]
    if same:
        best = min(same, key=lambda c: (c.median, c.id))
        others = len(judged) - 1
        tail = f"; {others} other {'people' if others != 1 else 'person'}" if others else ""
        return EvidenceLine("identity", "clear", best.median, DIFFERENT_MIN,
                            f"person {best.id}: median distance {fmt_score(best.median)} \u2264 {SAME_MAX:.2f}, "
                            f"same person{tail}", meaning)
    main = max(judged, key=lambda c: (c.n_described, -c.id))
    if main.verdict == "different person":
        others = "" if len(judged) == 1 else "; nobody in the video is the same person"
        return EvidenceLine("identity", "finding", main.median, DIFFERENT_MIN,
                            f"person {main.id}: median distance {fmt_score(main.median)} \u2265 "
                            f"{DIFFERENT_MIN:.2f}, different person{others}", meaning)
    return EvidenceLine("identity", "inconclusive", main.median, DIFFERENT_MIN,
                        f"person {main.id}: median distance {fmt_score(main.median)}, between {SAME_MAX:.2f} and "
                        f"{DIFFERENT_MIN:.2f} or under {MIN_FACES} faces described", meaning)


def consistency_line(tracks: Sequence) -> EvidenceLine:
    """From the face tracks (`TrackSummary`: track, identity with consistency_max and jumps)."""
    meaning = consistency_meaning()
    checked = [t for t in tracks if t.identity is not None and t.identity.consistency_max is not None]
    if not checked:
        return EvidenceLine("consistency", "not run", None, JUMP_DISTANCE, "no face was described", meaning)
    worst = max(checked, key=lambda t: (t.identity.consistency_max, -t.track))
    cmax = float(worst.identity.consistency_max)
    jumped = [t for t in checked if t.identity.jumps]
    if jumped:
        frames = sorted({i for t in jumped for i in t.identity.jumps})
        shown = ", ".join(map(str, frames[:6])) + (f" (+{len(frames) - 6})" if len(frames) > 6 else "")
        names = ", ".join(str(t.track) for t in jumped)
        return EvidenceLine("consistency", "finding", cmax, JUMP_DISTANCE,
                            f"track{'s' if len(jumped) > 1 else ''} {names}: a face {fmt_score(cmax)} > "
                            f"{JUMP_DISTANCE:.2f} from its track's median (frames {shown})", meaning)
    return EvidenceLine("consistency", "clear", cmax, JUMP_DISTANCE,
                        f"largest distance to a track's median {fmt_score(cmax)} \u2264 {JUMP_DISTANCE:.2f}",
                        meaning)


def coverage_line(summary) -> EvidenceLine:
    """From `summary` (frames_analysed, frames_with_faces)."""
    n, total = int(summary.frames_with_faces), int(summary.frames_analysed)
    share = n / total if total else None
    text = f"{n} of {total} analysed frames have a face"
    meaning = f"fewer than {MIN_FACE_FRAMES} frames with a face are too few to weigh"
    status = "clear" if n >= MIN_FACE_FRAMES else "inconclusive"
    return EvidenceLine("coverage", status, None if share is None else round(share, 4), MIN_FACE_FRAMES, text,
                        meaning)


# -- the headline ------------------------------------------------------------------------------------------------

def assess(summary, tracks: Sequence, identities: Sequence, reference_faces: int | None, card: dict,
           complete: bool = True) -> Findings:
    """The findings of one analysis (see the module docstring). `reference_faces`: reference descriptors used
    (None: no reference given); `complete`: False for a cancelled run (said in `reason`)."""
    lines = (artifact_line(summary, card), identity_line(identities, reference_faces), consistency_line(tracks),
             coverage_line(summary))
    art, ident, cons, cov = lines
    fired = tuple(name for line, name in ((art, MANIPULATION), (ident, MISMATCH), (cons, CHANGE))
                  if line.status == "finding")
    partial = "" if complete else " Incomplete run: these cover the frames analysed before it stopped."
    if fired:
        level = "alert" if (MANIPULATION in fired or MISMATCH in fired) else "caution"
        why = ", ".join(f"{line.name.lower()} ({line.value:.3f})" for line in lines if line.status == "finding")
        return Findings(" + ".join(fired), level, fired, f"Fired: {why}." + partial, lines)
    open_lines = [line for line in lines if line.status == "inconclusive"]
    if open_lines:
        why = "; ".join(f"{line.name.lower()}: {line.text}" for line in open_lines)
        return Findings(INCONCLUSIVE, "inconclusive", (), f"No answer from {why}." + partial, lines)
    caught = ""
    cal = calibration(card)
    if cal is not None and is_calibrated(card, summary.threshold) and \
            isinstance(cal.get("tpr_fake_videos"), (int, float)):
        caught = f" At this threshold the model flagged {fmt_share(cal['tpr_fake_videos'])} of held-out fakes."
    return Findings(NO_FINDING, "none", (),
                    "No line of evidence fired. This does not show the video is authentic: the model misses "
                    "manipulations it was not trained on." + caught + partial, lines)


def result_findings(result) -> Findings:
    """`assess` of an `AnalysisResult` at its own threshold."""
    ref = result.reference
    return assess(result.summary, result.tracks, result.identities or [],
                  None if ref is None else len(ref.descriptors), result.model.metadata, result.complete)
