"""Commands and state without a window: open, analyse (tiny model, 6 frames), cache, review, threshold, export,
cancel, bad inputs."""
from __future__ import annotations

import json
import os

import pytest

from gui_fixtures import write_clip, SAMPLE, analyse_and_wait, app, clip, errors, open_and_wait, prefs, qsettings, result_cache, \
    tiny_model  # noqa: F401

pytestmark = pytest.mark.slow


def test_open_shows_first_frame_then_hash(qtbot, app, clip):
    state, cmds = app
    with qtbot.waitSignal(state.imageChanged, timeout=10000):
        assert cmds.open_video(clip)
    assert state.image is not None and state.image.shape == (240, 320, 3)
    assert state.frame_count == 24
    qtbot.waitUntil(lambda: state.info is not None, timeout=10000)
    assert len(state.info.sha256) == 64 and state.info.frame_count == 24
    assert str(clip) in cmds.prefs.recent[0]


def test_analyse_fills_frames_caches_and_reopens_instantly(qtbot, app, clip):
    state, cmds = app
    open_and_wait(qtbot, cmds, clip)
    scored = []
    state.frameScored.connect(scored.append)
    result = analyse_and_wait(qtbot, cmds)
    assert result is not None and result.complete, state.messages
    assert len(scored) == 6 and len(state.frames) == 6
    assert state.result is result and not state.from_cache
    assert state.summary().frames_with_faces > 0
    assert not state.busy and not errors(state)
    assert state.model_name == "tiny-test"
    # review: flag and note, saved with the cached result
    i = state.frames[2].index
    cmds.toggle_flag(i)
    cmds.set_note(i, "mouth edge flickers")
    qtbot.waitUntil(lambda: not cmds._save_timer.isActive() and not cmds._workers, timeout=10000)
    # re-open: the cached result comes back without analysing, with the review
    open_and_wait(qtbot, cmds, SAMPLE)
    open_and_wait(qtbot, cmds, clip)
    assert state.result is not None and state.from_cache
    assert len(state.frames) == 6
    assert i in state.review.flags and state.review.notes[i] == "mouth edge flickers"


def test_threshold_changes_verdict_and_jumps(qtbot, app, clip):
    state, cmds = app
    open_and_wait(qtbot, cmds, clip)
    analyse_and_wait(qtbot, cmds)
    scores = sorted(f.score for f in state.frames if f.score is not None)
    video = state.summary().video_score
    cmds.set_threshold(max(0.0, video - 1e-3))
    assert state.summary().verdict == "fake"
    cmds.set_threshold(min(1.0, video + 1e-3))
    assert state.summary().verdict == "real"
    cmds.set_threshold(scores[-1])   # only the top frame(s) are above
    cmds.seek(0)
    assert cmds.jump_above(+1)
    assert state.frame_result(state.frame_index).score >= state.threshold
    assert not cmds.jump_above(+1) or state.frame_result(state.frame_index).score >= state.threshold


def test_export_report_and_png(qtbot, app, clip, tmp_path):
    from core.analysis.results import CaseInfo

    state, cmds = app
    open_and_wait(qtbot, cmds, clip)
    analyse_and_wait(qtbot, cmds)
    flagged = state.frames[1].index
    cmds.set_flag(flagged, True)
    cmds.set_note(flagged, "check the jaw line")
    out = tmp_path / "report"
    with qtbot.waitSignal(cmds.exportFinished, timeout=120000) as b:
        cmds.export_report(out, ["json", "csv", "html"], CaseInfo("CASE-7", "A. Analyst", "seized phone"))
    assert b.args[0] is not None, state.messages
    assert {p.name for p in out.iterdir()} == {"report.json", "frames.csv", "report.html"}
    data = json.loads((out / "report.json").read_text())
    assert data["case"]["case_id"] == "CASE-7"
    assert data["review"]["flags"] == [flagged] and "jaw" in data["review"]["notes"][str(flagged)]
    # the current frame as an annotated PNG
    cmds.seek(flagged)
    qtbot.waitUntil(lambda: state.image_index == flagged, timeout=10000)
    with qtbot.waitSignal(cmds.exportFinished, timeout=20000) as b:
        assert cmds.export_frame_png(tmp_path / "frame")
    assert (tmp_path / "frame.png").read_bytes()[:4] == b"\x89PNG"


