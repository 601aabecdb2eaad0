import json

import numpy as np
import pytest

from core import __version__
from core.common.errors import OutputError
from core.media.frames import FrameSelection
from core.analysis.frame_results import Artifact, FaceResult, FrameResult
from core.analysis.results import SCHEMA, AnalysisResult, ResultFileError, load_json, top_frames
from core.analysis.summary import summarize, track_series, track_summaries
from report_fixtures import VIDEO_SHA, face, frames, make_result


def test_values_are_normalised_and_rounded():
    f = face(0, 100.123456, 0.123456789)
    assert f.score == 0.123457 and type(f.score) is float
    assert f.box == (100.12, 90.0, 220.12, 230.0)
    assert f.det_score == 0.987654
    assert len(f.landmarks) == 68 and all(len(p) == 2 for p in f.landmarks)
    with pytest.raises(ValueError):
        Artifact(box=[0, 0, 1], corners=[[0, 0]] * 4, score=0.5, crop_box=[0, 0, 1, 1])
    with pytest.raises(ValueError):
        FaceResult(track=0, box=[0, 0, 1, 1], det_score=1, score=0.5, landmarks=[[0, 0]] * 6)
    with pytest.raises(ValueError):
        FaceResult(track=0, box=[0, 0, 1, 1], det_score=1, score=float("nan"))


def test_frame_score_is_max_over_faces_and_none_without_face():
    fr = FrameResult(index=3, time_s=0.12, faces=[face(0, 10, 0.3), face(1, 200, 0.8)])
    assert fr.score == 0.8
    assert FrameResult(index=4, time_s=0.16).score is None
    with pytest.raises(ValueError):
        FrameResult(index=3, time_s=0.12, score=0.5, faces=[face(0, 10, 0.3)])
    with pytest.raises(ValueError):
        FrameResult(index=3, time_s=0.12, score=0.5)


def test_summarize():
    fr = frames()
    s = summarize(fr, 0.5)
    scored = [f.score for f in fr if f.score is not None]
    assert s.frames_analysed == 10 and s.frames_with_faces == 8 and s.n_tracks == 2
    assert s.video_score == pytest.approx(np.mean(scored), abs=1e-6)
    assert s.max_score == max(scored)
    assert s.share_above == pytest.approx(sum(x >= 0.5 for x in scored) / 8, abs=1e-6)
    assert s.verdict == "fake" and s.threshold == 0.5
    assert summarize(fr, 0.99).verdict == "real"
    empty = summarize([FrameResult(index=0, time_s=0.0)], 0.5)
    assert empty.verdict == "no face" and empty.video_score is None and empty.frames_with_faces == 0
    assert summarize([], 0.5).verdict == "no face"


def test_track_summaries():
    t0, t1 = track_summaries(frames(), 0.5)
    assert (t0.track, t0.first_frame, t0.last_frame, t0.n_frames) == (0, 0, 225, 8)
    assert (t1.track, t1.first_frame, t1.last_frame, t1.n_frames) == (1, 100, 225, 5)
    assert (t1.start_s, t1.end_s) == (4.0, 9.0)
    assert t1.share_above == 1.0 and t1.max_score == 0.86
    s0 = [0.2 + 0.07 * k for k in range(10) if k not in (2, 7)]
    assert t0.mean_score == pytest.approx(np.mean(s0), abs=1e-6)
    assert t0.share_above == pytest.approx(sum(x >= 0.5 for x in s0) / 8, abs=1e-6)


def _old_track_summaries(frames, threshold):
    """track_summaries as it was before track_series (the reference for equal results)."""
    from core.analysis.summary import TrackSummary
    from core.analysis.values import round_score

    threshold = round_score(threshold)
    per = {}
    for fr in frames:
        for f in fr.faces:
            seen = per.setdefault(f.track, {})
            if fr.index not in seen or f.score > seen[fr.index][1]:
                seen[fr.index] = (fr.time_s, f.score)
    out = []
    for track in sorted(per):
        items = sorted(per[track].items())
        sc = [x for _, (_, x) in items]
        out.append(TrackSummary(track, items[0][0], items[-1][0], items[0][1][0], items[-1][1][0], len(items),
                                sum(sc) / len(sc), max(sc), sum(x >= threshold for x in sc) / len(sc)))
    return out


def test_track_series_shapes_gaps_and_max():
    fr = frames()
    fr[3].faces.append(face(0, 300.0, 0.95))        # track 0 twice in frame 75: the max counts
    shuffled = fr[5:] + fr[:5]
    series = track_series(shuffled)
    assert list(series) == [0, 1]
    t0, i0, y0 = series[0]
    t1, i1, y1 = series[1]
    assert t0 is t1 and i0 is i1 and not t0.flags.writeable
    assert t0.shape == i0.shape == y0.shape == y1.shape == (10,)
    assert i0.tolist() == [25 * k for k in range(10)] and t0.tolist() == [k * 1.0 for k in range(10)]
    assert np.isnan(y0[[2, 7]]).all() and np.isnan(y1[:4]).all() and np.isnan(y1[7])
    assert y0[3] == 0.95 and y0[0] == pytest.approx(0.2) and y1[4] == pytest.approx(0.86)
    assert track_series([]) == {} and track_series([FrameResult(index=0, time_s=0.0)]) == {}


def test_track_summaries_unchanged_by_track_series():
    rng = np.random.default_rng(3)
    fr = []
    for i in rng.choice(400, 120, replace=False):
        faces = [face(int(t), 10.0 * t, float(rng.random())) for t in rng.integers(0, 4, rng.integers(0, 4))]
        fr.append(FrameResult(index=int(i), time_s=float(i) / 29.97, faces=faces))
    for thr in (0.0, 0.37, 0.5, 1.0):
        assert track_summaries(fr, thr) == _old_track_summaries(fr, thr)


