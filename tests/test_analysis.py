import json

import cv2
import numpy as np
import pytest

from core.analysis import AnalysisOptions, analyze_video
from core.checkpoints import load_model
from core.frames import FrameSelection
from core.inference import Predictor
from core.results import load_json
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
    assert set(result.timings) >= {"decode", "detect", "landmarks", "align", "model", "boxes", "total"}


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


def test_small_face_found_by_the_upsampled_retry():
    from core.faces.pipeline import DetectorSettings, FacePipeline
    from tests.conftest import DATA

    face = cv2.resize(cv2.imread(str(DATA / "astronaut_face.jpg")), (180, 180))
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[300:480, 600:780] = face  # the face is ~50 px once downscaled to 640: too small for HOG at upsample 0
    assert FacePipeline(DetectorSettings(retry_upsample=False)).process(0, frame) == []
    faces = FacePipeline().process(0, frame)
    assert len(faces) == 1 and 590 <= faces[0].box[0] < faces[0].box[2] <= 790


def test_recorded_box_settings_are_the_applied_ones(tiny_model_path, face_clip):
    """The artifact-box settings a result records (and the cache key holds) are the ones its boxes came from, not
    the predictor's own."""
    from core.analysis import AnalysisOptions, analyze_video
    from core.artifacts import BoxSettings
    from core.frames import FrameSelection
    from core.runner import load_predictor

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


def test_each_recorded_setting_changes_the_result_or_is_refused(face_clip, dim_face_clip, predictor):
    """One source of truth: every setting a result records as result-affecting is applied (changing it changes
    what the analysis finds), and the run facts it records (device, batch size) are the ones that ran."""
    from dataclasses import replace

    from core.artifacts import BoxSettings
    from core.cache import ResultCache

    base = AnalysisOptions(frames=FrameSelection("count", 4), boxes=BoxSettings(score_threshold=0.0, nms_iou=0.3,
                                                                                top_k=3, max_area=1.0))
    det, box = base.detector, base.boxes
    variants = {
        "frame_selection": replace(base, frames=FrameSelection("count", 3)),
        "threshold": replace(base, threshold=0.0),
        "detector.max_side": replace(base, detector=replace(det, max_side=100, retry_upsample=False)),
        "detector.upsample": replace(base, detector=replace(det, upsample=1)),
        "detector.threshold": replace(base, detector=replace(det, threshold=3.0)),
        "detector.detect_every": replace(base, detector=replace(det, detect_every=1)),
        "detector.min_face": replace(base, detector=replace(det, min_face=1000)),
        "detector.track_iou": replace(base, detector=replace(det, track_iou=1.0, detect_every=1)),
        "boxes.score_threshold": replace(base, boxes=replace(box, score_threshold=0.99)),
        "boxes.nms_iou": replace(base, boxes=replace(box, nms_iou=1.0)),
        "boxes.top_k": replace(base, boxes=replace(box, top_k=1)),
        "boxes.max_area": replace(base, boxes=replace(box, max_area=0.05)),
        "identity": replace(base, identity=False),
        "identity_every": replace(base, identity_every=1),
        "landmarks": replace(base, landmarks="none"),
    }
    reference = analyze_video(face_clip, predictor, base)
    ref_content = _content(reference)
    assert reference.settings.device == str(predictor.device) and reference.settings.batch_size == base.batch_size
    from core.faces.identity import FaceEmbedder

    assert reference.settings.runtime == f"{predictor.runtime}; face descriptors: {FaceEmbedder().runtime}"
    small = replace(base, detector=replace(det, max_side=140))  # retry_upsample: compared where it matters
    variants["detector.retry_upsample"] = (small, replace(small, detector=replace(small.detector,
                                                                                  retry_upsample=False)))
    # the fallbacks: compared where they matter (a face HOG cannot see at max_side 100; a dim clip)
    tiny = replace(base, detector=replace(det, max_side=100, retry_upsample=False, normalise_exposure=False))
    variants["detector.cnn_fallback"] = (tiny, replace(tiny, detector=replace(tiny.detector, cnn_fallback=False)))
    variants["detector.cnn_max_side"] = (tiny, replace(tiny, detector=replace(tiny.detector, cnn_max_side=64)))
    no_cnn = replace(base, detector=replace(det, cnn_fallback=False))
    variants["detector.normalise_exposure"] = (no_cnn, replace(no_cnn, detector=replace(
        no_cnn.detector, normalise_exposure=False)), dim_face_clip)
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
    # every recorded result-affecting field is covered above
    covered = set(variants)
    assert {f"detector.{k}" for k in reference.settings.detector} | {f"boxes.{k}" for k in
                                                                     reference.settings.extra["boxes"]} <= covered
    assert set(reference.settings.extra) - {"boxes"} <= covered
    # the batch size is a run fact: recorded as applied, scores unchanged
    other = analyze_video(face_clip, predictor, replace(base, batch_size=1))
    assert other.settings.batch_size == 1
    assert [f.score for f in other.frames] == pytest.approx([f.score for f in reference.frames], abs=1e-5)