def test_export_to_unwritable_folder_reports(qtbot, app, clip, tmp_path):
    state, cmds = app
    open_and_wait(qtbot, cmds, clip)
    analyse_and_wait(qtbot, cmds)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with qtbot.waitSignal(cmds.exportFinished, timeout=60000) as b:
        cmds.export_report(blocker / "sub", ["json"])
    assert b.args[0] is None
    assert any("Export failed" in e and "a_file" in e for e in errors(state))
    assert state.result is not None   # nothing lost


def test_bad_inputs_give_messages(qtbot, app, tmp_path):
    state, cmds = app
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    assert not cmds.open_video(text)
    assert not cmds.open_video(tmp_path / "missing.mp4")
    errs = errors(state)
    assert len(errs) == 2 and "notes.mp4" in errs[0] and "missing.mp4" in errs[1]
    assert state.video_path is None


def test_bad_checkpoint_reports_and_keeps_running(qtbot, app, clip, tmp_path):
    state, cmds = app
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    cmds.prefs.model_path = str(bad)
    open_and_wait(qtbot, cmds, clip)
    assert analyse_and_wait(qtbot, cmds) is None
    assert any("broken.safetensors" in e for e in errors(state))
    assert not state.busy and state.video_path == str(clip)


def test_cancel_returns_partial_uncached(qtbot, app, tmp_path):
    state, cmds = app
    cmds.prefs.frame_mode, cmds.prefs.frame_value = "all", 1
    # long enough that the cancel (queued from the first scored frame) always lands before the end
    open_and_wait(qtbot, cmds, write_clip(tmp_path / "long.mp4", n=200))
    state.frameScored.connect(lambda fr: cmds.cancel_analysis())
    result = analyse_and_wait(qtbot, cmds)
    assert result is not None and not result.complete and 0 < len(result.frames) < 200
    assert not state.busy
    assert not list(cmds.cache.root.glob("*.json"))   # a cancelled run is never cached


@pytest.mark.shared
def test_real_clip(qtbot, app):
    from conftest import SHARED_DATA, need

    folder = need(SHARED_DATA / "videos" / "real")
    video = sorted(folder.glob("*.mp4"))[0]
    state, cmds = app
    open_and_wait(qtbot, cmds, video, timeout=60000)
    result = analyse_and_wait(qtbot, cmds, timeout=300000)
    assert result is not None and result.complete and len(result.frames) == 6
    assert os.path.samefile(result.video.path, video)


def test_video_without_faces_says_so(qtbot, app, tmp_path):
    import cv2
    import numpy as np

    path = tmp_path / "empty_room.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for i in range(10):
        out.write(np.full((120, 160, 3), 60 + 10 * i, np.uint8))
    out.release()
    state, cmds = app
    open_and_wait(qtbot, cmds, path)
    result = analyse_and_wait(qtbot, cmds)
    assert result is not None and result.summary.verdict == "no face"
    assert any("No face was found" in t for level, t in state.messages if level == "warning")
    assert state.summary().verdict == "no face"


def test_model_file_hashed_once_per_analysis(qtbot, app, clip, tiny_model, monkeypatch, tmp_path):
    """Opening a video (cache look-up) and analysing it hash the model file once, the video on each probe."""
    import shutil

    from core.common import hashing
    state, cmds = app
    model = shutil.copy(tiny_model, tmp_path / "fresh_model.safetensors")  # a file this process never hashed
    cmds.prefs.model_path = str(model)
    cmds._predictor = cmds._predictor_key = None
    calls = []
    real = hashing.sha256_file
    monkeypatch.setattr(hashing, "sha256_file", lambda p, *a, **k: calls.append(os.path.abspath(p)) or real(p, *a, **k))
    open_and_wait(qtbot, cmds, clip)
    result = analyse_and_wait(qtbot, cmds)
    assert result is not None and result.complete
    assert result.model.sha256 == real(model)
    assert calls.count(os.path.abspath(model)) == 1, calls


