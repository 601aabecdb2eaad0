"""caddm-case and caddm-analyze --case end to end: a case built by an analysis, review from the command line,
export with the case's review, verify against changed files, import of cached review, refusals."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import isolated_cache_dir
from core.case import Case
from core.cli.analyze import main as analyze_main
from core.cli.case import main as case_main


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = isolated_cache_dir(tmp_path / "cache")
    monkeypatch.setenv("CADDM_CACHE_DIR", str(d))
    return d


def run(capsys, main, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def analysed(tmp_path, face_clip, tiny_model_path, cache_dir, capsys):
    """A copy of the face clip analysed into a new case by caddm-analyze --case (reports recorded as exports)."""
    clip = tmp_path / "evidence" / "suspect.mp4"
    clip.parent.mkdir()
    shutil.copy(face_clip, clip)
    case = tmp_path / "c7.caddmcase"
    code, out, err = run(capsys, analyze_main, clip, "--out", tmp_path / "out", "--model", tiny_model_path,
                         "--frames", "3", "--format", "json,html", "--case", case, "--case-id", "C-7",
                         "--analyst", "A. Nalyst", "--quiet")
    assert code == 0, err
    return case, clip, tmp_path / "out" / "suspect"


def test_usage(capsys):
    assert run(capsys, case_main, "--help")[0] == 0
    assert run(capsys, case_main)[0] == 2
    assert run(capsys, case_main, "flag", "x.caddmcase", "1")[0] == 2  # INDEX missing
    assert run(capsys, case_main, "flag", "x.caddmcase", "1", "two")[0] == 2
    code, _, err = run(capsys, case_main, "info", "missing.caddmcase")
    assert code == 1 and err.strip() == f"caddm-case: error: {os.path.abspath('missing.caddmcase')}: no such case file"


def test_analyze_into_a_case_review_export_verify(analysed, tmp_path, tiny_model_path, capsys):
    case, clip, reports = analysed
    report = json.loads((reports / "report.json").read_text())
    assert report["case"]["case_id"] == "C-7" and report["case"]["analyst"] == "A. Nalyst"
    assert "chain verified: yes" in report["case"]["audit"]
    frames = [f["index"] for f in report["frames"]]
    tracks = [t["track"] for t in report["tracks"]]

    # again: the cached result is recorded as a second analysis
    code, _, err = run(capsys, analyze_main, clip, "--out", tmp_path / "out2", "--model", tiny_model_path,
                       "--frames", "3", "--format", "json", "--case", case, "--case-id", "other", "--quiet")
    assert code == 0 and "the case id 'other' given is not used" in err
    with Case.open(case) as c:
        a1, a2 = c.analyses(1)
        assert not a1.from_cache and a2.from_cache and a1.result_sha256 == a2.result_sha256
        assert [e.format for e in c.exports()] == ["json", "html", "json"]

    # review from the command line
    code, out, _ = run(capsys, case_main, "flag", case, "1", frames[1])
    assert code == 0 and out.startswith(f"flagged: item 1 (suspect.mp4) frame {frames[1]}")
    assert run(capsys, case_main, "flag", case, "suspect.mp4", frames[1])[1].startswith("unchanged")
    code, out, _ = run(capsys, case_main, "note", case, "1", frames[2], "lips <blur>", "--analyst", "B. Second")
    assert code == 0 and "by B. Second" in out
    code, _, err = run(capsys, case_main, "flag", case, "1", "5000")
    assert code == 1 and "has 20 frames (0-19); there is no frame 5000" in err
    code, _, err = run(capsys, case_main, "flag", case, "1", frames[1] + 1)
    assert code == 0 and "not among the frames analysed" in err
    if tracks:
        assert run(capsys, case_main, "note", case, "1", tracks[0], "whole track", "--track")[0] == 0

    code, out, _ = run(capsys, case_main, "info", case)
    assert code == 0 and "Case:          C-7" in out and "suspect.mp4" in out
    assert "(analysis 2, tiny-test, from the cache; 2 analyses of this item)" in out
    assert "2 flagged frames, 1 frame note" in out and "chain verified: yes" in out

    # export with the case's review; recorded with its hashes
    code, out, err = run(capsys, case_main, "export", case, "--out", tmp_path / "exp", "--format", "json,html")
    assert code == 0, err
    assert "item 1 (suspect.mp4)" in out and "recorded as exports 4, 5" in out
    exported = json.loads((tmp_path / "exp" / "suspect" / "report.json").read_text())
    assert exported["review"]["flags"] == sorted([frames[1], frames[1] + 1])
    assert exported["review"]["notes"] == {str(frames[2]): "lips <blur>"}
    assert exported["case"]["case_id"] == "C-7" and "entries; chain verified: yes" in exported["case"]["audit"]
    html = (tmp_path / "exp" / "suspect" / "report.html").read_text()
    assert "lips &lt;blur&gt;" in html and "Case audit log" in html
    code, out, _ = run(capsys, case_main, "verify", case)
    assert code == 0 and out.rstrip().endswith(f"case verified: {case}")

    # a changed evidence file and a changed export: named, exit 1
    (tmp_path / "exp" / "suspect" / "report.html").write_text("<html>edited</html>")
    with open(clip, "ab") as f:
        f.write(b"\0")
    code, out, err = run(capsys, case_main, "verify", case)
    assert code == 1 and "case NOT verified" in err
    changed = [l for l in out.splitlines() if l.startswith("CHANGED")]
    assert len(changed) == 2
    assert changed[0].startswith(f"CHANGED  evidence 1: {clip}: SHA-256 is now")
    assert changed[1].startswith(f"CHANGED  export 5 (item 1, html): {tmp_path / 'exp' / 'suspect' / 'report.html'}")
    # a changed evidence file gives no frame images; without them the export goes on
    code, _, err = run(capsys, case_main, "export", case, "1", "--out", tmp_path / "exp2")
    assert code == 1 and "has changed" in err and "--no-frames" not in err
    code, out, _ = run(capsys, case_main, "export", case, "1", "--out", tmp_path / "exp2", "--no-frames",
                       "--format", "json")
    assert code == 0 and (tmp_path / "exp2" / "suspect" / "report.json").exists()
    code, out, _ = run(capsys, case_main, "log", case)
    assert code == 0 and "case.create" in out.splitlines()[0] and "export.record" in out.splitlines()[-1]


def test_import_cached_review(analysed, tmp_path, capsys):
    from core.analysis.cache import ResultCache

    case, clip, _ = analysed
    cache = ResultCache()
    with Case.open(case) as c:
        [(_, result)] = cache.results_for_video(c.item(1).sha256)
    idx = [f.index for f in result.frames]
    with Case.open(case, "w") as c:  # the case has a note of its own on one frame
        c.set_note(1, idx[0], "case note")
    result.review.flags = {idx[1]}
    result.review.notes = {idx[0]: "app note", idx[2]: "from the app"}
    cache.put(cache.key_for(result), result)  # what the app's review saving does

    code, out, _ = run(capsys, case_main, "import-cache", case, clip, "--dry-run")
    assert code == 0 and f"would import: frame {idx[1]} flag" in out
    assert f"would import: frame {idx[2]} note 'from the app'" in out
    assert f"conflict: frame {idx[0]}: the case's note 'case note' kept" in out
    with Case.open(case) as c:
        assert c.review(1).flags == set()
    code, out, _ = run(capsys, case_main, "import-cache", case, clip, "--analyst", "Importer")
    assert code == 0 and "imported 2 review actions into item 1" in out
    with Case.open(case) as c:
        rv = c.review(1)
        assert rv.flags == {idx[1]} and rv.notes == {idx[0]: "case note", idx[2]: "from the app"}
        imported = c.review_history(1)[-2:]
        assert all(a.author == "Importer" and a.source.startswith("cache ") for a in imported)
        assert c.audit()[-1].action == "review.import" and c.verify(files=False).ok
    assert "nothing to import" in run(capsys, case_main, "import-cache", case, clip)[1]

    # a case without that video: the item and the cached analysis come with the review
    other = tmp_path / "other.caddmcase"
    assert run(capsys, case_main, "create", other, "--case-id", "O-1")[0] == 0
    code, out, _ = run(capsys, case_main, "import-cache", other, clip)
    assert code == 0 and "added" in out and "imported 3 review actions" in out
    with Case.open(other) as c:
        [a] = c.analyses(1)
        assert a.from_cache and c.review(1).notes[idx[0]] == "app note"


def test_refusals_read_only_and_locked(analysed, tmp_path, capsys):
    case = analysed[0]
    with Case.open(case, "w"):
        code, _, err = run(capsys, case_main, "flag", case, "1", "0")
        assert code == 1 and f"{case}: the case is open for writing by pid {os.getpid()}" in err
        assert run(capsys, case_main, "info", case)[0] == 0  # reading goes on
    os.chmod(case, 0o444)
    try:
        code, _, err = run(capsys, case_main, "note", case, "1", "0", "x")
        assert code == 1 and "the case file is read-only" in err
        code, out, err = run(capsys, case_main, "export", case, "--out", tmp_path / "ro", "--format", "json")
        assert code == 0 and "this export is not recorded" in err and "recorded as" not in out
        assert (tmp_path / "ro" / "suspect" / "report.json").exists()
        assert run(capsys, case_main, "verify", case)[0] == 0
    finally:
        os.chmod(case, 0o644)
    foreign = tmp_path / "foreign.caddmcase"
    foreign.write_text("notes, not a case")
    code, _, err = run(capsys, case_main, "flag", foreign, "1", "0")
    assert code == 1 and err.strip() == f"caddm-case: error: {foreign}: is not a case file (not an SQLite database)"
