"""caddm-screen on a local Ray started here (127.0.0.1, 2 CPUs, shut down at the end): one row per input with the
right status, renamed copies analysed once, resume after a driver killed with SIGKILL, a worker killed mid-video
retried, results equal to caddm-analyze's, a screened result added to a case; and the parts without Ray."""
from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import ray

from core.cli.screen import main as screen_main
from core.common.hashing import sha256_file
from core.analysis.results import load_json
from core.screen import journal
from core.screen.driver import CRASH_ENV, default_workers
from core.screen.inputs import expand_inputs
from core.screen.rows import by_suspicion, make_row, error_fields
from media_corpus import cut_clip

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
FRAMES = "3"
#: One local Ray for the whole module: under pytest-xdist (scripts/run_tests.sh) its tests share one worker.
pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.long]


def run(capsys, *args) -> tuple[int, str, str]:
    code = screen_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def rows_of(out: Path) -> list[dict]:
    return pq.read_table(out / "results.parquet").to_pylist()


@pytest.fixture(scope="module")
def cluster():
    """A local Ray for this module: its GCS address (`--address` for a driver in another process)."""
    ctx = ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level=logging.WARNING)
    yield ctx.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Six small clips cut from the bundled samples (different content, different SHA-256)."""
    d = tmp_path_factory.mktemp("clips")
    for i, start in enumerate((0, 30, 60)):
        cut_clip(SAMPLES / "astronaut_fake.mp4", d / f"fake_{i}.mp4", start)
        cut_clip(SAMPLES / "astronaut_real.mp4", d / f"real_{i}.mp4", start)
    return d


@pytest.fixture(scope="module")
def screened(cluster, clips, tiny_model_path, tmp_path_factory):
    """A folder of two clips, a renamed copy and three bad files, screened once: (inputs folder, out, exit code)."""
    import shutil

    evidence = tmp_path_factory.mktemp("evidence")
    shutil.copy(clips / "fake_0.mp4", evidence / "a.mp4")
    shutil.copy(clips / "real_0.mp4", evidence / "b.mp4")
    (evidence / "sub").mkdir()
    shutil.copy(clips / "fake_0.mp4", evidence / "sub" / "a renamed.mov")
    (evidence / "notes.mp4").write_text("this is a text file, not a video\n")
    (evidence / "empty.mp4").write_bytes(b"")
    data = (SAMPLES / "astronaut_real.mp4").read_bytes()
    (evidence / "truncated.mp4").write_bytes(data[: len(data) // 5])
    before = {p: (sha256_file(p), p.stat().st_mtime_ns) for p in evidence.rglob("*") if p.is_file()}
    out = tmp_path_factory.mktemp("screen") / "out"
    code = screen_main([str(evidence), "--out", str(out), "--model", str(tiny_model_path), "--frames", FRAMES,
                        "--workers", "2", "--quiet"])
    after = {p: (sha256_file(p), p.stat().st_mtime_ns) for p in evidence.rglob("*") if p.is_file()}
    assert after == before  # evidence is only read
    return evidence, out, code


# ------------------------------------------------------------------------------------------------- without Ray
def test_inputs_lists_folders_and_duplicates(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "x.mp4").write_bytes(b"1")
    (tmp_path / "v" / "readme.md").write_text("not a video")
    (tmp_path / "y.avi").write_bytes(b"2")
    listing = tmp_path / "list.txt"
    listing.write_text("# evidence of 2026-117\n\ny.avi\nv\n" + str(tmp_path / "y.avi") + "\n")
    files, problems = expand_inputs([str(listing), f"@{listing}", str(tmp_path / "y.avi"), str(tmp_path / "none.lst")])
    assert files == [tmp_path / "y.avi", tmp_path / "v" / "x.mp4"]
    assert len(problems) == 1 and "none.lst" in problems[0]


def test_rows_order_and_manifest(tmp_path):
    rows = [make_row("a", 1, {**error_fields("s1", "bad"), "status": "ok", "video_score": 0.2}),
            make_row("b", 1, error_fields("s2", "b: not a readable video")),
            make_row("c", 1, {**error_fields("s3", ""), "status": "ok", "video_score": 0.9})]
    assert [r["path"] for r in by_suspicion(rows)] == ["c", "a", "b"]
    assert journal.check_manifest(tmp_path, "m1", "one", {"frames": 3}) is None
    assert journal.check_manifest(tmp_path, "m1", "one", {"frames": 3}) is None
    assert "another model" in journal.check_manifest(tmp_path, "m2", "two", {"frames": 3})
    assert "other analysis settings" in journal.check_manifest(tmp_path, "m1", "one", {"frames": 4})
    assert default_workers({"CPU": 8.0, "GPU": 2.0}, 2, 0) == 4
    assert default_workers({"CPU": 8.0, "GPU": 2.0}, 1, 0.5) == 4
    assert default_workers({"CPU": 1.0}, 2, 0) == 1


def test_usage_errors_and_missing_ray(capsys, tmp_path, monkeypatch, face_clip):
    assert run(capsys, face_clip, "--out", tmp_path / "o", "--frames", "0")[0] == 2
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, tmp_path / "empty", "--out", tmp_path / "o")
    assert code == 2 and "no input files" in err and "folder holds no video files" in err
    code, _, err = run(capsys, tmp_path / "missing.mp4", "--out", tmp_path / "o2", "--quiet")  # a row, no Ray
    assert code == 1 and rows_of(tmp_path / "o2")[0]["error"] == f"{tmp_path / 'missing.mp4'}: no such file"
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, _, err = run(capsys, face_clip, "--out", tmp_path / "o")
    assert code == 2 and "ray is not installed" in err and "[screen]" in err


def test_other_commands_do_not_import_ray():
    code = "import sys, core.cli.analyze, core.cli.case, core.cli.train; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


# ---------------------------------------------------------------------------------------------------- on Ray
@pytest.mark.slow
def test_one_row_per_file_with_its_status(screened, capsys):
    evidence, out, code = screened
    assert code == 1  # every row written, some are errors
    rows = {Path(r["path"]).name: r for r in rows_of(out)}
    assert set(rows) == {"a.mp4", "b.mp4", "a renamed.mov", "notes.mp4", "empty.mp4", "truncated.mp4"}
    for name in ("notes.mp4", "empty.mp4", "truncated.mp4"):
        assert rows[name]["status"] == "error" and name in rows[name]["error"] and rows[name]["result_file"] == ""
        assert rows[name]["headline"] == ""
    for name in ("a.mp4", "b.mp4"):
        r = rows[name]
        assert r["status"] == "ok" and r["frames_analysed"] == int(FRAMES) and r["faces"] >= 1
        assert r["verdict"] in ("real", "fake") and r["threshold"] == 0.5 and r["model_name"] == "tiny-test"
        assert r["sha256"] == sha256_file(evidence / name) and r["size_bytes"] == (evidence / name).stat().st_size
        result = load_json(out / r["result_file"])  # the full result, as the project writes it
        assert r["result_file"] == f"results/{r['sha256']}.json"
        assert result.summary.video_score == pytest.approx(r["video_score"])
        assert r["headline"] == result.findings().headline and r["headline"] != "REAL"
        assert r["top_frame_score"] == max(f.score for f in result.frames if f.score is not None)
    copy = rows["a renamed.mov"]
    assert {k: v for k, v in copy.items() if k != "path"} == {k: v for k, v in rows["a.mp4"].items() if k != "path"}
    records = journal.load_records(out)
    assert len(records) == 5  # the renamed copy shares a.mp4's record: analysed once
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("path,size_bytes,sha256,status") and len(summary) == 7
    assert [line.split(",")[3] for line in summary[-3:]] == ["error"] * 3  # most suspicious first, errors last


@pytest.mark.slow
def test_rerun_skips_done_and_other_settings_are_refused(screened, capsys, tiny_model_path):
    evidence, out, _ = screened
    stamps = {p: p.stat().st_mtime_ns for p in (out / "records").iterdir()}
    code, stdout, _ = run(capsys, evidence, "--out", out, "--model", tiny_model_path, "--frames", FRAMES, "--quiet")
    assert code == 1 and "0 analysed now, 6 done before" in stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "records").iterdir()} == stamps
    code, _, err = run(capsys, evidence, "--out", out, "--model", tiny_model_path, "--frames", "5", "--quiet")
    assert code == 2 and "other analysis settings" in err
    code, _, err = run(capsys, evidence, "--out", out, "--frames", FRAMES, "--quiet")  # the bundled model
    assert code == 2 and "another model" in err


@pytest.mark.slow
def test_results_equal_caddm_analyze(screened, tmp_path, tiny_model_path, capsys):
    from core.cli.analyze import main as analyze_main

    evidence, out, _ = screened
    code = analyze_main([str(evidence / "a.mp4"), str(evidence / "b.mp4"), "--out", str(tmp_path), "--model",
                         str(tiny_model_path), "--frames", FRAMES, "--format", "json", "--no-cache", "--quiet"])
    assert code == 0, capsys.readouterr().err
    for name in ("a", "b"):
        theirs = load_json(tmp_path / name / "report.json")
        ours = load_json(out / "results" / f"{sha256_file(evidence / f'{name}.mp4')}.json")
        assert ours.summary.video_score == theirs.summary.video_score
        assert [(f.index, f.score) for f in ours.frames] == [(f.index, f.score) for f in theirs.frames]
        assert [[fa.score for fa in f.faces] for f in ours.frames] == [[fa.score for fa in f.faces]
                                                                      for f in theirs.frames]


@pytest.mark.slow
def test_screened_result_added_to_a_case(screened, tmp_path, capsys):
    from core.case import Case
    from core.cli.case import main as case_main

    evidence, out, _ = screened
    case = tmp_path / "c.caddmcase"
    assert case_main(["create", str(case)]) == 0
    sha = sha256_file(evidence / "a.mp4")
    assert case_main(["add", str(case), "--from-screen", str(out / "results" / f"{sha}.json")]) == 0
    assert "recorded:" in capsys.readouterr().out
    with Case.open(case, "r") as c:
        (item,) = c.items()
        assert item.sha256 == sha and c.latest_analysis(item.item).video_score == load_json(
            out / "results" / f"{sha}.json").summary.video_score
    assert case_main(["add", str(case)]) == 2


@pytest.mark.slow
def test_driver_killed_then_rerun_analyses_each_video_once(cluster, clips, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "core.cli.screen", str(clips), "--out", str(out), "--model", str(tiny_model_path),
           "--frames", FRAMES, "--workers", "1", "--quiet", "--address", cluster]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list((out / "records").glob("*.json")) if (out / "records").is_dir() else True:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1].decode()[-2000:]
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())["run"]) for p in (out / "records").glob("*.json")}
    assert 1 <= len(first) < 6
    code, stdout, err = run(capsys, clips, "--out", out, "--model", tiny_model_path, "--frames", FRAMES, "--quiet")
    assert code == 0, err
    assert f"{6 - len(first)} analysed now, {len(first)} done before" in stdout
    rows = rows_of(out)
    assert sorted(Path(r["path"]).name for r in rows) == sorted(p.name for p in clips.glob("*.mp4"))
    assert all(r["status"] == "ok" for r in rows)
    after = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())["run"]) for p in (out / "records").glob("*.json")}
    assert len(after) == 6 and {k: after[k] for k in first} == first  # nothing done was analysed again
    assert len({run_id for _, run_id in after.values()}) == 2


@pytest.mark.slow
def test_worker_killed_mid_video_is_retried_then_an_error_row(cluster, clips, tiny_model_path, tmp_path, monkeypatch,
                                                              capsys):
    marker = tmp_path / "crashed-once"
    monkeypatch.setenv(CRASH_ENV, f"fake_1.mp4:{marker}")
    videos = [clips / "fake_1.mp4", clips / "real_1.mp4"]
    code, stdout, err = run(capsys, *videos, "--out", tmp_path / "once", "--model", tiny_model_path,
                            "--frames", FRAMES, "--workers", "1", "--quiet")
    assert code == 0 and marker.exists(), err
    assert [r["status"] for r in rows_of(tmp_path / "once")] == ["ok", "ok"]
    monkeypatch.setenv(CRASH_ENV, "fake_1.mp4")  # dies on every try
    code, stdout, err = run(capsys, *videos, "--out", tmp_path / "always", "--model", tiny_model_path,
                            "--frames", FRAMES, "--workers", "1", "--retries", "1", "--quiet")
    rows = {Path(r["path"]).name: r for r in rows_of(tmp_path / "always")}
    assert code == 1 and rows["real_1.mp4"]["status"] == "ok"
    assert rows["fake_1.mp4"]["status"] == "error" and "died 2 times" in rows["fake_1.mp4"]["error"]
