"""caddm-analyze end to end: reports, verdict line, cache, exit codes and one-line errors for bad input."""
import json
import shutil

import pytest

from conftest import isolated_cache_dir
from core.cli.analyze import main


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = isolated_cache_dir(tmp_path / "cache")
    monkeypatch.setenv("CADDM_CACHE_DIR", str(d))
    return d


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_and_usage_errors(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "VIDEO_OR_FOLDER" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["x.mp4"])  # --out missing
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["x.mp4", "--out", "o", "--format", "docx"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["x.mp4", "--out", "o", "--stride", "2", "--frames", "3"])
    assert e.value.code == 2


def test_reports_verdict_and_cache(capsys, tmp_path, face_clip, tiny_model_path, cache_dir):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, face_clip, "--out", out, "--model", tiny_model_path, "--frames", "4",
                            "--case-id", "C-1", "--analyst", "A. Analyst", "--quiet")
    assert code == 0, err
    files = {p.name for p in (out / "face_clip").iterdir()}
    assert files == {"report.json", "frames.csv", "report.html", "report.pdf"}
    line = stdout.strip().splitlines()[-1]
    report = json.loads((out / "face_clip" / "report.json").read_text())
    assert str(face_clip) in line and "4/4 frames" in line and "REAL" not in line and "FAKE" not in line
    assert line.startswith(report["findings"]["headline"] + "  ")       # the headline over all the evidence
    assert "artifact " + report["findings"]["evidence"][0]["status"] in line and "identity not run" in line
    assert report["case"]["case_id"] == "C-1" and report["summary"]["threshold"] == 0.5
    assert len(list(cache_dir.rglob("*.json"))) == 1
    # second run: served from the cache, same scores, new threshold applied
    code, stdout2, _ = run(capsys, face_clip, "--out", out, "--model", tiny_model_path, "--frames", "4",
                           "--threshold", "0.9", "--format", "json", "--quiet")
    again = json.loads((out / "face_clip" / "report.json").read_text())
    assert code == 0 and again["summary"]["threshold"] == 0.9
    assert [f["score"] for f in again["frames"]] == [f["score"] for f in report["frames"]]


