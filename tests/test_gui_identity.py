"""Identity in the app, offscreen: the Reference tab (adding photos, thumbnails, choosing among several faces, files
without a face or unreadable), applying a reference to the current result without re-analysing, the timeline's
identity curve and its View toggle, the frames table's identity column, the Settings checkbox reaching
AnalysisOptions, and the reference in the exported report."""
from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest
from conftest import DATA, need

from core.faces import identity
from core.faces.identity import DIFFERENT_MIN, DIM, SAME_MAX
from core.analysis.reference import Reference, ReferenceFace, ReferenceScan
from core.analysis.identities import identity_series
from core.analysis.results import AnalysisResult
from gui_fixtures import show_window, analyse_and_wait, app, clip, errors, open_and_wait, prefs, qsettings, result_cache, \
    tiny_model  # noqa: F401

pytestmark = pytest.mark.slow

FACE = DATA / "astronaut_face.jpg"


@pytest.fixture
def win(qtbot, app):
    w = show_window(qtbot, app)
    w.tabs.setCurrentWidget(w.reference)
    return w


def add_and_wait(qtbot, refs, paths, timeout=60000) -> None:
    assert refs.add_files([str(p) for p in paths]) == len(paths)
    qtbot.waitUntil(lambda: not refs.busy, timeout=timeout)


def warnings(state) -> list[str]:
    return [t for level, t in state.messages if level == "warning"]


