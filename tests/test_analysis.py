import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

from core.analysis.engine import AnalysisOptions, analyze_video
from core.model.checkpoints import load_model
from core.media.frames import FrameSelection
from core.model.inference import Predictor
from core.analysis.results import load_json
from tests.conftest import face_square


@pytest.fixture(scope="module")
def predictor(tiny_model_path):
    return Predictor(load_model(tiny_model_path), device="cpu", batch_size=4)


def test_every_selected_frame_has_the_face_one_track(face_clip, predictor):
    options = AnalysisOptions(frames=FrameSelection("stride", 2), detector=AnalysisOptions().detector)
    result = analyze_video(face_clip, predictor, options)
    assert result.complete
    assert [f.index for f in result.frames] == list(range(0, 20, 2))
    assert all(len(f.faces) == 1 for f in result.frames)
    assert {face.track for f in result.frames for face in f.faces} == {0}
    assert len(result.tracks) == 1 and result.tracks[0].n_frames == 10
    for f in result.frames:
        face = f.faces[0]
        assert 0.0 <= face.score <= 1.0 and f.score == face.score
        x0, y0, x1, y1 = face.box
        x, y, side = face_square(f.index, 20)  # where the face was pasted: the face box lies inside it
        assert x - 10 <= x0 < x1 <= x + side + 10 and y - 10 <= y0 < y1 <= y + side + 10
        assert len(face.landmarks) == 5  # the default: eye centres, nose tip, mouth corners
        for a in face.artifacts:
            assert len(a.corners) == 4 and a.box[0] <= a.box[2] and a.box[1] <= a.box[3]
    assert result.summary.frames_analysed == 10 and result.summary.frames_with_faces == 10
    assert result.summary.video_score == pytest.approx(np.mean([f.score for f in result.frames]), abs=1e-5)
    assert result.video.sha256 and result.model.sha256 and result.model.name == "tiny-test"
    assert set(result.timings) >= {"decode", "detect", "landmarks", "align", "model", "boxes", "total", "face_models"}
    assert 0 < result.timings["first_score"] <= result.timings["total"] and "startup" not in result.timings


def test_the_first_face_is_scored_before_a_batch_fills(face_clip, predictor):
    """The first frame with a face is sent to the model at once (the first score comes early); the scores are
    those of whole batches, and a caller's start-up is recorded as given."""
    sizes = []
    real = predictor.submit
    options = AnalysisOptions(frames=FrameSelection("count", 9), batch_size=8, identity=False)
    predictor.submit = lambda crops, boxes=None: sizes.append(len(crops)) or real(crops, boxes)
    try:
        result = analyze_video(face_clip, predictor, options, startup_s=1.25)
    finally:
        del predictor.submit
    assert sizes[0] == 1 and sum(sizes) == 9 and max(sizes) <= 8 and result.timings["startup"] == 1.25
    whole = analyze_video(face_clip, predictor, replace(options, batch_size=64))
    assert [f.score for f in result.frames] == pytest.approx([f.score for f in whole.frames], abs=1e-5)


def test_deterministic_and_json_round_trip(face_clip, predictor, tmp_path):
    options = AnalysisOptions(frames=FrameSelection("count", 5))
    a = analyze_video(face_clip, predictor, options)
    b = analyze_video(face_clip, predictor, options)
    assert [f.score for f in a.frames] == [f.score for f in b.frames]
    a.save_json(tmp_path / "r.json")
    back = load_json(tmp_path / "r.json")
    assert back.frames == a.frames and back.summary == a.summary
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["schema"] == "caddm-inspector/report@1"
    assert {"index", "time_s", "score", "faces"} <= set(data["frames"][0])


def test_progress_and_cancel(face_clip, predictor):
    seen = []
    options = AnalysisOptions(frames=FrameSelection("all"), batch_size=2)
    result = analyze_video(face_clip, predictor, options, progress=lambda d, t, f: seen.append((d, t, f.index)),
                           cancel=lambda: len(seen) >= 4)
    assert not result.complete
    assert 4 <= len(result.frames) < 20
    assert [s[0] for s in seen] == list(range(1, len(seen) + 1)) and seen[0][1] == 20


def test_video_without_faces_is_marked_not_scored_real(tmp_path, predictor):
    path = tmp_path / "noface.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(6):
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    writer.release()
    result = analyze_video(path, predictor, AnalysisOptions(frames=FrameSelection("all")))
    assert all(f.score is None and f.faces == [] for f in result.frames)
    assert result.summary.verdict == "no face" and result.summary.video_score is None


def test_threshold_changes_verdict_not_scores(face_clip, predictor):
    result = analyze_video(face_clip, predictor, AnalysisOptions(frames=FrameSelection("count", 4)))
    score = result.summary.video_score
    low, high = result.with_threshold(max(0.0, score - 0.01)), result.with_threshold(min(1.0, score + 0.01))
    assert low.summary.verdict == "fake" and high.summary.verdict == "real"
    assert [f.score for f in low.frames] == [f.score for f in result.frames]


