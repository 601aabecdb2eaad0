"""The headline states findings, never authenticity (core.analysis.findings), and says the same in the app, the reports,
the JSON and the CLI line: model only, model + matching reference, model + mismatching reference, no face."""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest

from core.faces.identity import DIM
from core.analysis.findings import (CHANGE, INCONCLUSIVE, MANIPULATION, MISMATCH, NO_FINDING, artifact_meaning, assess,
                                    calibration_rates)
from core.media.frames import FrameSelection
from core.analysis.reference import Reference, ReferenceFile
from core.analysis.frame_results import FaceResult, FrameResult
from core.analysis.results import AnalysisResult, AnalysisSettings, ModelInfo, load_json
from report_fixtures import video_info

CARD = {"calibration": {"threshold": 0.8, "fpr_real_videos": 0.0263, "tpr_fake_videos": 0.2121,
                        "data": "38 real and 33 fake held-out videos"},
        "limits": "Misses FaceSwap."}
RNG = np.random.default_rng(7)
PERSON = np.zeros(DIM, np.float32)
PERSON[0] = 0.5
OTHER = PERSON.copy()
OTHER[1] = 0.75                               # 0.75 from PERSON: "different person"


def _face(track: int, score: float, descriptor) -> FaceResult:
    return FaceResult(track=track, box=np.array([100.0, 90.0, 220.0, 230.0]), det_score=0.99, score=score,
                      landmarks=None, artifacts=[], descriptor=descriptor)


def _result(score: float, who=PERSON, n: int = 8, faces: bool = True, jump_at: int | None = None,
            threshold: float = 0.8) -> AnalysisResult:
    frames = []
    for i in range(n):
        d = None
        if faces:
            d = (who + RNG.normal(0, 0.004, DIM)).astype(np.float32)
            if i == jump_at:
                d = (who + np.eye(DIM, dtype=np.float32)[5] * 0.9).astype(np.float32)
        frames.append(FrameResult(index=10 * i, time_s=0.4 * i, faces=[_face(0, score, d)] if faces else []))
    model = ModelInfo(name="m", backbone="efficientnet-lite0", sha256="ab" * 32, path="/m.safetensors",
                      metadata=CARD)
    settings = AnalysisSettings(frame_selection=FrameSelection("count", n), threshold=threshold, device="cpu",
                                batch_size=8, detector={}, extra={})
    return AnalysisResult.build(video_info(), model, settings, frames, created_utc="2026-12-07T00:00:00Z")


def _reference(*people) -> Reference:
    return Reference([ReferenceFile("/ref/claimed.jpg", "cd" * 32, "photo", frames_read=1, faces_found=1,
                                    descriptors=np.stack(people) if people else np.zeros((0, DIM)))])


