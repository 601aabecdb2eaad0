"""The case file in the app (caddm_gui/case_commands.py, case_panel.py), offscreen: create a case, add videos,
analyse, every flag and note in the case file at once (read back by a second, read-only `Case`), reports with the
case's review recorded as exports, close and reopen restoring the review without re-analysing (the cache emptied),
a second writer refused with the holder named and the case opened read-only, read-only and newer files, the cached
review offered and imported, corrupt and foreign files."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3

import pytest

from core.case import Case
from core.analysis.findings import ARTIFACT_VERDICT_WORDS
from gui_fixtures import show_window, analyse_and_wait, app, clip, errors, open_and_wait, prefs, qsettings, result_cache, \
    tiny_model, write_clip  # noqa: F401

pytestmark = pytest.mark.slow


def in_case(path) -> Case:
    """The case as a second reader sees it on disk now."""
    return Case.open(path, "r")


def warnings(state) -> list[str]:
    return [t for level, t in state.messages if level == "warning"]


@pytest.fixture
def second(tmp_path):
    return write_clip(tmp_path / "second_clip.mp4", n=16)


@pytest.fixture
def win(qtbot, app):
    w = show_window(qtbot, app)
    w.ask_read_only = lambda message: pytest.fail(f"unexpected question: {message}")
    w.ask_import = lambda offer: pytest.fail(f"unexpected offer: {offer.actions}")
    return w


def case_with_review(qtbot, cmds, clip, path):
    """A new case with `clip` analysed as item 1, two frames flagged (one then unflagged) and two notes; the
    case stays open and the video too. Returns (flagged frame, noted frames)."""
    state = cmds.state
    assert cmds.cases.new_case(path, "C-17", "A. Analyst", "seized phone")
    open_and_wait(qtbot, cmds, clip)
    result = analyse_and_wait(qtbot, cmds)
    assert result is not None and result.complete, state.messages
    idx = [f.index for f in state.frames]
    cmds.set_flag(idx[1], True)
    cmds.set_flag(idx[3], True)
    cmds.set_flag(idx[3], False)
    cmds.set_note(idx[1], "blend edge at the jaw")
    cmds.set_note(idx[4], "lips <blur>")
    return idx[1], [idx[1], idx[4]]


def test_create_add_analyse_review_in_the_case_at_once(qtbot, app, clip, second, tmp_path):
    state, cmds = app
    path = tmp_path / "2026-117"                      # the suffix is added
    assert cmds.cases.new_case(path, "", "", "")
    path = tmp_path / "2026-117.caddmcase"
    assert state.case is not None and state.case.writable and path.is_file()
    assert state.case.meta.case_id == "2026-117"      # the file's name by default
    assert state.case.meta.analyst                    # the login name by default
    assert str(path) == cmds.prefs.recent_cases[0]

    # add videos: hashed in a worker, each added once; a file that is not a video is named, the rest added
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with qtbot.waitSignal(cmds.cases.videosAdded, timeout=30000) as b:
        assert cmds.cases.add_videos([clip, second, bad])
    assert b.args[0] == [1, 2]
    assert any("notes.mp4" in e and "Not added" in e for e in errors(state))
    with in_case(path) as c:
        assert [(i.item, i.name) for i in c.items()] == [(1, "moving_face.mp4"), (2, "second_clip.mp4")]
        assert c.analyses() == []
    with qtbot.waitSignal(cmds.cases.videosAdded, timeout=30000) as b:
        cmds.cases.add_videos([second])             # the same content again: no second item
    assert b.args[0] == [2]
    with in_case(path) as c:
        assert len(c.items()) == 2

    # open item 1 and analyse: the analysis is recorded
    with qtbot.waitSignal(cmds.infoReady, timeout=20000):
        assert cmds.cases.open_item(1)
    assert state.case_item == 1 and state.result is None
    result = analyse_and_wait(qtbot, cmds)
    assert result is not None and result.complete
    with in_case(path) as c:
        [rec] = c.analyses(1)
        assert state.case_analysis == rec.id and not rec.from_cache
        assert rec.verdict == result.summary.verdict and rec.model_name == "tiny-test"

    # every flag and note is in the case file as soon as the command returns (no save step)
    i, j = state.frames[1].index, state.frames[2].index
    cmds.set_flag(i, True)
    cmds.set_note(j, "mouth edge flickers")
    with in_case(path) as c:
        rv = c.review(1)
        assert rv.flags == {i} and rv.notes == {j: "mouth edge flickers"}
        assert [a.kind for a in c.review_history(1)] == ["flag", "note"]
        assert c.check_audit().ok
    cmds.set_flag(i, False)
    cmds.set_note(j, "")
    with in_case(path) as c:
        assert c.review(1).flags == set() and c.review(1).notes == {}
        assert len(c.review_history(1)) == 4           # the history stays
    # the review lives in the case, not in the cache
    cmds.set_flag(i, True)
    qtbot.wait(600)                                    # longer than the cache's save delay
    assert cmds.wait(10000)
    [(_, cached)] = cmds.cache.results_for_video(state.info.sha256)
    assert cached.review.flags == set() and cached.review.notes == {}
    assert not errors(state)[1:], state.messages


def test_export_carries_the_case_review_and_is_recorded(qtbot, app, clip, tmp_path):
    import shutil

    from core.analysis.results import CaseInfo

    state, cmds = app
    clip = shutil.copy(clip, tmp_path / "moving_face.mp4")   # changed below
    path = tmp_path / "c17.caddmcase"
    flagged, noted = case_with_review(qtbot, cmds, clip, path)
    out = tmp_path / "report"
    with qtbot.waitSignal(cmds.exportFinished, timeout=120000) as b:
        # the dialog's header is not used with a case open: the case's is
        assert cmds.export_report(out, ["json", "csv", "html"], CaseInfo("other", "someone else", ""))
    written = b.args[0]
    assert written is not None, state.messages
    data = json.loads((out / "report.json").read_text())
    assert data["case"]["case_id"] == "C-17" and data["case"]["analyst"] == "A. Analyst"
    assert "chain verified: yes" in data["case"]["audit"]
    assert data["review"]["flags"] == [flagged]
    assert data["review"]["notes"] == {str(noted[0]): "blend edge at the jaw", str(noted[1]): "lips <blur>"}
    assert "lips &lt;blur&gt;" in (out / "report.html").read_text()
    with in_case(path) as c:
        exports = c.exports(1)
        assert sorted(e.format for e in exports) == ["csv", "html", "json"]
        for e in exports:
            assert e.analysis == state.case_analysis
            assert e.sha256 == hashlib.sha256(open(e.path, "rb").read()).hexdigest()
        assert c.verify().ok
    assert any("recorded in case C-17 as exports" in t for _, t in state.messages)

    # an evidence file changed since it was hashed: no report with its frames, nothing recorded
    with open(clip, "ab") as f:
        f.write(b"\0")
    with qtbot.waitSignal(cmds.exportFinished, timeout=60000) as b:
        cmds.export_report(tmp_path / "report2", ["json"])
    assert b.args[0] is None
    assert any("evidence item 1 has changed" in e and str(clip) in e for e in errors(state))
    assert not (tmp_path / "report2").exists()
    with in_case(path) as c:
        assert len(c.exports()) == 3


def test_close_and_reopen_restores_the_review_from_the_case(qtbot, app, clip, tmp_path):
    state, cmds = app
    path = tmp_path / "c17.caddmcase"
    flagged, noted = case_with_review(qtbot, cmds, clip, path)
    before = (set(state.review.flags), dict(state.review.notes))
    rec = state.case_analysis
    scores = [f.score for f in state.frames]
    # closing the case: the lock is released and the video is shown as outside any case (the cache has no review)
    with qtbot.waitSignal(cmds.infoReady, timeout=20000):
        assert cmds.cases.close_case()
    assert state.case is None and not (tmp_path / "c17.caddmcase.lock").exists()
    assert state.review.flags == set() and state.review.notes == {}
    # the case never depends on the cache: empty it, reopen the case; the open video shows the case's analysis
    cmds.cache.clear()
    analysed = []
    cmds.analysisFinished.connect(analysed.append)
    with qtbot.waitSignal(cmds.infoReady, timeout=20000):
        assert cmds.cases.open_case(path)
    assert state.case.writable and state.case_item == 1 and state.case_analysis == rec
    assert (set(state.review.flags), dict(state.review.notes)) == before == ({flagged}, {
        noted[0]: "blend edge at the jaw", noted[1]: "lips <blur>"})
    assert [f.score for f in state.frames] == scores and not state.from_cache
    assert not analysed and not state.busy
    # and once more after another video: the same
    open_and_wait(qtbot, cmds, write_clip(tmp_path / "other.mp4", n=8))
    assert state.case_item is None and state.review.flags == set()
    open_and_wait(qtbot, cmds, clip)
    assert (set(state.review.flags), dict(state.review.notes)) == before
    assert not analysed


def test_second_writer_gets_the_lock_message_and_read_only(qtbot, win, clip, tmp_path):
    state, cmds = win.state, win.commands
    path = tmp_path / "c17.caddmcase"
    flagged, _ = case_with_review(qtbot, cmds, clip, path)
    with qtbot.waitSignal(cmds.infoReady, timeout=20000):
        cmds.cases.close_case()
    holder = Case.open(path, "w", program="caddm-case")   # another writer
    try:
        asked = []
        win.ask_read_only = lambda message: asked.append(message) or False   # the analyst says no
        assert not cmds.cases.open_case(path)
        assert state.case is None
        assert len(asked) == 1 and f"pid {os.getpid()}" in asked[0] and "caddm-case" in asked[0]
        assert win.messages.level == "error" and "open for writing by pid" in win.messages.text()
        assert str(path) in win.messages.text()

        win.ask_read_only = lambda message: asked.append(message) or True     # now yes: read-only
        with qtbot.waitSignal(cmds.infoReady, timeout=20000):   # the open video is shown from the case
            cmds.cases.open_case(path)
        assert state.case is not None and not state.case.writable
        assert win.case_panel.read_only.isVisible() and "READ-ONLY" in win.case_panel.read_only.text()
        assert "open for writing by pid" in win.case_panel.read_only.text()
        assert "READ-ONLY" in win.case_label.text() and "read-only" in win.windowTitle()
        assert state.case_analysis is not None and state.review.flags == {flagged}
        # review actions are disabled and refused with a message; nothing is written
        assert not win.review.flag.isEnabled() and not win.review.note.isEnabled()
        other = state.frames[0].index
        cmds.set_flag(other, True)
        cmds.set_note(other, "not allowed")
        assert state.review.flags == {flagged} and other not in state.review.notes
        assert any("read-only" in w and "not recorded" in w for w in warnings(state))
        assert not win.case_panel.add_button.isEnabled()
        with in_case(path) as c:
            assert c.review(1).flags == {flagged} and "not allowed" not in c.review(1).notes.values()
    finally:
        holder.close()


def test_read_only_file_and_newer_schema_open_read_only(qtbot, app, tmp_path):
    state, cmds = app
    path = tmp_path / "ro.caddmcase"
    Case.create(path, case_id="RO-1").close()
    os.chmod(path, 0o444)
    try:
        assert cmds.cases.open_case(path)
        assert not state.case.writable and state.case.read_only_reason == "the case file is read-only"
        assert "read-only" in state.review_refused()
        cmds.cases.close_case()
    finally:
        os.chmod(path, 0o644)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    assert cmds.cases.open_case(path)
    assert not state.case.writable and "newer version" in state.case.read_only_reason
    assert any("newer version" in w for w in warnings(state))   # the case's own notice


def test_cached_review_is_offered_and_imported(qtbot, win, clip, tmp_path):
    from core.media.video import probe_video

    from caddm_gui.case_panel import ReviewOfferDialog

    state, cmds = win.state, win.commands
    # without a case: a review saved with the cached result
    open_and_wait(qtbot, cmds, clip)
    analyse_and_wait(qtbot, cmds)
    i, j = state.frames[1].index, state.frames[2].index
    cmds.set_flag(i, True)
    cmds.set_note(i, "cached note")
    cmds.set_note(j, "the cache's text")
    cmds.flush_review()
    # a case that has the video with a note of its own on frame j (a conflict) and nothing else
    path = tmp_path / "c.caddmcase"
    with Case.open(path, "c", case_id="C-2", analyst="B") as c:
        item, _ = c.add_evidence(probe_video(clip))
        c.set_note(item.item, j, "the case's text")
    offers = []
    win.ask_import = lambda offer: offers.append(offer) or True
    with qtbot.waitSignal(cmds.infoReady, timeout=20000):
        assert cmds.cases.open_case(path)        # the open video is shown from the case: the offer comes
    [offer] = offers
    assert offer.actions == [("frame", i, "flag", "1"), ("frame", i, "note", "cached note")]
    assert len(offer.conflicts) == 1 and "the case's text" in offer.conflicts[0]
    dlg = ReviewOfferDialog(offer, str(clip), "C-2")
    qtbot.addWidget(dlg)
    text = dlg.text.toPlainText()
    assert f"import: frame {i} flag" in text and "conflict: frame" in text
    # imported: the case has the flag and note, its own note kept, and the cached analysis they belong to
    assert state.review.flags == {i} and state.review.notes == {i: "cached note", j: "the case's text"}
    with in_case(path) as c:
        assert c.review(1).flags == {i} and c.review(1).notes == {i: "cached note", j: "the case's text"}
        assert any(a.source.startswith("cache ") for a in c.review_history(1))
        assert c.analyses(1) and all(a.from_cache for a in c.analyses(1))
        assert c.check_audit().ok
    # opened again: nothing left to offer
    win.ask_import = lambda offer: pytest.fail("offered twice")
    open_and_wait(qtbot, cmds, clip)
    assert state.review.flags == {i}


@pytest.mark.parametrize("kind", ["garbage", "foreign", "empty", "folder", "missing"])
def test_corrupt_and_foreign_files_give_a_message_and_write_nothing(qtbot, app, tmp_path, kind):
    state, cmds = app
    folder = tmp_path / "cases"
    folder.mkdir()
    path = folder / "x.caddmcase"
    expect = {"garbage": "not a case file (not an SQLite database)", "foreign": "an SQLite database of another "
              "program (tables: photos)", "empty": "is an empty file", "folder": "is a folder",
              "missing": "no such case file"}[kind]
    if kind == "garbage":
        path.write_bytes(os.urandom(3000))
    elif kind == "foreign":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE photos (id INTEGER, name TEXT)")
        db.commit()
        db.close()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()

    def snapshot():
        return {p.name: (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns) for p in folder.iterdir()}

    before = snapshot()
    assert not cmds.cases.open_case(path)
    assert state.case is None
    [err] = errors(state)
    assert str(path) in err and expect in err
    assert snapshot() == before                     # nothing written, no lock or journal left


def test_window_menu_new_case_panel_and_double_click(qtbot, win, clip, second, tmp_path, monkeypatch):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog

    from caddm_gui import case_panel

    state, cmds = win.state, win.commands
    assert win.case_panel.stack.currentIndex() == 0 and not win.act_close_case.isEnabled()
    path = tmp_path / "menu-case.caddmcase"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "menu-case"), ""))
    made = []

    def accept(dlg):
        made.append((dlg.case_id.text(), dlg.analyst.text()))
        dlg.analyst.setText("C. Examiner")
        return True
    monkeypatch.setattr(case_panel.NewCaseDialog, "exec", accept)
    win.act_new_case.trigger()
    assert made == [("menu-case", made[0][1])] and made[0][1]       # id from the file, analyst by default
    assert state.case is not None and state.case.meta.analyst == "C. Examiner" and path.is_file()
    assert win.case_panel.stack.currentIndex() == 1 and win.act_close_case.isEnabled()
    assert "case menu-case" in win.windowTitle()

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(clip), str(second)], ""))
    with qtbot.waitSignal(cmds.cases.videosAdded, timeout=30000):
        win.case_panel.add_button.click()
    panel = win.case_panel
    qtbot.waitUntil(lambda: panel.items.topLevelItemCount() == 2, timeout=5000)
    assert [panel.items.topLevelItem(r).text(1) for r in range(2)] == ["moving_face.mp4", "second_clip.mp4"]
    assert panel.items.topLevelItem(0).text(2) == "not analysed"

    # double-click item 2: it opens; analyse it, and the row shows its verdict, score and review counts
    row = panel.row_for_item(2)
    rect = panel.items.visualItemRect(row)
    with qtbot.waitSignal(cmds.infoReady, timeout=20000):
        qtbot.mouseClick(panel.items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(panel.items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert state.video_path == str(second) and state.case_item == 2
    result = analyse_and_wait(qtbot, cmds)
    cmds.set_flag(state.frames[0].index, True)
    cmds.set_note(state.frames[0].index, "check")
    cmds.set_note(state.frames[1].index, "and this")
    # a note typed in the review panel goes to the case; the text being typed is left alone
    cmds.seek(state.frames[2].index)
    win.review.note.setFocus()
    qtbot.keyClicks(win.review.note, "typed here")
    win.review.commit_note()
    assert win.review.note.toPlainText() == "typed here" and win.review.note.textCursor().position() == 10
    with in_case(path) as c:
        assert c.review(2).notes[state.frames[2].index] == "typed here"
    cmds.set_note(state.frames[2].index, "")
    qtbot.waitUntil(lambda: panel.row_for_item(2).text(5) == "1", timeout=5000)
    row = panel.row_for_item(2)
    assert row.text(2) == ARTIFACT_VERDICT_WORDS[result.summary.verdict][0] and row.text(4) == "1"
    assert row.text(6) == "2" and row.text(2) != "REAL"
    assert row.font(0).bold() and not panel.row_for_item(1).font(0).bold()
    assert "chain verified: yes" in panel.values["Audit log"].text()
    assert "case analysis" in win.findings.detail.text()

    # the recent cases menu, then closing
    win._fill_recent()
    assert [a.text() for a in win.recent_cases_menu.actions()] == [str(path)]
    with qtbot.waitSignal(cmds.infoReady, timeout=20000):
        win.act_close_case.trigger()
    assert state.case is None and panel.stack.currentIndex() == 0


def test_an_item_whose_file_changed_or_went_is_named_when_opened(qtbot, app, clip, tmp_path):
    import shutil

    state, cmds = app
    video = shutil.copy(clip, tmp_path / "evidence.mp4")
    assert cmds.cases.new_case(tmp_path / "c.caddmcase")
    with qtbot.waitSignal(cmds.cases.videosAdded, timeout=30000):
        cmds.cases.add_videos([video])
    with open(video, "ab") as f:
        f.write(b"\0")
    with qtbot.waitSignal(cmds.infoReady, timeout=20000):
        assert cmds.cases.open_item(1)
    assert state.case_item is None
    assert any("not the file evidence item 1" in w and "evidence.mp4" in w for w in warnings(state))
    os.remove(video)
    assert not cmds.cases.open_item(1)
    assert str(video) in errors(state)[-1]