def test_timeline_and_report_figure_draw_track_series(qtbot):
    from matplotlib.figure import Figure

    from caddm_gui.state import AppState
    from caddm_gui.timeline import Timeline
    from core.reports.figures import draw_timeline

    r = make_result()
    series = track_series(r.frames)
    ax = Figure().add_subplot()
    draw_timeline(ax, r)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    state = AppState()
    state.set_video("x.mp4", r.video.frame_count, r.video.fps, (r.video.width, r.video.height))
    tl = Timeline(state, None)
    qtbot.addWidget(tl)
    state.set_result(r)
    for track, (times, indices, scores) in series.items():
        x, y = lines[f"track {track}"].get_data()
        np.testing.assert_array_equal(x, times)
        np.testing.assert_array_equal(y, scores)
        x, y = tl.curves[track].getOriginalDataset()
        np.testing.assert_array_equal(x, indices)
        np.testing.assert_array_equal(y, scores)


def test_with_threshold_recomputes_summary_and_tracks_only():
    r = make_result(threshold=0.5)
    r2 = r.with_threshold(0.9)
    assert r2.settings.threshold == 0.9 and r2.summary.threshold == 0.9
    assert r2.summary.verdict == "real" and r.summary.verdict == "fake"
    assert r2.tracks[1].share_above == 0.0 and r.tracks[1].share_above == 1.0
    assert r2.frames == r.frames and r2.video == r.video
    assert r.settings.threshold == 0.5  # original untouched


def test_top_frames():
    r = make_result()
    top = top_frames(r, 3)
    assert [f.index for f in top] == [100, 125, 150]
    assert all(f.score is not None for f in top_frames(r, 100)) and len(top_frames(r, 100)) == 8
    assert top_frames(r, 0) == []


def test_json_round_trip_exact(tmp_path):
    r = make_result()
    d = json.loads(json.dumps(r.to_dict()))
    assert AnalysisResult.from_dict(d) == r
    p = tmp_path / "r.json"
    r.save_json(p)
    back = load_json(p)
    assert back == r
    assert back.review.flags == {100, 150} and back.review.notes[150].startswith("mouth")
    assert back.settings.frame_selection == FrameSelection("stride", 25)
    # saving the loaded result again gives the same bytes
    p2 = tmp_path / "r2.json"
    back.save_json(p2)
    assert p.read_bytes() == p2.read_bytes()


def test_json_layout(tmp_path):
    r = make_result()
    d = json.loads(r.to_json())
    assert d["schema"] == SCHEMA == "caddm-inspector/report@1"
    assert d["software"] == {"name": "caddm-inspector", "version": __version__}
    assert d["video"]["sha256"] == VIDEO_SHA and d["video"]["path"].endswith("clip<1>.mp4")
    assert d["model"]["sha256"].startswith("fe98")
    assert d["settings"]["frame_selection"] == {"mode": "stride", "value": 25}
    assert set(d["summary"]) >= {"video_score", "verdict", "threshold"}
    assert d["summary"]["verdict"] == "fake"
    f2 = d["frames"][2]
    assert f2 == {"index": 50, "time_s": 2.0, "score": None, "faces": []}
    f4 = d["frames"][4]
    assert f4["score"] == 0.86
    face0 = f4["faces"][0]
    assert set(face0) >= {"track", "box", "score", "artifacts"}
    assert set(face0["artifacts"][0]) >= {"box", "corners", "score"}
    assert len(face0["artifacts"][0]["corners"]) == 4
    assert d["review"] == {"flags": [100, 150], "notes": {"150": "mouth region <blurred> & teeth",
                                                         "200": '=HYPERLINK("x")'}}
    assert d["timings"]["decode"] == 1.2346
    # frames stay small: no long float reprs
    assert "0.98765432" not in r.to_json() and "0.987654" in r.to_json()


def test_load_json_rejects_bad_files(tmp_path):
    p = tmp_path / "other.json"
    d = make_result().to_dict()
    d["schema"] = "caddm-inspector/report@2"
    p.write_text(json.dumps(d))
    with pytest.raises(ResultFileError) as e:
        load_json(p)
    assert str(p) in str(e.value) and "report@2" in str(e.value)
    p.write_text("{not json")
    with pytest.raises(ResultFileError, match="not a JSON"):
        load_json(p)
    p.write_text(json.dumps({"schema": SCHEMA, "frames": []}))
    with pytest.raises(ResultFileError, match="malformed"):
        load_json(p)
    with pytest.raises(ResultFileError, match="no such"):
        load_json(tmp_path / "missing.json")


def test_save_json_unwritable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError) as e:
        make_result().save_json(blocker / "r.json")
    assert str(blocker / "r.json") in str(e.value)


def test_artifacts_are_shown_only_on_faces_at_or_above_the_threshold():
    from core.analysis.frame_results import Artifact, FaceResult

    art = Artifact(box=[1, 2, 30, 40], corners=[[1, 2], [30, 2], [30, 40], [1, 40]], score=0.9, crop_box=[0, 0, 50, 50])
    face = FaceResult(track=0, box=[0, 0, 100, 100], det_score=1.0, score=0.6, artifacts=[art])
    assert face.artifacts_at(0.5) == [art] and face.artifacts_at(0.6) == [art]
    assert face.artifacts_at(0.7) == []
    assert face.artifacts == [art]  # kept as data