def _two_faces(path):
    face = cv2.imread(str(FACE))
    two = np.full((520, 760, 3), 90, np.uint8)
    small = cv2.resize(face, (face.shape[1] * 3 // 4, face.shape[0] * 3 // 4))
    two[300:300 + small.shape[0], 500:500 + small.shape[1]] = small
    two[20:20 + face.shape[0], 20:20 + face.shape[1]] = face
    cv2.imwrite(str(path), two)
    return path


def synthetic_result():
    """The report fixture's 10 frames with descriptors: track 0 shows person A, track 1 person B; (result, A, B)."""
    from report_fixtures import make_result

    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 0.09, DIM), rng.normal(0, 0.09, DIM)
    r = make_result()
    for k, fr in enumerate(r.frames):
        for f in fr.faces:
            f.descriptor = identity.quantise((a if f.track == 0 else b) + rng.normal(0, 0.01, DIM)) \
                if k % 2 == 0 else None
    return AnalysisResult.build(r.video, r.model, r.settings, r.frames, review=r.review), a, b


def fake_scanner(faces_by_name: dict):
    """A scanner that describes nothing: each file's faces are the given descriptors (one candidate each)."""
    def scan(path):
        name = path.rsplit("/", 1)[-1]
        faces = [ReferenceFace(descriptors=np.asarray(d, np.float32)[None], frame=0, box=(0, 0, 10, 10), largest=k == 0,
                               thumbnail=np.full((40, 40, 3), 60 * k, np.uint8))
                 for k, d in enumerate(faces_by_name.get(name, []))]
        return ReferenceScan(path, "ab" * 32, "photo", 1, len(faces), faces, several=int(len(faces) > 1),
                             notes=[] if faces else ["no face found; not used"])
    return scan


# ------------------------------------------------------------------------------------------------ the reference


def test_adding_a_photo_shows_its_face_and_sets_the_reference(qtbot, win, tmp_path):
    """A real photo (bundled with the tests), read by the real face models in a worker."""
    state, cmds, panel = win.state, win.commands, win.reference
    before = FACE.read_bytes()
    add_and_wait(qtbot, panel.refs, [FACE])
    assert panel.faces.count() == 1
    item = panel.faces.item(0)
    assert item.checkState().name == "Checked" and not item.icon().isNull()
    sha = hashlib.sha256(before).hexdigest()
    assert item.text() == f"astron\u2026ace.jpg\n{sha[:8]}\nphoto"  # the name's middle elided
    assert str(FACE) in item.toolTip() and sha in item.toolTip()
    assert panel.checked_faces() == [(0, 0)]
    assert cmds.reference is not None and len(cmds.reference.descriptors) == 1
    assert cmds.reference.files[0].sha256 == sha and FACE.read_bytes() == before  # read, never written
    assert "1 reference face used from 1 file" in panel.status.text()
    assert not errors(state) and not warnings(state)
    # the same file again is skipped; remove and clear empty the reference
    assert panel.refs.add_files([str(FACE)]) == 0
    panel.faces.setCurrentRow(0)
    assert panel.remove_button.isEnabled()
    panel.remove_selected()
    assert panel.faces.count() == 0 and cmds.reference is None and "No reference" in panel.status.text()


def test_several_faces_in_a_photo_the_analyst_picks(qtbot, win, tmp_path):
    state, cmds, panel = win.state, win.commands, win.reference
    path = _two_faces(tmp_path / "two.png")
    add_and_wait(qtbot, panel.refs, [path])
    assert panel.faces.count() == 2
    assert ["face 1 of 2" in panel.faces.item(0).text(), "face 2 of 2" in panel.faces.item(1).text()] == [True, True]
    assert panel.checked_faces() == [(0, 0)]  # the largest by default
    assert any("two.png: 2 faces found" in w and "Tick the claimed person" in w for w in warnings(state))
    largest = cmds.reference.descriptors.copy()
    panel.faces.item(1).setCheckState(panel.faces.item(1).checkState().Checked)  # what a click on the box does
    assert len(cmds.reference.descriptors) == 2 and panel.checked_faces() == [(0, 0), (0, 1)]
    panel.faces.item(0).setCheckState(panel.faces.item(0).checkState().Unchecked)
    ref = cmds.reference
    assert len(ref.descriptors) == 1 and not np.array_equal(ref.descriptors, largest)
    assert ref.files[0].notes == ["2 faces found; face 2 chosen by the analyst (faces numbered largest first)"]
    assert "two.png: 2 faces found; face 2 chosen by the analyst" in panel.status.text()
    panel.faces.item(1).setCheckState(panel.faces.item(1).checkState().Unchecked)
    assert len(cmds.reference.descriptors) == 0 and "No face of the reference is used" in panel.status.text()


def test_files_without_a_face_or_unreadable_are_named_and_analysis_still_runs(qtbot, win, tmp_path, clip):
    state, cmds, panel = win.state, win.commands, win.reference
    blank, broken = tmp_path / "blank.png", tmp_path / "broken.jpg"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    broken.write_bytes(b"this is no image")
    add_and_wait(qtbot, panel.refs, [blank, broken])
    assert panel.faces.count() == 2 and panel.checked_faces() == []
    for r in range(2):
        item = panel.faces.item(r)
        assert "not used" in item.text() and not item.flags() & item.flags().ItemIsUserCheckable
    said = warnings(state)
    assert any(str(blank) in w and "no face found; not used" in w for w in said)
    assert any(str(broken) in w and "not a readable image; not used" in w for w in said)
    assert win.messages.text() and "broken.jpg" in win.messages.text()
    assert "blank.png: no face found; not used" in panel.status.text()
    assert "broken.jpg: not a readable image; not used" in panel.status.text()
    # the analysis runs, and the empty reference is said to hold no face
    open_and_wait(qtbot, cmds, clip)
    result = analyse_and_wait(qtbot, cmds)
    assert result is not None and result.complete and not errors(state)
    assert state.result.reference is not None and len(state.result.reference.descriptors) == 0
    assert all(f.identity_distance is None for fr in state.result.frames for f in fr.faces)


def test_applying_a_reference_changes_track_verdicts_without_reanalysing(qtbot, win):
    """A synthetic result and a scanner that returns given descriptors (no face models, no ../shared)."""
    state, cmds, panel = win.state, win.commands, win.reference
    result, a, b = synthetic_result()
    state.set_result(result)
    analysed = []
    cmds.analysisFinished.connect(analysed.append)
    assert [t.identity.verdict for t in state.result.tracks] == [None, None]
    assert panel.table.rowCount() == 2 and panel.table.item(0, 5).text() == "no reference"
    assert "People in the video: 2" in panel.people.text()
    assert win.timeline.identity_kind == "consistency" and win.table.source.identity_kind == "consistency"

    panel.refs.scanner = fake_scanner({"claimed.jpg": [a]})
    add_and_wait(qtbot, panel.refs, ["/ref/claimed.jpg"])
    verdicts = {t.track: t.identity.verdict for t in state.result.tracks}
    assert verdicts == {0: "same person", 1: "different person"}
    assert state.result.frames is not result.frames and not analysed  # recomputed from the descriptors
    assert [f.score for fr in state.result.frames for f in fr.faces] == [f.score for fr in result.frames
                                                                          for f in fr.faces]
    assert [panel.table.item(r, 5).text() for r in range(2)] == ["same person", "different person"]
    assert float(panel.table.item(0, 4).text()) < SAME_MAX < DIFFERENT_MIN < float(panel.table.item(1, 4).text())
    assert "Compared with 1 reference faces" in panel.people.text()
    assert [c.verdict for c in state.result.identities] == ["same person", "different person"]
    assert win.timeline.identity_kind == "reference" and win.table.source.identity_kind == "reference"
    assert state.review is result.review  # the analyst's review stays with the result

    # the other person instead: the verdicts swap; clearing removes the comparison
    panel.refs.clear()
    panel.refs.scanner = fake_scanner({"other.jpg": [b]})
    add_and_wait(qtbot, panel.refs, ["/ref/other.jpg"])
    assert {t.track: t.identity.verdict for t in state.result.tracks} == {0: "different person", 1: "same person"}
    panel.refs.clear()
    assert state.result.reference is None and all(t.identity.verdict is None for t in state.result.tracks)
    assert win.timeline.identity_kind == "consistency"


def test_timeline_identity_curve_toggles_and_table_shows_the_distance(qtbot, win):
    from caddm_gui.frame_table import COLUMNS, IDENTITY

    state, cmds = win.state, win.commands
    result, a, _ = synthetic_result()
    state.set_result(result)
    tl = win.timeline
    kind, series = identity_series(state.frames)
    assert set(tl.id_curves) == set(series) == {0, 1} and tl.id_line.isVisible()
    for t, (indices, dists) in series.items():
        xs, ys = tl.id_curves[t].getData()
        assert xs.tolist() == indices.tolist() and np.allclose(ys, dists)
    assert abs(tl.id_line.value() - DIFFERENT_MIN) < 1e-9
    # View menu toggle (the Preferences overlay "identity"), remembered
    act = win.overlay_actions["identity"]
    assert act.isChecked()
    act.trigger()
    assert not state.overlays["identity"] and not cmds.prefs.overlays["identity"]
    assert not tl.id_curves and not tl.id_line.isVisible() and tl.identity_kind is None
    act.trigger()
    assert tl.id_curves and tl.id_line.isVisible()
    # the frames table: the identity column holds the distance, blank where no face was described
    assert COLUMNS[IDENTITY] == "Identity"
    model = win.table.source
    by_frame = {}
    for t, (indices, dists) in series.items():
        for i, d in zip(indices.tolist(), dists.tolist()):
            by_frame.setdefault(i, []).append(f"{d:.3f}")
    for r, fr in enumerate(model.rows):
        text = model.data(model.index(r, IDENTITY))
        assert text == " / ".join(by_frame.get(fr.index, [])), fr.index
    assert any(" / " in model.data(model.index(r, IDENTITY)) for r in range(len(model.rows)))  # two faces
    assert any(model.data(model.index(r, IDENTITY)) == "" for r in range(len(model.rows)))
    # with a reference the column shows the distances to it
    cmds.set_reference(Reference([fake_scanner({"a.jpg": [a]})("/ref/a.jpg").file()]))
    row0 = model.row_of[0]
    d0 = state.frame_result(0).faces[0].identity_distance
    assert model.data(model.index(row0, IDENTITY)).startswith(f"{d0:.3f}") and d0 < SAME_MAX


def test_settings_identity_checkbox_reaches_analysis_options(qtbot, app, qsettings):
    from caddm_gui.preferences import Preferences
    from caddm_gui.settings_dialog import SettingsDialog

    state, cmds = app
    assert cmds.options().identity and "identity" in cmds.options().settings().extra
    dlg = SettingsDialog(cmds.prefs)
    qtbot.addWidget(dlg)
    assert dlg.identity.isChecked() and dlg.overlays["identity"].isChecked()
    dlg.identity.setChecked(False)
    dlg.overlays["identity"].setChecked(False)
    cmds.apply_preferences(dlg.result_prefs())
    options = cmds.options()
    assert options.identity is False and "identity" not in options.settings().extra  # as --no-identity
    assert state.overlays["identity"] is False
    back = Preferences.load(qsettings)
    assert back.identity is False and back.overlays["identity"] is False


# --------------------------------------------------------------------------------------- end to end, real faces


def test_reference_photo_compared_with_an_analysis_and_exported(qtbot, win, tmp_path, clip):
    """The tiny model on the clip of the astronaut's face, the astronaut photo as the reference: the track is the
    same person, and the exported report lists the reference file with its hash, as caddm-analyze --reference."""
    state, cmds, panel = win.state, win.commands, win.reference
    cmds.prefs.frame_value = 9  # a track's first face and then every 3rd: 3 described faces, enough for a verdict
    open_and_wait(qtbot, cmds, clip)
    add_and_wait(qtbot, panel.refs, [FACE])
    result = analyse_and_wait(qtbot, cmds)
    assert result is not None and result.reference is not None and not errors(state)
    assert all(t.identity.verdict == "same person" for t in state.result.tracks if t.identity.n >= 3)
    assert win.timeline.identity_kind == "reference" and len(state.result.identities) == 1
    qtbot.waitUntil(lambda: panel.table.rowCount() and not panel.table.item(0, 0).icon().isNull(), timeout=20000)
    assert panel.table.item(0, 5).text() == "same person"
    out = tmp_path / "report"
    with qtbot.waitSignal(cmds.exportFinished, timeout=120000) as blocker:
        assert cmds.export_report(out, ["json", "html"])
    assert blocker.args[0] is not None, state.messages
    report = json.loads((out / "report.json").read_text())
    files = report["reference"]["files"]
    assert [f["path"] for f in files] == [str(FACE)] and files[0]["sha256"] == hashlib.sha256(
        FACE.read_bytes()).hexdigest() and files[0]["faces_used"] == 1
    assert len(report["identities"]) == 1 and report["identities"][0]["verdict"] == "same person"
    html = (out / "report.html").read_text()
    assert files[0]["sha256"] in html and "People in the video" in html and 'class="thumb"' in html
    # the cache holds the descriptors, not the comparison
    cached = cmds.cache.get(cmds.cache.key_for(state.result))
    assert cached is not None and cached.reference is None


def test_group_photo_from_shared_data(qtbot, win, shared_data):
    state, cmds, panel = win.state, win.commands, win.reference
    add_and_wait(qtbot, panel.refs, [need(shared_data / "faces" / "two_people.jpg"),
                                     shared_data / "faces" / "obama.jpg"])
    assert panel.faces.count() == 3 and panel.checked_faces() == [(0, 0), (1, 0)]
    panel.faces.item(0).setCheckState(panel.faces.item(0).checkState().Unchecked)
    assert len(cmds.reference.descriptors) == 1 and cmds.reference.files[0].faces_used == 0
