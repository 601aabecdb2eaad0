"""ONNX Runtime as the CPU runtime: the same scores and boxes as torch, chosen by "auto" on the CPU, the export cached
per checkpoint, a clear refusal when asked for where it cannot run, and the runtime recorded in results."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from core.model import onnx, ort_runtime  # noqa: E402
from core.model.checkpoints import load_model  # noqa: E402
from core.model.inference import Predictor  # noqa: E402


@pytest.fixture(scope="module")
def crops():
    return np.random.default_rng(3).integers(0, 256, (10, 224, 224, 3), dtype=np.uint8)


def test_onnxruntime_scores_and_boxes_equal_torchs(tiny_model_path, crops):
    from core.model.artifacts import BoxSettings

    boxes = BoxSettings(score_threshold=0.0, top_k=5, max_area=1.0)
    ort = Predictor(load_model(tiny_model_path), device="cpu", batch_size=4, runtime="onnxruntime", boxes=boxes)
    ref = Predictor(load_model(tiny_model_path), device="cpu", batch_size=4, runtime="torch", boxes=boxes)
    assert ort.runtime.startswith("onnxruntime ") and ref.runtime.startswith("torch ")
    a, b = ort.predict(crops), ref.predict(crops)
    assert [p.prob for p in a] == pytest.approx([p.prob for p in b], abs=1e-5)
    assert sum(len(p.artifacts) for p in b) > 0
    for pa, pb in zip(a, b):
        assert len(pa.artifacts) == len(pb.artifacts)
        for x, y in zip(pa.artifacts, pb.artifacts):
            assert x.score == pytest.approx(y.score, abs=1e-4)
            assert np.allclose(x.box, y.box, atol=1e-2)


def test_auto_is_onnxruntime_on_the_cpu_and_the_export_is_cached(tiny_model_path, tmp_path, monkeypatch):
    monkeypatch.setenv("CADDM_CACHE_DIR", str(tmp_path))
    calls = []
    real = ort_runtime.export_onnx
    monkeypatch.setattr(ort_runtime, "export_onnx", lambda m: calls.append(1) or real(m))
    p = Predictor(load_model(tiny_model_path), device="cpu")
    assert p.runtime.startswith("onnxruntime ")
    files = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(files) == 1 and files[0].name.startswith(load_model(tiny_model_path).info.sha256)
    Predictor(load_model(tiny_model_path), device="cpu")
    assert calls == [1]                                   # the second load reads the cached export


def test_missing_onnxruntime_auto_falls_back_and_explicit_is_refused(tiny_model_path, monkeypatch):
    monkeypatch.setattr(onnx, "available", lambda: "the Python package 'onnxruntime' is not installed")
    with pytest.warns(RuntimeWarning, match="not installed"):
        p = Predictor(load_model(tiny_model_path), device="cpu")
    assert p.runtime.startswith("torch ")
    with pytest.raises(ValueError, match="ONNX Runtime cannot run this model: the Python package 'onnxruntime'"):
        Predictor(load_model(tiny_model_path), device="cpu", runtime="onnxruntime")
    with pytest.raises(ValueError, match="runtime: choose from auto, torch, onnxruntime"):
        Predictor(load_model(tiny_model_path), device="cpu", runtime="tensorrt")


def test_an_export_that_disagrees_with_torch_is_refused(tiny_model_path, monkeypatch):
    monkeypatch.setattr(ort_runtime, "PARITY_TOL", -1.0)   # nothing passes
    with pytest.raises(ValueError, match="differs from torch"):
        Predictor(load_model(tiny_model_path), device="cpu", runtime="onnxruntime")
    with pytest.warns(RuntimeWarning, match="differs from torch"):
        assert Predictor(load_model(tiny_model_path), device="cpu").runtime.startswith("torch ")


def test_the_runtime_is_recorded_and_changes_no_score(face_clip, tiny_model_path):
    from dataclasses import replace

    from core.analysis.engine import AnalysisOptions, analyze_video
    from core.media.frames import FrameSelection
    from core.reports.content import build_content
    from core.analysis.results import AnalysisResult

    options = AnalysisOptions(frames=FrameSelection("count", 3), identity=False)
    runs = {rt: analyze_video(face_clip, Predictor(load_model(tiny_model_path), device="cpu", batch_size=4,
                                                   runtime=rt), options) for rt in ("torch", "onnxruntime")}
    assert runs["torch"].settings.runtime.startswith("torch ")
    assert runs["onnxruntime"].settings.runtime.startswith("onnxruntime ")
    assert [f.score for f in runs["onnxruntime"].frames] == pytest.approx([f.score for f in runs["torch"].frames],
                                                                         abs=1e-5)
    back = AnalysisResult.from_dict(runs["onnxruntime"].to_dict())
    assert back.settings.runtime == runs["onnxruntime"].settings.runtime
    old = runs["torch"].to_dict()
    del old["settings"]["runtime"]                        # a result made before the runtime was kept
    assert AnalysisResult.from_dict(old).settings.runtime == ""
    rows = dict(build_content(runs["onnxruntime"]).settings_rows)
    assert rows["Device"] == f"cpu ({runs['onnxruntime'].settings.runtime})"
    assert dict(build_content(AnalysisResult.from_dict(old)).settings_rows)["Device"] == "cpu"
    assert replace(runs["torch"].settings, runtime="x").result_affecting() == runs["torch"].settings.result_affecting()


def test_lanes_score_every_crop_in_order_as_one_lane(tiny_model_path, crops):
    """With ONNX Runtime, batches run single-threaded on `lanes` threads at once (the predictor's threads): predict
    and submit give the same scores, in the crops' order, as one lane does; torch keeps one lane and sets its
    thread count for the block only."""
    import torch

    before = torch.get_num_threads()
    p = Predictor(load_model(tiny_model_path), device="cpu", batch_size=3, runtime="onnxruntime")
    assert p.lanes == p.threads >= 1
    with p.using_threads(1):
        assert p.lanes == 1
        one = [x.prob for x in p.predict(crops)]
    with p.using_threads(3):
        assert p.lanes == 3 and torch.get_num_threads() == before  # ONNX Runtime lanes: torch's threads untouched
        assert [x.prob for x in p.predict(crops)] == pytest.approx(one, abs=1e-6)     # 4 batches over 3 lanes
        assert [x.prob for x in p.predict(crops[:4])] == pytest.approx(one[:4], abs=1e-6)  # split 2+2 over lanes
        futures = [p.submit(crops[i : i + 2]) for i in range(0, len(crops), 2)]
        assert [x.prob for f in futures for x in f.result()] == pytest.approx(one, abs=1e-6)
    t = Predictor(load_model(tiny_model_path), device="cpu", runtime="torch")
    with t.using_threads(1):
        assert t.lanes == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_analysis_over_lanes_equals_one_lane_and_a_lane_error_is_raised(face_clip, tiny_model_path, monkeypatch):
    from core.analysis.engine import AnalysisOptions, analyze_video
    from core.media.frames import FrameSelection

    predictor = Predictor(load_model(tiny_model_path), device="cpu", batch_size=2, runtime="onnxruntime")
    runs = {}
    for threads in (1, 2):
        seen = []
        options = AnalysisOptions(frames=FrameSelection("count", 7), identity=False, batch_size=2,
                                  torch_threads=threads)
        runs[threads] = analyze_video(face_clip, predictor, options, progress=lambda d, n, fr: seen.append(fr.index))
        assert seen == [f.index for f in runs[threads].frames] == sorted(seen)   # progress in frame order
        assert runs[threads].complete and runs[threads].timings["model"] > 0
    assert [f.score for f in runs[2].frames] == pytest.approx([f.score for f in runs[1].frames], abs=1e-6)
    assert [f.index for f in runs[2].frames] == [f.index for f in runs[1].frames]

    calls = []
    real = Predictor._score

    def failing(self, crops, settings):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("lane failure")
        return real(self, crops, settings)

    monkeypatch.setattr(Predictor, "_score", failing)
    with pytest.raises(RuntimeError, match="lane failure"):
        analyze_video(face_clip, predictor, AnalysisOptions(frames=FrameSelection("count", 7), identity=False,
                                                            batch_size=2, torch_threads=2))


def test_a_cached_export_runs_without_torch_and_scores_as_torch(tiny_model_path, crops, tmp_path):
    """`Predictor.for_checkpoint` on the CPU with the checked export cached: a fresh process scores the crops
    without importing torch (nor timm), with the torch model's scores; the model's identity comes from the header."""
    import json
    import subprocess
    import sys

    env_cache = tmp_path / "cache"
    np.save(tmp_path / "crops.npy", crops)
    first = Predictor.for_checkpoint(tiny_model_path, device="cpu", batch_size=4)  # exported here if not cached
    assert first.runtime.startswith("onnxruntime ")
    ref = [p.prob for p in Predictor(load_model(tiny_model_path), device="cpu", runtime="torch").predict(crops)]
    code = (
        "import json, sys, numpy as np\n"
        "from core.model.inference import Predictor\n"
        f"p = Predictor.for_checkpoint({str(tiny_model_path)!r}, device='cpu', batch_size=4)\n"
        f"probs = [x.prob for x in p.predict(np.load({str(tmp_path / 'crops.npy')!r}))]\n"
        "print(json.dumps({'probs': probs, 'torch': 'torch' in sys.modules, 'timm': 'timm' in sys.modules,\n"
        "    'model': p.model is None, 'sha': p.info.sha256, 'backbone': p.config.backbone, 'device': p.device,\n"
        "    'runtime': p.runtime}))\n")
    import os

    env = {**os.environ, "CADDM_CACHE_DIR": str(env_cache)}
    (env_cache / "onnx").mkdir(parents=True)
    for f in (Path(os.environ["CADDM_CACHE_DIR"]) / "onnx").glob(f"{first.info.sha256}-*.onnx"):
        (env_cache / "onnx" / f.name).write_bytes(f.read_bytes())
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert not got["torch"] and not got["timm"] and got["model"], got
    assert got["sha"] == first.info.sha256 and got["backbone"] == first.config.backbone
    assert got["device"] == "cpu" and got["runtime"] == first.runtime
    assert got["probs"] == pytest.approx(ref, abs=1e-5)


def test_a_damaged_or_unchecked_cached_export_is_exported_again(tiny_model_path, tmp_path, monkeypatch):
    from core.model.checkpoints import read_checkpoint_header

    monkeypatch.setenv("CADDM_CACHE_DIR", str(tmp_path))
    info, config = read_checkpoint_header(tiny_model_path)
    assert ort_runtime.OrtModel.open(info, config.input_size) is None        # nothing cached yet
    Predictor.for_checkpoint(tiny_model_path, device="cpu")
    (path,) = (tmp_path / "onnx").glob("*.onnx")
    assert ort_runtime.OrtModel.open(info, config.input_size) is not None
    good = path.read_bytes()
    calls = []
    real = ort_runtime.export_onnx
    monkeypatch.setattr(ort_runtime, "export_onnx", lambda m: calls.append(1) or real(m))
    for damaged in (good[: len(good) // 2],                                   # truncated
                    good.replace(onnx.CHECK_KEY.encode(), b"x" * len(onnx.CHECK_KEY)),   # no stored reference
                    ort_runtime.export_onnx(load_model(tiny_model_path))):   # an export never checked
        calls.clear()
        path.write_bytes(damaged)
        assert ort_runtime.OrtModel.open(info, config.input_size) is None
        p = Predictor.for_checkpoint(tiny_model_path, device="cpu")
        assert calls == [1] and p.model is not None and p.runtime.startswith("onnxruntime ")
        assert ort_runtime.OrtModel.open(info, config.input_size) is not None  # the fresh export replaced it


def test_a_cached_export_whose_outputs_moved_is_not_used(tiny_model_path, tmp_path, monkeypatch):
    """The stored reference is checked on every load: a session that no longer reproduces it is not used."""
    from core.model.checkpoints import read_checkpoint_header

    monkeypatch.setenv("CADDM_CACHE_DIR", str(tmp_path))
    info, config = read_checkpoint_header(tiny_model_path)
    Predictor.for_checkpoint(tiny_model_path, device="cpu")
    monkeypatch.setattr(ort_runtime, "PARITY_TOL", -1.0)
    assert ort_runtime.OrtModel.open(info, config.input_size) is None