def test_cache_key_of_a_lookup_and_of_a_stored_result_agree(tmp_path, clip, tiny_model):
    """The key a result is looked up under (from the options) is the key it is stored and re-saved under (from
    what it records): one derivation, so saving a review always updates the same entry."""
    from core.analysis.engine import AnalysisOptions
    from core.analysis.cache import ResultCache
    from core.media.frames import FrameSelection
    from core.analysis.runner import analyze_cached, load_predictor, lookup_cached

    cache = ResultCache(tmp_path / "c")
    options = AnalysisOptions(frames=FrameSelection("count", 3))
    result, cached = analyze_cached(clip, load_predictor(str(tiny_model)), options, cache)
    assert not cached
    assert [p.stem for p in cache.root.glob("*.json")] == [cache.key_for(result)]
    info, hit = lookup_cached(clip, str(tiny_model), options, cache)
    assert hit is not None and hit.video.sha256 == info.sha256
    other = AnalysisOptions(frames=FrameSelection("count", 4))
    assert lookup_cached(clip, str(tiny_model), other, cache)[1] is None


def test_threshold_follows_the_models_calibration_until_the_analyst_sets_one(qtbot, qsettings, result_cache,
                                                                             tiny_model, tmp_path):
    from caddm_gui.commands import Commands
    from caddm_gui.preferences import Preferences
    from caddm_gui.state import AppState
    from core.model.checkpoints import load_model, save_model

    cal = save_model(load_model(tiny_model), tmp_path / "cal.safetensors", calibration={"threshold": 0.62})
    state = AppState()
    cmds = Commands(state, Preferences(model_path=str(cal)), qsettings, cache=result_cache)
    try:
        assert state.threshold == 0.62 and cmds.prefs.model_threshold
        cmds.set_threshold(0.3)                       # the analyst drags the line: their own from now on
        assert state.threshold == 0.3 and not cmds.prefs.model_threshold and cmds.prefs.threshold == 0.3
        cmds.save_prefs()                             # as at exit
        p = Preferences.load(qsettings)
        assert not p.model_threshold and p.threshold == 0.3
        p.model_threshold = True                      # Settings: back to the model's
        cmds.apply_preferences(p)
        assert state.threshold == 0.62
        p2 = Preferences(model_path=str(tiny_model))  # a model without calibration: 0.5
        cmds.apply_preferences(p2)
        assert state.threshold == 0.5
    finally:
        cmds.shutdown(10000)


def test_settings_landmarks_choice_reaches_the_analysis(qtbot, app, clip, qsettings):
    from caddm_gui.preferences import Preferences
    from caddm_gui.settings_dialog import SettingsDialog

    state, cmds = app
    assert cmds.options().landmarks == "5"
    dlg = SettingsDialog(cmds.prefs)
    qtbot.addWidget(dlg)
    dlg.landmarks.setCurrentIndex(dlg.landmarks.findData("68"))
    cmds.apply_preferences(dlg.result_prefs())
    assert cmds.options().landmarks == "68" and Preferences.load(qsettings).landmarks == "68"
    open_and_wait(qtbot, cmds, clip)
    analyse_and_wait(qtbot, cmds)
    faces = [f for fr in state.result.frames for f in fr.faces]
    assert faces and all(len(f.landmarks) == 68 for f in faces)
    assert state.result.settings.extra["landmarks"] == "68"


def test_settings_face_detector_choice_reaches_the_analysis(qtbot, app, clip, qsettings):
    """The detector chosen in Settings is the one the analysis runs and records (RetinaFace unless chosen)."""
    from caddm_gui.preferences import Preferences
    from caddm_gui.settings_dialog import SettingsDialog

    state, cmds = app
    assert cmds.options().detector.detector == "retinaface"
    dlg = SettingsDialog(cmds.prefs)
    qtbot.addWidget(dlg)
    dlg.face_detector.setCurrentIndex(dlg.face_detector.findData("hog"))
    cmds.apply_preferences(dlg.result_prefs())
    assert cmds.options().detector.detector == "hog" and Preferences.load(qsettings).face_detector == "hog"
    open_and_wait(qtbot, cmds, clip)
    analyse_and_wait(qtbot, cmds)
    assert state.result.settings.detector["detector"] == "hog" and "cnn_fallback" in state.result.settings.detector