def test_bad_inputs_each_get_one_line_and_others_still_run(capsys, tmp_path, face_clip, tiny_model_path, cache_dir):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.mp4").write_text("this is a text file, not a video")
    data = face_clip.read_bytes()
    (bad / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (bad / "empty.mp4").write_bytes(b"")
    import cv2
    cv2.VideoWriter(str(bad / "zero.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64)).release()
    good = bad / "good.mp4"
    shutil.copy(face_clip, good)
    before = good.read_bytes()
    out = tmp_path / "out"
    code, stdout, err = run(capsys, bad, tmp_path / "missing.mp4", "--out", out, "--model", tiny_model_path,
                            "--frames", "3", "--format", "json,csv", "--quiet")
    assert code == 1
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert any("missing.mp4" in l and "not found" in l for l in lines)
    assert any("notes.mp4" in l for l in lines)
    assert any("truncated.mp4" in l for l in lines)
    assert any("empty.mp4" in l for l in lines)
    assert any("zero.mp4" in l for l in lines)
    assert "Traceback" not in err
    assert "good.mp4" in stdout and (out / "good" / "report.json").exists()
    assert good.read_bytes() == before  # the evidence file is untouched
    # nothing half-written for the failed ones
    for name in ("notes", "truncated", "empty", "zero"):
        assert not (out / name / "report.json").exists()
    assert not list(out.rglob("*.part"))


def test_folder_without_videos_unwritable_output_and_bad_model(capsys, tmp_path, face_clip, tiny_model_path,
                                                               cache_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no videos here")
    code, _, err = run(capsys, empty, "--out", tmp_path / "o", "--model", tiny_model_path)
    assert code == 1 and "holds no video files" in err and str(empty) in err

    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should go")
    code, _, err = run(capsys, face_clip, "--out", blocker / "sub", "--model", tiny_model_path)
    assert code == 1 and "cannot create output folder" in err and str(blocker / "sub") in err

    not_model = tmp_path / "model.pkl"
    not_model.write_text("definitely not weights")
    code, _, err = run(capsys, face_clip, "--out", tmp_path / "o", "--model", not_model)
    assert code == 1 and str(not_model) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_calibrated_threshold_is_the_default_and_the_report_says_so(capsys, tmp_path, face_clip, tiny_model_path,
                                                                     cache_dir):
    from core.model.checkpoints import load_model, save_model

    model = load_model(tiny_model_path)
    calibrated = save_model(model, tmp_path / "cal.safetensors",
                            calibration={"threshold": 0.731, "fpr_real_videos": 0.05, "tpr_fake_videos": 0.8})
    code, _, _ = run(capsys, face_clip, "--out", tmp_path / "a", "--model", calibrated, "--frames", "2",
                     "--format", "json,html")
    assert code == 0
    report = json.loads(next((tmp_path / "a").rglob("report.json")).read_text())
    assert report["settings"]["threshold"] == 0.731
    html = next((tmp_path / "a").rglob("report.html")).read_text()
    assert "0.731" in html and "5.0 % of held-out real videos" in html and "this analysis used it" in html
    code, _, _ = run(capsys, face_clip, "--out", tmp_path / "b", "--model", calibrated, "--frames", "2",
                     "--format", "json,html", "--threshold", "0.4")
    report = json.loads(next((tmp_path / "b").rglob("report.json")).read_text())
    assert code == 0 and report["settings"]["threshold"] == 0.4
    assert "this analysis used 0.400 instead" in next((tmp_path / "b").rglob("report.html")).read_text()


def test_case_file_records_evidence_analysis_and_reports(capsys, tmp_path, face_clip, tiny_model_path, cache_dir):
    from core.case import Case

    case = tmp_path / "c.caddmcase"
    args = [face_clip, "--out", tmp_path / "out", "--model", tiny_model_path, "--frames", "3", "--format", "json,csv",
            "--case", case, "--case-id", "C-2", "--analyst", "A", "--quiet"]
    assert run(capsys, *args)[0] == 0
    assert run(capsys, *args)[0] == 0  # from the cache: recorded again
    report = json.loads((tmp_path / "out" / "face_clip" / "report.json").read_text())
    assert report["case"]["case_id"] == "C-2" and "chain verified: yes" in report["case"]["audit"]
    with Case.open(case) as c:
        [item] = c.items()
        assert item.path == str(face_clip) and c.meta.analyst == "A"
        assert [a.from_cache for a in c.analyses(1)] == [False, True]
        assert [(e.format, e.analysis) for e in c.exports()] == [("json", 1), ("csv", 1), ("json", 2), ("csv", 2)]
        assert c.verify().ok
    with Case.open(case, "w"):  # held by another writer: one line naming the case, nothing analysed
        code, stdout, err = run(capsys, *args)
    assert code == 1 and f"error: {case}: the case is open for writing" in err and stdout == ""


def test_no_identity_skips_descriptors_and_is_recorded(capsys, tmp_path, face_clip, tiny_model_path, cache_dir):
    code, _, _ = run(capsys, face_clip, "--out", tmp_path / "a", "--model", tiny_model_path, "--frames", "2",
                     "--format", "json", "--no-identity")
    assert code == 0
    report = json.loads(next((tmp_path / "a").rglob("report.json")).read_text())
    assert "identity" not in report["settings"]["extra"]
    assert all(not face.get("descriptor") for fr in report["frames"] for face in fr["faces"])
    code, _, _ = run(capsys, face_clip, "--out", tmp_path / "b", "--model", tiny_model_path, "--frames", "2",
                     "--format", "json")
    report = json.loads(next((tmp_path / "b").rglob("report.json")).read_text())
    assert "identity" in report["settings"]["extra"]
    assert any(face.get("descriptor") for fr in report["frames"] for face in fr["faces"])
    with pytest.raises(SystemExit) as e:
        main([str(face_clip), "--out", str(tmp_path / "c"), "--no-identity", "--reference", str(face_clip)])
    assert e.value.code == 2


def test_detector_fallback_switches_are_applied_and_recorded(capsys, tmp_path, face_clip, tiny_model_path, cache_dir):
    def recorded(name, *extra):
        code, _, _ = run(capsys, face_clip, "--out", tmp_path / name, "--model", tiny_model_path, "--frames", "2",
                         "--format", "json", "--no-identity", *extra)
        assert code == 0
        return json.loads(next((tmp_path / name).rglob("report.json")).read_text())["settings"]["detector"]

    for name, extra, on in (("a", (), True), ("b", ("--no-exposure-retry", "--no-cnn-fallback"), False)):
        det = recorded(name, "--detector", "hog", *extra)
        assert det["detector"] == "hog"
        assert det["normalise_exposure"] is on and det["cnn_fallback"] is on and det["cnn_max_side"] == 640
    det = recorded("c", "--detector", "hog", "--no-cnn-fallback")
    assert det["normalise_exposure"] is True and det["cnn_fallback"] is False
    # the default detector: RetinaFace, with its own settings recorded and none of HOG's
    det = recorded("d")
    assert det["detector"] == "retinaface" and det["retina_threshold"] == 0.9 and det["normalise_exposure"] is True
    assert not {"cnn_fallback", "upsample", "threshold"} & set(det)
    assert recorded("e", "--no-exposure-retry")["normalise_exposure"] is False
    # the report names the detector (a result made before the choice: HOG)
    from core.reports.content import detector_text

    assert detector_text(det).startswith("RetinaFace (ONNX Runtime); settings {")
    assert detector_text({"max_side": 640}).startswith("dlib HOG")
    # a switch that does not apply to the chosen detector is a usage error, not a setting recorded but not applied
    for bad in (("--no-cnn-fallback",), ("--detector", "cnn", "--no-exposure-retry")):
        with pytest.raises(SystemExit) as e:
            main([str(face_clip), "--out", str(tmp_path / "f"), *bad])
        assert e.value.code == 2 and "appl" in capsys.readouterr().err


def test_reports_are_written_beside_the_next_analysis_in_video_order(capsys, tmp_path, face_clip, tiny_model_path,
                                                                     cache_dir, monkeypatch):
    """Each video's reports go to a background thread while the next video is analysed; verdict lines still come
    in the order of the videos, and a report that fails is one error line that stops nothing else."""
    import threading

    import core.reports
    from core.common.errors import OutputError

    clips = []
    for name in ("a", "b", "c"):
        clips.append(tmp_path / f"{name}.mp4")
        shutil.copy(face_clip, clips[-1])
    real_write, threads = core.reports.write_reports, []

    def write(result, out_dir, **kw):
        threads.append(threading.current_thread().name)
        if out_dir.name == "b":
            raise OutputError(out_dir / "report.pdf", "disk full (test)")
        return real_write(result, out_dir, **kw)

    monkeypatch.setattr(core.reports, "write_reports", write)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, *clips, "--out", out, "--model", tiny_model_path, "--frames", "2",
                            "--format", "json", "--quiet", "--no-cache")
    assert code == 1
    verdicts = [l for l in stdout.splitlines() if "a.mp4" in l or "c.mp4" in l]
    assert [("a.mp4" in l) for l in verdicts] == [True, False]
    assert "b.mp4" not in stdout and "disk full (test)" in err and str(out / "b") in err
    assert (out / "a" / "report.json").is_file() and (out / "c" / "report.json").is_file()
    assert len(threads) == 3 and all(t.startswith("reports") for t in threads)
