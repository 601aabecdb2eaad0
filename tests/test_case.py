"""The case file (core/case/): round trip, the audit chain against edits, bad files, failed writes, the writer
lock, and writers killed at random moments."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.case import (SCHEMA_VERSION, Case, CaseError, CaseLockedError, CaseReadOnlyError, CaseVersionError,
                       review_import_plan)
from core.analysis.results import Review
from report_fixtures import make_result

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the writer processes import this checkout's core


def evidence_file(folder: Path, name: str = "clip.mp4", data: bytes = b"not really a video, but hashed\n"):
    """A file standing for an evidence video, and a result whose VideoInfo records it."""
    path = folder / name
    path.write_bytes(data)
    from core.common.hashing import sha256_file

    result = make_result(case=False)
    result.review = Review()
    result.video = replace(result.video, path=str(path), sha256=sha256_file(path), size_bytes=len(data))
    return path, result


def tables(path: Path) -> dict:
    """Every row of every table, read with plain sqlite3 (the state a test compares)."""
    db = sqlite3.connect(path)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: db.execute(f"SELECT * FROM {n} ORDER BY 1").fetchall() for n in names}
    finally:
        db.close()


def raw(path: Path, sql: str, args=()) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute(sql, args)
        db.commit()
    finally:
        db.close()


@pytest.fixture
def filled(tmp_path):
    """A closed case with one item, one analysis, review on frames and tracks, and one recorded export."""
    video, result = evidence_file(tmp_path)
    path = tmp_path / "c.caddmcase"
    export = tmp_path / "report.json"
    with Case.open(path, "c", case_id="2026-117", analyst="J. Doe", notes="from the court") as case:
        item, new = case.add_evidence(result.video, "clip.mp4")
        rec = case.record_analysis(item.item, result)
        case.set_flag(1, 100, True)
        case.set_note(1, 150, "mouth blur")
        case.set_flag(1, 150, True)
        case.set_flag(1, 150, False)
        case.set_flag(1, 1, True, target="track")
        case.set_note(1, 0, "ear edge", target="track")
        export.write_text('{"report": 1}\n')
        case.record_exports(1, rec.id, {"json": export})
    return path, video, export, result


def test_round_trip(filled, tmp_path):
    path, video, export, result = filled
    with Case.open(path) as case:
        assert not case.writable and case.meta.case_id == "2026-117" and case.meta.analyst == "J. Doe"
        assert case.meta.schema_version == SCHEMA_VERSION and case.meta.notes == "from the court"
        [item] = case.items()
        assert (item.item, item.path, item.abs_path, item.sha256) == (1, "clip.mp4", str(video), result.video.sha256)
        assert item.info == result.video and item.info.frame_count == 250 and item.info.codec == "h264"
        [rec] = case.analyses(1)
        assert rec.model_sha256 == result.model.sha256 and rec.verdict == result.summary.verdict
        assert json.loads(rec.settings_json) == result.settings.to_dict() and not rec.from_cache
        assert case.result(rec.id) == result  # stored whole: frames, faces, boxes, landmarks
        review = case.review(1)
        assert review.flags == {100} and review.notes == {150: "mouth blur"}
        assert review.track_flags == {1} and review.track_notes == {0: "ear edge"}
        # history kept: frame 150 flagged then unflagged, both actions stay
        hist = [(a.target, a.index, a.kind, a.value) for a in case.review_history(1)]
        assert hist == [("frame", 100, "flag", True), ("frame", 150, "note", "mouth blur"),
                        ("frame", 150, "flag", True), ("frame", 150, "flag", False), ("track", 1, "flag", True),
                        ("track", 0, "note", "ear edge")]
        assert all(a.author == "J. Doe" and a.utc.endswith("Z") for a in case.review_history())
        [ex] = case.exports()
        assert ex.path == str(export) and ex.format == "json" and ex.size_bytes == export.stat().st_size
        report = case.report_result(rec.id)
        assert report.case.case_id == "2026-117" and report.review == review
        assert report.case.audit.startswith("10 entries; chain verified: yes; head ")
        actions = [e.action for e in case.audit()]
        assert actions == ["case.create", "evidence.add", "analysis.record"] + ["review.flag", "review.note"]  \
            + ["review.flag"] * 3 + ["review.note", "export.record"]
        check = case.verify()
        assert check.ok, check.problems
    # an unchanged action records nothing; the same file again is the same item
    with Case.open(path, "w", analyst="K. Roe") as case:
        assert case.set_flag(1, 100, True) is None and case.set_note(1, 150, " mouth blur ") is None
        assert case.add_evidence(result.video, "elsewhere/clip.mp4") == (case.item(1), False)
        a = case.set_note(1, 150, "")
        assert a.author == "K. Roe" and a.value == "" and case.review(1).notes == {}
        assert case.find_item("clip.mp4").item == case.find_item(result.video.sha256[:10]).item == 1
        with pytest.raises(CaseError, match="has 250 frames"):
            case.set_flag(1, 250)
        with pytest.raises(CaseError, match="no face track 7"):
            case.set_flag(1, 7, target="track")
        with pytest.raises(CaseError, match="no evidence item 'other.mp4'"):
            case.find_item("other.mp4")


def test_same_result_stored_once_and_cached_runs_recorded(filled):
    path, _, _, result = filled
    with Case.open(path, "w") as case:
        again, _ = case.record_run("clip.mp4", result.video, result, True, "2026-01-01T00:00:00.000Z")
        recs = case.analyses(1)
        assert len(recs) == 2 and recs[1].from_cache and recs[1].started_utc == "2026-01-01T00:00:00.000Z"
        assert recs[0].result_sha256 == recs[1].result_sha256
        assert again.review == case.review(1) and again.case.case_id == "2026-117"
        assert case.verify(files=False).ok
    assert len(tables(path)["results"]) == 1


def test_audit_detects_an_edited_flag_row(filled):
    path = filled[0]
    raw(path, "UPDATE review SET value = '0' WHERE id = 1")
    with Case.open(path) as case:
        check = case.check_audit()
        assert not check.ok and check.problems == ["review row 1 was changed after audit entry 4 recorded it"]
        assert "chain verified: NO" in check.summary()


def test_audit_detects_a_deleted_audit_row(filled):
    path = filled[0]
    raw(path, "DELETE FROM audit WHERE seq = 5")
    with Case.open(path) as case:
        problems = case.check_audit().problems
    assert "entry 5 missing (deleted)" in problems
    assert any(p.startswith("entry 6 (review.flag) does not follow") for p in problems)
    assert "review row 2 is not in the audit log (added outside caddm-inspector)" in problems


def test_audit_detects_a_modified_earlier_entry(filled):
    path = filled[0]
    raw(path, "UPDATE audit SET actor = 'someone else' WHERE seq = 2")
    with Case.open(path) as case:
        assert case.check_audit().problems == ["entry 2 (evidence.add) does not match its hash (edited)"]
    # rewriting that entry's own hash too breaks the link of the next one
    from core.case import entry_hash
    db = sqlite3.connect(path)
    seq, utc, actor, origin, action, detail, prev, _ = db.execute("SELECT * FROM audit WHERE seq = 2").fetchone()
    h = entry_hash(prev, {"seq": seq, "utc": utc, "actor": actor, "origin": origin, "action": action,
                          "detail": json.loads(detail)})
    db.execute("UPDATE audit SET hash = ? WHERE seq = 2", (h,))
    db.commit()
    db.close()
    with Case.open(path) as case:
        assert case.check_audit().problems == ["entry 3 (analysis.record) does not follow the entry before it "
                                               "(an earlier entry was removed or changed)"]


def test_audit_detects_deleted_and_added_rows(filled):
    path = filled[0]
    raw(path, "INSERT INTO review (item, target, idx, kind, value, author, utc, source) "
              "VALUES (1, 'frame', 5, 'flag', '1', 'x', 'now', 'case')")
    raw(path, "DELETE FROM review WHERE id = 6")
    raw(path, "UPDATE meta SET analyst = 'Mallory'")
    with Case.open(path) as case:
        problems = case.check_audit().problems
    assert "meta row 1 was changed after audit entry 1 recorded it" in problems
    assert "review row 7 is not in the audit log (added outside caddm-inspector)" in problems
    assert "review row 6, recorded by audit entry 9, is missing (deleted)" in problems


def test_verify_names_changed_and_missing_files(filled, tmp_path):
    path, video, export, _ = filled
    with Case.open(path) as case:
        assert [f.status for f in case.verify().findings] == ["ok", "ok"]
    video.write_bytes(video.read_bytes() + b"x")
    export.write_text('{"report": 2}\n')
    with Case.open(path) as case:
        report = case.verify()
    assert not report.ok
    lines = report.problems
    assert any(l.startswith("CHANGED  evidence 1: " + str(video)) and "SHA-256 is now" in l for l in lines)
    assert any(l.startswith("CHANGED  export 1 (item 1, json): " + str(export)) for l in lines)
    export.unlink()
    with Case.open(path) as case:
        assert any(l.startswith("MISSING  export 1") and "file not found" in l for l in case.verify().problems)
    # a later export to the same path replaces the earlier one: only the latest must match
    export.write_text("new\n")
    with Case.open(path, "w") as case:
        case.record_exports(1, 1, {"json": export})
        video.write_bytes(video.read_bytes()[:-1])
        report = case.verify()
    assert report.ok, report.problems
    assert [f.message for f in report.findings][1] == "replaced by export 2"


def test_bad_case_files_get_clear_messages(tmp_path, filled):
    garbage = tmp_path / "garbage.caddmcase"
    garbage.write_bytes(os.urandom(3000))
    empty = tmp_path / "empty.caddmcase"
    empty.write_bytes(b"")
    foreign = tmp_path / "foreign.caddmcase"
    raw(foreign, "CREATE TABLE songs (title TEXT)")
    blank = tmp_path / "blank.caddmcase"
    raw(blank, "PRAGMA user_version = 3")
    cases = {garbage: "not a case file (not an SQLite database)", empty: "an empty file, not a case file",
             foreign: "not a CADDM Inspector case: an SQLite database of another program (tables: songs)",
             blank: "not a CADDM Inspector case: an empty SQLite database",
             tmp_path / "missing.caddmcase": "no such case file", tmp_path: "is a folder, not a case file"}
    for path, message in cases.items():
        for mode in ("r", "w"):
            with pytest.raises(CaseError) as e:
                Case.open(path, mode).close()
            assert e.value.path == str(path) and message in e.value.problem, (path, mode, str(e.value))
            assert str(e.value).startswith(str(path) + ": ")
    assert garbage.read_bytes() and not (tmp_path / "garbage.caddmcase.lock").exists()
    # a case cut short: refused on opening, or its check says what SQLite found
    truncated = tmp_path / "truncated.caddmcase"
    data = filled[0].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    try:
        with Case.open(truncated) as case:
            report = case.verify(files=False)
        assert not report.ok and report.problems[0].startswith("database integrity check: ")
    except CaseError as e:
        assert str(e).startswith(f"{truncated}: is a damaged case") or "not a readable case" in str(e)


def test_newer_schema_is_read_but_not_written(filled):
    path = filled[0]
    raw(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = tables(path)
    with pytest.raises(CaseVersionError) as e:
        Case.open(path, "w")
    assert str(path) in str(e.value) and "newer version" in str(e.value) and "update caddm-inspector" in str(e.value)
    with Case.open(path) as case:
        assert case.meta.case_id == "2026-117" and "newer version" in case.notices[0]
        with pytest.raises(CaseReadOnlyError):
            case.set_flag(1, 3)
    assert tables(path) == before


def test_read_only_case(filled):
    path = filled[0]
    before = tables(path)
    os.chmod(path, 0o444)
    try:
        with pytest.raises(CaseReadOnlyError) as e:
            Case.open(path, "w")
        assert str(e.value) == (f"{path}: the case file is read-only: it can be read (caddm-case info, verify, "
                                "export) but not changed")
        with Case.open(path) as case:
            assert case.verify().ok and case.review(1).flags == {100}
            with pytest.raises(CaseReadOnlyError, match="opened read-only: it cannot be changed"):
                case.set_note(1, 3, "x")
    finally:
        os.chmod(path, 0o644)
    assert tables(path) == before


class FailingDB:
    """A connection whose COMMIT fails, as a full disk or an I/O error does."""

    def __init__(self, db):
        self.db = db

    def execute(self, sql, *args):
        if sql.strip().upper() == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return self.db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.db, name)


def test_failed_write_leaves_the_case_as_it_was(filled):
    path, _, _, result = filled
    before = tables(path)
    with Case.open(path, "w") as case:
        real = case._db
        case._db = FailingDB(real)
        for action in (lambda: case.set_flag(1, 7), lambda: case.set_note(1, 7, "x"),
                       lambda: case.record_analysis(1, result.with_threshold(0.9)),
                       lambda: case.import_review(1, [("frame", 9, "flag", "1")], "test")):
            with pytest.raises(CaseError) as e:
                action()
            assert "disk I/O error" in str(e.value) and "the case is unchanged" in str(e.value)
            assert str(e.value).startswith(str(path))
        case._db = real
        assert case.review(1).flags == {100} and len(case.analyses()) == 1
        # a real full disk: the database may not grow
        pages = real.execute("PRAGMA page_count").fetchone()[0]
        real.execute(f"PRAGMA max_page_count = {pages}")
        notes = [("frame", i, "note", f"a long note {i} " * 8) for i in range(200)]
        with pytest.raises(CaseError, match="database or disk is full"):
            case.import_review(1, notes, "test")
        assert case.review(1).notes == {150: "mouth blur"}
        real.execute("PRAGMA max_page_count = 1073741823")
    assert tables(path) == before
    with Case.open(path, "w") as case:  # and it goes on working
        assert case.set_flag(1, 7) is not None and case.verify(files=False).ok


HOLD = textwrap.dedent("""
    import sys, time
    from core.case import Case
    case = Case.open(sys.argv[1], "w", program="holder")
    print("held", flush=True)
    time.sleep(60)
