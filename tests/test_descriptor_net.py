"""dlib's face descriptor network read as data and run by ONNX Runtime: dlib's descriptors on real faces, the layer
check, clear errors for a damaged file, the fallback to dlib, the cached export, and the runtime recorded."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import DATA

pytest.importorskip("onnxruntime")

from core.common.errors import CheckpointError  # noqa: E402
from core.faces import descriptor_net, descriptor_ort  # noqa: E402
from core.faces.descriptor_net import DescriptorNet, read_weights  # noqa: E402
from core.faces.embedder import FaceEmbedder, default_descriptor_model_path  # noqa: E402
from core.faces.pipeline import FacePipeline  # noqa: E402


@pytest.fixture(scope="module")
def faces():
    """(image, landmarks) of the astronaut at three sizes and a rotation: real faces for parity."""
    face = cv2.imread(str(DATA / "astronaut_face.jpg"))
    out, pipeline = [], FacePipeline()
    for scale, angle in ((1.0, 0), (0.6, 0), (1.4, 0), (1.0, 20)):
        f = cv2.resize(face, None, fx=scale, fy=scale)
        canvas = np.full((max(480, f.shape[0] + 200), max(640, f.shape[1] + 200), 3), 90, np.uint8)
        canvas[100:100 + f.shape[0], 100:100 + f.shape[1]] = f
        if angle:
            m = cv2.getRotationMatrix2D((canvas.shape[1] / 2, canvas.shape[0] / 2), angle, 1.0)
            canvas = cv2.warpAffine(canvas, m, canvas.shape[1::-1], borderValue=(90, 90, 90))
        pipeline.reset()
        found = pipeline.process(0, canvas)
        assert found, (scale, angle)
        out.append((canvas, found[0].landmarks))
    return out


def test_onnxruntime_descriptors_are_dlibs(faces):
    ort, ref = FaceEmbedder(), FaceEmbedder(runtime="dlib")
    assert ort.runtime.startswith("onnxruntime ") and ref.runtime.startswith("dlib ")
    for image, lm in faces:
        a, b = ort.describe(image, lm), ref.describe(image, lm)
        assert a.shape == (128,) and a.dtype == np.float32
        assert np.abs(a - b).max() < 1e-5
    chips = np.stack([ort.chip(image, lm) for image, lm in faces])
    batch = ort._ort(chips)                                      # a batch gives each chip's own descriptor
    assert np.abs(batch - np.stack([ref.describe(i, lm) for i, lm in faces])).max() < 1e-5


def test_the_layers_are_the_expected_resnet():
    w = read_weights(default_descriptor_model_path())
    assert w.size == 150 and w.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    kinds = [layer.kind for layer in w.layers]
    assert kinds.count("con") == 29 and kinds.count("add_prev") == 14 and kinds[-1] == "fc"
    assert w.layers[-1].arrays["weight"].shape == (256, 128)
    assert [down for _, down in descriptor_net._plan(w)] == [False] * 3 + [True] + [False] * 3 + [True] + \
        [False] * 2 + [True] + [False] * 2 + [True]
    w.layers.pop(5)                                             # an affine layer less: not this network
    with pytest.raises(ValueError, match="not dlib's face descriptor ResNet"):
        DescriptorNet(w)


def test_a_damaged_model_file_is_named_with_its_problem(tmp_path):
    data = open(default_descriptor_model_path(), "rb").read()
    cut = tmp_path / "cut.dat"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.dat: not dlib's face descriptor network \(.* at byte \d+\)"):
        read_weights(cut)
    other = tmp_path / "other.dat"
    other.write_bytes(b"\x01\x01\x01\x05hello" + data[20:2000])
    with pytest.raises(CheckpointError, match="other.dat: not dlib's face descriptor network .no metric loss"):
        read_weights(other)
    with pytest.raises(CheckpointError, match="nothere.dat: cannot read the face descriptor model"):
        read_weights(tmp_path / "nothere.dat")


def test_an_export_that_disagrees_with_dlib_falls_back_and_explicit_is_refused(monkeypatch):
    monkeypatch.setattr(descriptor_ort, "PARITY_TOL", -1.0)     # nothing passes
    with pytest.warns(RuntimeWarning, match="differs from dlib"):
        assert FaceEmbedder().runtime.startswith("dlib ")
    with pytest.raises(ValueError, match="ONNX Runtime cannot compute face descriptors: .*differs from dlib"):
        FaceEmbedder(runtime="onnxruntime")
    with pytest.raises(ValueError, match="runtime: choose from auto, dlib, onnxruntime"):
        FaceEmbedder(runtime="torch")


def test_the_export_is_cached_by_the_model_files_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("CADDM_CACHE_DIR", str(tmp_path))
    calls = []
    real = descriptor_ort._export
    monkeypatch.setattr(descriptor_ort, "_export", lambda p: calls.append(1) or real(p))
    FaceEmbedder()
    FaceEmbedder()
    files = list((tmp_path / "onnx").glob("dlib-descriptor-*.onnx"))
    assert calls == [1] and len(files) == 1


def test_the_descriptor_runtime_is_recorded_in_the_result(face_clip, tiny_model_path):
    from core.analysis.engine import AnalysisOptions, analyze_video
    from core.model.checkpoints import load_model
    from core.media.frames import FrameSelection
    from core.model.inference import Predictor

    predictor = Predictor(load_model(tiny_model_path), device="cpu", batch_size=4)
    on = analyze_video(face_clip, predictor, AnalysisOptions(frames=FrameSelection("count", 3)))
    assert on.settings.runtime == f"{predictor.runtime}; face descriptors: {FaceEmbedder().runtime}"
    assert any(f.descriptor is not None for fr in on.frames for f in fr.faces)
    off = analyze_video(face_clip, predictor, AnalysisOptions(frames=FrameSelection("count", 3), identity=False))
    assert off.settings.runtime == predictor.runtime


def test_a_cached_export_loads_without_dlibs_network(tmp_path, monkeypatch):
    """dlib's own network is read only to export it: with the checked export cached, an embedder loads neither it
    nor torch's module, and still gives dlib's descriptors (checked against the reference stored at export)."""
    monkeypatch.setenv("CADDM_CACHE_DIR", str(tmp_path))
    first = FaceEmbedder()                                     # exports: dlib's network gives the reference
    chip = descriptor_ort.check_chip()
    want = np.asarray(first._model.compute_face_descriptor(chip[0]), dtype=np.float32)
    loads = []
    real = FaceEmbedder._dlib_model
    monkeypatch.setattr(FaceEmbedder, "_dlib_model", staticmethod(lambda p: loads.append(p) or real(p)))
    monkeypatch.setattr(descriptor_ort, "_export", lambda p: pytest.fail("exported again"))
    second = FaceEmbedder()
    assert loads == [] and second._model is None and second.runtime.startswith("onnxruntime ")
    assert np.abs(second._ort(chip) - want).max() <= descriptor_ort.PARITY_TOL