def test_sparse_frames_keep_one_track(tmp_path, predictor):
    """32 frames out of a long video are far apart: the tracker must still link the same face."""
    from tests.conftest import write_face_clip

    clip = write_face_clip(tmp_path / "long.mp4", frames=100, size=(300, 300))  # slow drift
    result = analyze_video(clip, predictor, AnalysisOptions(frames=FrameSelection("count", 3)))
    assert [f.index for f in result.frames] == [0, 50, 99]  # gaps of 50 frames, beyond the default 30
    assert result.summary.n_tracks == 1


@pytest.mark.parametrize("detector", ["hog", "retinaface"])
def test_a_moving_face_is_one_track_sampled_or_every_frame(tmp_path, predictor, detector):
    """The face drifts ~6 px a frame: analysed on every frame (followed between detections) and on 9 sampled frames
    (gaps of 3: RetinaFace detects again after a gap, HOG follows across it), it stays one track."""
    from core.faces.pipeline import DetectorSettings
    from tests.conftest import write_face_clip

    clip = write_face_clip(tmp_path / "moving.mp4", frames=24, size=(320, 240))
    for frames in (FrameSelection("all"), FrameSelection("count", 9)):
        r = analyze_video(clip, predictor, AnalysisOptions(frames=frames, identity=False,
                                                           detector=DetectorSettings(detector=detector)))
        assert all(len(f.faces) == 1 for f in r.frames) and r.summary.n_tracks == 1, (detector, frames)


@pytest.mark.parametrize("detector, side, size", [("hog", 180, (1280, 720)), ("retinaface", 160, (1920, 1080))])
def test_small_face_found_by_the_upsampled_retry(detector, side, size):
    """A face too small for the detector at its 640 px detection copy (HOG at upsample 0: ~90 px face photos at 640;
    RetinaFace: ~55) is found by the retry on a copy upsampled 2x, and its box lies on the face in full-frame px."""
    from core.faces.pipeline import DetectorSettings, FacePipeline
    from tests.conftest import DATA

    face = cv2.resize(cv2.imread(str(DATA / "astronaut_face.jpg")), (side, side))
    frame = np.full((size[1], size[0], 3), 90, np.uint8)
    frame[300 : 300 + side, 600 : 600 + side] = face
    assert FacePipeline(DetectorSettings(detector=detector, retry_upsample=False)).process(0, frame) == []
    faces = FacePipeline(DetectorSettings(detector=detector)).process(0, frame)
    assert len(faces) == 1 and 590 <= faces[0].box[0] < faces[0].box[2] <= 610 + side
    assert 290 <= faces[0].box[1] < faces[0].box[3] <= 310 + side


def test_recorded_box_settings_are_the_applied_ones(tiny_model_path, face_clip):
    """The artifact-box settings a result records (and the cache key holds) are the ones its boxes came from, not
    the predictor's own."""
    from core.analysis.engine import AnalysisOptions, analyze_video
    from core.model.artifacts import BoxSettings
    from core.media.frames import FrameSelection
    from core.analysis.runner import load_predictor

    predictor = load_predictor(str(tiny_model_path), device="cpu")
    predictor.boxes = BoxSettings(score_threshold=1.1)  # would keep no box at all
    loose = BoxSettings(score_threshold=0.0, top_k=3, max_area=1.0)
    r = analyze_video(face_clip, predictor, AnalysisOptions(frames=FrameSelection("count", 2), boxes=loose))
    faces = [f for fr in r.frames for f in fr.faces]
    assert faces and all(len(f.artifacts) == 3 for f in faces)
    assert r.settings.extra["boxes"] == loose.to_dict()


def _content(result) -> dict:
    """What an analysis found (frames, tracks, summary): everything but timings, dates and the settings record."""
    return {"frames": [f.to_dict() for f in result.frames], "tracks": [t.to_dict() for t in result.tracks],
            "summary": result.summary.to_dict()}


def test_landmarks_kept_as_asked(face_clip, predictor):
    from core.faces.landmark_sets import five_points

    sel = FrameSelection("count", 2)
    full = analyze_video(face_clip, predictor, AnalysisOptions(frames=sel, landmarks="68"))
    five = analyze_video(face_clip, predictor, AnalysisOptions(frames=sel, landmarks="5"))
    none = analyze_video(face_clip, predictor, AnalysisOptions(frames=sel, landmarks="none"))
    for a, b, c in zip(full.frames, five.frames, none.frames):
        assert len(a.faces[0].landmarks) == 68 and c.faces[0].landmarks is None
        assert np.allclose(b.faces[0].landmarks, five_points(np.array(a.faces[0].landmarks)), atol=0.01)
        assert a.faces[0].score == b.faces[0].score == c.faces[0].score
    assert [r.settings.extra["landmarks"] for r in (full, five, none)] == ["68", "5", "none"]
    with pytest.raises(ValueError, match="landmarks"):
        AnalysisOptions(landmarks="12")