""")


def test_second_writer_is_refused_and_a_dead_writers_lock_taken_over(filled):
    path = filled[0]
    with Case.open(path, "w") as first:
        with pytest.raises(CaseLockedError) as e:
            Case.open(path, "w")
        assert str(path) in str(e.value) and f"pid {os.getpid()}" in str(e.value)
        with Case.open(path) as reader:  # readers are never locked out
            assert reader.review(1).flags == {100}
        first.set_flag(1, 3)
    # another process holds it: refused, naming that process; killed: taken over and logged
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(CaseLockedError) as e:
            Case.open(path, "w")
        assert f"pid {proc.pid}" in str(e.value) and "holder" in str(e.value)
    finally:
        proc.kill()
        proc.wait()
    with Case.open(path, "w") as case:
        assert any(f"pid {proc.pid}" in n and "ended without closing" in n for n in case.notices)
        last = case.audit()[-1]
        assert last.action == "lock.takeover" and last.detail["previous_holder"]["pid"] == proc.pid
    assert not Path(str(path) + ".lock").exists()


def test_review_import_plan():
    current = Review(flags={1}, notes={2: "mine"}, track_notes={0: "t"})
    offered = Review(flags={1, 5}, notes={2: "theirs", 3: "new", 4: " "}, track_flags={2}, track_notes={0: "t"})
    actions, conflicts = review_import_plan(current, offered)
    assert actions == [("frame", 5, "flag", "1"), ("frame", 3, "note", "new"), ("track", 2, "flag", "1")]
    assert conflicts == ["frame 2: the case's note 'mine' kept, the offered note 'theirs' not imported"]


WRITER = textwrap.dedent("""
    import random, sys
    from core.case import Case
    path, seed = sys.argv[1], int(sys.argv[2])
    rnd = random.Random(seed)
    with Case.open(path, "w", analyst=f"writer {seed}", program="kill-test") as case:
        print("open", flush=True)
        n = 0
        while True:
            n += 1
            frame = rnd.randrange(250)
            if rnd.random() < 0.5:
                on = not (frame in case.review(1).flags)
                a = case.set_flag(1, frame, on)
                print(f"ack {a.id} flag {frame} {int(on)}", flush=True)
            else:
                a = case.set_note(1, frame, f"note {seed}-{n}")
                print(f"ack {a.id} note {frame} note {seed}-{n}", flush=True)