# the four combinations of the issue: (result, expected headline, expected level)
CASES = {
    "model only, low score": (lambda: _result(0.4), NO_FINDING, "none"),
    "model only, high score": (lambda: _result(0.9), MANIPULATION, "alert"),
    "matching reference": (lambda: _result(0.4).with_reference(_reference(PERSON)), NO_FINDING, "none"),
    "mismatching reference": (lambda: _result(0.4, who=OTHER).with_reference(_reference(PERSON)), MISMATCH,
                              "alert"),
    "no face": (lambda: _result(0.4, faces=False), INCONCLUSIVE, "inconclusive"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_headline_in_the_result_the_json_and_the_cli_line(name, tmp_path):
    from core.cli.analyze import headline_line

    make, headline, level = CASES[name]
    r = make()
    f = r.findings()
    assert (f.headline, f.level) == (headline, level)
    assert [e.key for e in f.evidence] == ["artifact", "identity", "consistency", "coverage"]
    # the JSON: the findings beside the old verdict, which keeps its meaning (the artifact line alone)
    r.save_json(tmp_path / "r.json")
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["findings"] == f.to_dict() and d["findings"]["headline"] == headline
    assert d["summary"]["verdict"] == {"finding": "fake", "clear": "real", "inconclusive": "no face"}[
        f.line("artifact").status]
    assert load_json(tmp_path / "r.json").findings() == f          # derived: recomputed the same on load
    line = headline_line(r, Path("out"))
    assert line.startswith(headline + "  ") and "REAL" not in line and "FAKE" not in line


@pytest.mark.parametrize("name", list(CASES))
def test_headline_in_the_reports(name):
    from core.reports import render_reports

    make, headline, level = CASES[name]
    r = make()
    html = render_reports(r, ("html",), frame_source=None)["html"].decode()
    assert f">{headline}<" in html and ">REAL<" not in html and ">FAKE<" not in html
    for e in r.findings().evidence:                                  # every line of evidence in its table
        assert f"<td>{e.name}</td><td>{e.status}</td>" in html


@pytest.mark.parametrize("name", list(CASES))
def test_headline_in_the_app(name, qtbot):
    from caddm_gui.findings_panel import FindingsPanel
    from caddm_gui.state import AppState

    make, headline, level = CASES[name]
    r = make()
    state = AppState()
    state.set_video("clip.mp4", 100, 25.0, (640, 360))
    panel = FindingsPanel(state)
    qtbot.addWidget(panel)
    state.set_threshold(r.settings.threshold)
    state.set_result(r)
    assert panel.headline_text() == headline
    for e in r.findings().evidence:
        assert panel.rows[e.key][1].text() == e.status and panel.rows[e.key][2].text().startswith(html.escape(e.text))
        assert e.meaning in panel.rows[e.key][2].toolTip()
    assert "REAL" not in panel.headline_text()


def test_a_face_swap_with_a_low_score_is_not_called_anything_reassuring():
    """The filed case: video score under the threshold, identity far from the reference: the headline names the
    identity mismatch; the artifact line still says its score was clear."""
    f = _result(0.40, who=OTHER).with_reference(_reference(PERSON)).findings()
    assert f.headline == MISMATCH and f.fired == (MISMATCH,)
    assert f.line("artifact").status == "clear" and f.line("identity").status == "finding"
    assert f.line("identity").value == pytest.approx(0.75, abs=0.02)
    assert "different person" in f.line("identity").text


def test_several_findings_name_each_and_the_strongest_colours():
    f = _result(0.9, who=OTHER).with_reference(_reference(PERSON)).findings()
    assert f.headline == f"{MANIPULATION} + {MISMATCH}" and f.level == "alert"
    g = _result(0.4, jump_at=3).findings()                           # a face changing identity inside a track
    assert g.headline == CHANGE and g.level == "caution" and "frames 30" in g.line("consistency").text
    h = _result(0.9, jump_at=3).findings()
    assert h.headline == f"{MANIPULATION} + {CHANGE}" and h.level == "alert"


def test_a_reference_that_cannot_answer_makes_it_inconclusive():
    empty = _result(0.4).with_reference(_reference()).findings()     # no usable face in the reference
    assert empty.headline == INCONCLUSIVE and "no usable face" in empty.reason
    undescribed = _result(0.4).with_reference(_reference(PERSON))
    undescribed = AnalysisResult.build(undescribed.video, undescribed.model, undescribed.settings,
                                       [FrameResult(index=f.index, time_s=f.time_s,
                                                    faces=[_face(0, 0.4, None)]) for f in undescribed.frames])
    undescribed = undescribed.with_reference(_reference(PERSON))       # identity off: nothing to compare
    f = undescribed.findings()
    assert f.headline == INCONCLUSIVE and f.line("identity").status == "inconclusive"
    between = _result(0.4, who=PERSON + np.eye(DIM, dtype=np.float32)[2] * 0.52).with_reference(_reference(PERSON))
    assert between.findings().headline == INCONCLUSIVE                # 0.52: neither same nor different


def test_too_few_frames_with_a_face_is_inconclusive_but_a_finding_still_shows():
    assert _result(0.4, n=2).findings().headline == INCONCLUSIVE
    assert _result(0.9, n=2).findings().headline == MANIPULATION


def test_the_threshold_says_what_it_means_in_measurements():
    assert calibration_rates(CARD) == ["2.6 % of held-out real videos scored at or above it",
                                       "21.2 % of held-out fake videos did"]
    assert artifact_meaning(CARD, 0.8).startswith("at this threshold 2.6 % of held-out real videos")
    assert "not the calibrated threshold (0.800)" in artifact_meaning(CARD, 0.6)
    assert "no calibration" in artifact_meaning({}, 0.5)
    r = _result(0.4)
    f = r.findings()
    assert "21.2 % of held-out fakes" in f.reason and "does not show the video is authentic" in f.reason
    lowered = r.with_threshold(0.3).findings()                       # another threshold: no measured rate claimed
    assert lowered.headline == MANIPULATION and "not the calibrated" in lowered.line("artifact").meaning
    meaning = f.line("identity").meaning
    assert "0 of 20 genuine videos of the person, 27 of 30 face swaps, 18 of 18 other people" in meaning
    assert "\"same person\": 20 of 20 genuine, 0 of 30 swaps" in meaning


def test_assess_reads_only_what_it_needs():
    """assess works on the live summary alone (the app while frames stream in): the identity lines are not run."""
    r = _result(0.9)
    f = assess(r.summary, [], [], None, {})
    assert f.headline == MANIPULATION and f.line("identity").status == "not run"
    assert "no calibration" in f.line("artifact").meaning