@pytest.mark.long
def test_each_recorded_setting_changes_the_result_or_is_refused(face_clip, dim_face_clip, predictor):
    """One source of truth: every setting a result records as result-affecting is applied (changing it changes
    what the analysis finds), for each face detector, and the run facts it records (device, batch size) are the ones
    that ran."""
    from dataclasses import replace

    from core.model.artifacts import BoxSettings
    from core.analysis.cache import ResultCache

    base = AnalysisOptions(frames=FrameSelection("count", 4), boxes=BoxSettings(score_threshold=0.0, nms_iou=0.3,
                                                                                top_k=3, max_area=1.0))
    det, box = base.detector, base.boxes
    assert det.detector == "retinaface"

    def with_det(options, **changes):
        return replace(options, detector=replace(options.detector, **changes))

    variants = {
        "frame_selection": replace(base, frames=FrameSelection("count", 3)),
        "threshold": replace(base, threshold=0.0),
        "detector.detector": with_det(base, detector="hog"),
        "detector.max_side": with_det(base, max_side=40),
        "detector.retina_threshold": with_det(base, retina_threshold=0.999),   # the clip's face scores ~0.998
        "detector.retina_nms": with_det(base, retina_nms=1.0),                 # every overlapping anchor kept

        "detector.min_face": with_det(base, min_face=1000),
        "detector.track_iou": with_det(base, track_iou=1.0, detect_every=1),
        "boxes.score_threshold": replace(base, boxes=replace(box, score_threshold=0.99)),
        "boxes.nms_iou": replace(base, boxes=replace(box, nms_iou=1.0)),
        "boxes.top_k": replace(base, boxes=replace(box, top_k=1)),
        "boxes.max_area": replace(base, boxes=replace(box, max_area=0.05)),
        "identity": replace(base, identity=False),
        "identity_every": replace(base, identity_every=1),
        "landmarks": replace(base, landmarks="none"),
    }
    reference = analyze_video(face_clip, predictor, base)
    assert reference.settings.device == str(predictor.device) and reference.settings.batch_size == base.batch_size
    from core.faces.embedder import FaceEmbedder

    assert reference.settings.runtime == f"{predictor.runtime}; face descriptors: {FaceEmbedder().runtime}"
    # RetinaFace's retries, compared where they matter: a face too small at max_side 60 (2x upscale), a dim clip
    small = with_det(base, max_side=60)
    variants["detector.retry_upsample"] = (small, with_det(small, retry_upsample=False))
    # detect_every: where faces are followed between detections (all frames; a sampled frame after a gap is detected)
    every = replace(base, frames=FrameSelection("all"))
    variants["detector.detect_every"] = (every, with_det(every, detect_every=1))
    dim = with_det(base, max_side=100, retry_upsample=False)
    variants["detector.normalise_exposure"] = (dim, with_det(dim, normalise_exposure=False), dim_face_clip)
    # dlib HOG's settings and retries, each against the HOG run it changes
    hog = with_det(base, detector="hog")
    variants["hog.max_side"] = (hog, with_det(hog, max_side=100, retry_upsample=False))
    variants["detector.upsample"] = (hog, with_det(hog, upsample=1))
    variants["detector.threshold"] = (hog, with_det(hog, threshold=3.0))
    hog_small = with_det(hog, max_side=140)
    variants["hog.retry_upsample"] = (hog_small, with_det(hog_small, retry_upsample=False))
    # the fallbacks: compared where they matter (a face HOG cannot see at max_side 100; a dim clip)
    tiny = with_det(hog, max_side=100, retry_upsample=False, normalise_exposure=False)
    variants["detector.cnn_fallback"] = (tiny, with_det(tiny, cnn_fallback=False))
    variants["detector.cnn_max_side"] = (tiny, with_det(tiny, cnn_max_side=64))
    no_cnn = with_det(hog, cnn_fallback=False)
    variants["hog.normalise_exposure"] = (no_cnn, with_det(no_cnn, normalise_exposure=False), dim_face_clip)
    unchanged = []
    for name, v in variants.items():
        clip = v[2] if isinstance(v, tuple) and len(v) == 3 else face_clip
        a, b = (reference, analyze_video(face_clip, predictor, v)) if not isinstance(v, tuple) else \
            (analyze_video(clip, predictor, v[0]), analyze_video(clip, predictor, v[1]))
        assert a.settings != b.settings, name                    # recorded ...
        if _content(a) == _content(b):                           # ... and applied
            unchanged.append(name)
        if name != "threshold":                                  # the verdict threshold is not in the cache key
            assert ResultCache.key("v", "m", a.settings) != ResultCache.key("v", "m", b.settings), name
    assert unchanged == []
    # every recorded result-affecting field of each detector is covered above, and none that does not apply is recorded
    covered = set(variants)
    hog_record = hog.detector.to_dict()
    assert {f"detector.{k}" for k in {**reference.settings.detector, **hog_record}} | \
        {f"boxes.{k}" for k in reference.settings.extra["boxes"]} <= covered
    assert "cnn_fallback" not in reference.settings.detector and "retina_threshold" not in hog_record
    assert set(reference.settings.extra) - {"boxes"} <= covered
    # the batch size is a run fact: recorded as applied, scores unchanged
    other = analyze_video(face_clip, predictor, replace(base, batch_size=1))
    assert other.settings.batch_size == 1
    assert [f.score for f in other.frames] == pytest.approx([f.score for f in reference.frames], abs=1e-5)