""")


@pytest.mark.long
def test_writers_killed_at_random_moments_lose_nothing_acknowledged(tmp_path):
    """A writer process doing review actions is killed (SIGKILL) at a random moment, 24 times: each time the case
    opens, SQLite finds it intact, the audit chain verifies, and every action the writer acknowledged is there."""
    _, result = evidence_file(tmp_path)
    path = tmp_path / "kill.caddmcase"
    with Case.open(path, "c", case_id="K") as case:
        item, _ = case.add_evidence(result.video)
        case.record_analysis(item.item, result)
    rnd = random.Random(1234)
    acked_total, started = 0, time.monotonic()
    for i in range(24):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(i)], cwd=ROOT, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # every 4th: kill at any moment from start-up (before or while it opens the case) on; else once it is
        # open, after a random number of actions
        time.sleep(rnd.uniform(0.0, 0.8) if i % 4 == 0 else 0.0)
        if i % 4:
            assert proc.stdout.readline().strip() == "open", proc.stderr.read()
            time.sleep(rnd.uniform(0.0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, err
        acked = [line.split(" ", 4) for line in out.splitlines() if line.startswith("ack ")]
        with Case.open(path, "w") as case:  # a writer after the kill gets the case
            assert case.integrity() == "ok"
            check = case.check_audit()
            assert check.ok, check.problems
            stored = {a.id: a for a in case.review_history(1)}
            for _, aid, kind, frame, value in acked:
                a = stored[int(aid)]
                assert (a.kind, a.index) == (kind, int(frame)), (i, aid)
                assert a.value == (value == "1" if kind == "flag" else value)
            acked_total += len(acked)
    with Case.open(path) as case:
        assert case.verify(files=False).ok
        takeovers = sum(e.action == "lock.takeover" for e in case.audit())
    assert acked_total > 20 and takeovers >= 18
    print(f"kill test: 24 kills, {acked_total} acknowledged actions, {takeovers} lock take-overs, "
          f"{time.monotonic() - started:.1f} s")
