"""Detector recall: labelled boxes and the matcher, the exposure-normalised retry (detection copy only), the MMOD CNN
fallback (boxes in HOG's convention, nothing on a faceless frame), and a dim real clip (../shared, skipped without)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import SHARED_DATA, need
from core.faces.align import align_face
from core.faces.detect import CnnFaceDetector, FaceDetector, normalise_exposure
from core.faces.labels import iou_matrix, load_frame_boxes, load_imglab_xml, match
from core.faces.pipeline import DetectorSettings, FacePipeline

DATA = Path(__file__).parent / "data"
HOG = DetectorSettings(detector="hog")  # dlib HOG with its retries and the CNN fallback (--detector hog)
OFF = replace(HOG, normalise_exposure=False, cnn_fallback=False)
W023 = "videos/real/spectre_mead_W023_level_2_surprised_010.mp4"


# ------------------------------------------------------------------------------------------------- labels, matcher
def test_imglab_xml_and_frame_boxes_load_as_xyxy(tmp_path):
    (tmp_path / "l.xml").write_text(
        "<dataset><images><image file='a.jpg'><box top='10' left='20' width='30' height='40'/>"
        "<box top='0' left='0' width='5' height='5' ignore='1'/></image><image file='b.jpg'/></images></dataset>")
    a, b = load_imglab_xml(tmp_path / "l.xml")
    assert a.path == tmp_path / "a.jpg" and a.boxes.tolist() == [[20, 10, 50, 50]]  # ignored box dropped
    assert b.boxes.shape == (0, 4)
    doc = {"clips": [{"file": "c.mp4", "frames": [{"index": 7, "boxes": [[1, 2, 3, 4]], "tags": ["profile"]}]}]}
    (tmp_path / "f.json").write_text(json.dumps(doc))
    (f,) = load_frame_boxes(tmp_path / "f.json", tmp_path)
    assert f.path == tmp_path / "videos/real/c.mp4" and f.frame == 7 and f.tags == ("profile",)
    assert f.boxes.tolist() == [[1, 2, 3, 4]]
    doc["clips"][0]["frames"][0]["boxes"] = [[3, 2, 1, 4]]
    (tmp_path / "f.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="c.mp4 frame 7"):
        load_frame_boxes(tmp_path / "f.json", tmp_path)


def test_the_projects_face_boxes_file_is_well_formed():
    items = load_frame_boxes(Path(__file__).parents[1] / "bench" / "data" / "face_boxes.json", Path("/nowhere"))
    assert len(items) >= 20 and all(len(i.boxes) for i in items)
    assert {"normal", "profile", "small"} <= {t for i in items for t in i.tags}


def _c(m):
    return m.tp, m.fp, m.fn


def test_match_one_to_one_by_iou_or_centre():
    truth = [[0, 0, 100, 100], [200, 0, 300, 100]]
    assert _c(match([[5, 5, 105, 105]], truth)) == (1, 0, 1)  # IoU 0.82
    # centre inside but IoU < 0.4 (a small box on the face) still counts
    assert iou_matrix([[40, 40, 60, 60]], truth)[0, 0] < 0.4 and match([[40, 40, 60, 60]], truth).tp == 1
    # neither: a box beside the face
    assert _c(match([[100, 0, 180, 100]], truth)) == (0, 1, 2)
    # two detections on one face: one TP, one FP (one-to-one); the better overlap wins
    m = match([[30, 30, 70, 70], [0, 0, 100, 100]], truth)
    assert (m.tp, m.fp, m.fn) == (1, 1, 1) and m.pairs == [(1, 0)]
    assert _c(match([], truth)) == (0, 0, 2) and _c(match([[0, 0, 1, 1]], [])) == (0, 1, 0)
    both = match([[205, 0, 300, 100], [0, 0, 95, 100]], truth)
    assert (both.tp, both.fp, both.fn) == (2, 0, 0) and sorted(both.pairs) == [(0, 1), (1, 0)]


# -------------------------------------------------------------------------------------------- exposure retry, CNN
@pytest.fixture(scope="module")
def dark_face():
    """The astronaut face on a grey canvas at 4% brightness (max value 10): HOG alone finds nothing."""
    face = cv2.imread(str(DATA / "astronaut_face.jpg"))
    canvas = np.full((300, 360, 3), 90, np.uint8)
    canvas[30:270, 60:300] = cv2.resize(face, (240, 240))
    return np.rint(canvas * 0.04).astype(np.uint8)


def test_exposure_retry_finds_the_dim_face_and_never_touches_the_scored_crop(dark_face):
    assert FacePipeline(OFF).process(0, dark_face.copy()) == []
    before = dark_face.copy()
    faces = FacePipeline(replace(OFF, normalise_exposure=True)).process(0, dark_face)
    assert len(faces) == 1
    np.testing.assert_array_equal(dark_face, before)  # the frame itself is untouched
    f = faces[0]
    expect, _ = align_face(dark_face, f.landmarks)  # the crop is cut from the untouched frame ...
    np.testing.assert_array_equal(f.crop, expect)
    assert f.crop.max() <= dark_face.max()  # ... still as dark as the evidence
    normalised = cv2.cvtColor(normalise_exposure(cv2.cvtColor(dark_face, cv2.COLOR_BGR2RGB)), cv2.COLOR_RGB2BGR)
    brightened, _ = align_face(normalised, f.landmarks)
    assert not np.array_equal(f.crop, brightened)  # (which would differ had the detection copy leaked)


def test_normalise_exposure_is_a_linear_stretch_on_a_copy():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 41, (50, 60), dtype=np.uint8)  # range 0..40: gain 255 / 40
    keep = grey.copy()
    out = normalise_exposure(grey)
    np.testing.assert_array_equal(grey, keep)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    np.testing.assert_allclose(out, np.clip(np.rint(grey.astype(float) * 255 / 40), 0, 255), atol=1)
    dim = rng.integers(0, 11, (50, 60, 3), dtype=np.uint8)  # colour, range 0..10: gain capped at 8
    out = normalise_exposure(dim)
    assert out.shape == dim.shape and out.max() <= 8 * 10
    flat = np.full((20, 20), 128, np.uint8)  # no range: gain capped, no division by zero
    assert normalise_exposure(flat).shape == (20, 20)


def test_cnn_boxes_are_mapped_to_hog_convention():
    face = cv2.imread(str(DATA / "astronaut_face.jpg"))
    (hog,) = FaceDetector(max_side=None).detect(face)
    (raw,) = CnnFaceDetector(max_side=None, map_to_hog=False).detect(face)
    (mapped,) = CnnFaceDetector(max_side=None).detect(face)
    iou_raw, iou_mapped = (iou_matrix([b.box], [hog.box])[0, 0] for b in (raw, mapped))
    assert iou_mapped > iou_raw and iou_mapped > 0.75
    assert 0.5 < mapped.score < 2.0  # MMOD confidence: the scale the threshold is held to (docs/DETECTION.md)
    big = cv2.resize(face, (1024, 1024), interpolation=cv2.INTER_CUBIC)  # downscaled copy -> full-res boxes
    (m4,) = CnnFaceDetector(max_side=256).detect(big)
    assert iou_matrix([m4.box], [np.array(mapped.box) * 4])[0, 0] > 0.8


@pytest.mark.parametrize("detector", ["hog", "retinaface"])
def test_faceless_frames_stay_faceless_with_every_fallback_on(detector):
    rng = np.random.default_rng(1)
    pipe = FacePipeline(DetectorSettings(detector=detector))
    assert pipe.settings.normalise_exposure and pipe.settings.retry_upsample
    for i, img in enumerate([np.zeros((360, 640, 3), np.uint8), np.full((360, 640, 3), 128, np.uint8),
                             rng.integers(0, 256, (360, 640, 3), dtype=np.uint8),
                             cv2.GaussianBlur(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8), (9, 9), 3)]):
        pipe.reset()                  # each image alone, so every retry runs on each
        assert pipe.process(i * 8, img) == []
    assert pipe.times.cnn_runs == (4 if detector == "hog" else 0)  # HOG's CNN fallback did run on each


def _cnn_frames(pipe, frames, image):
    runs = []
    for i in frames:
        before = pipe.times.cnn_runs
        pipe.process(i, image)
        if pipe.times.cnn_runs > before:
            runs.append(i)
    return runs


def test_cnn_fallback_runs_at_most_once_every_detect_every_frames_and_backs_off_while_it_finds_nothing():
    pipe = FacePipeline(replace(HOG, detect_every=4))
    blank = np.zeros((120, 160, 3), np.uint8)
    # eligible every 4 frames; while nothing is found the CNN takes every 1st, 2nd, 4th, then every 8th of those
    assert _cnn_frames(pipe, range(130), blank) == [0, 8, 24, 56, 88, 120]
    assert pipe.times.detections == 130
    # a sampled analysis of a faceless video: every frame is eligible, the CNN runs on 6 of 32
    pipe.reset()
    assert len(_cnn_frames(pipe, range(0, 32 * 500, 500), blank)) == 6


def test_cnn_backoff_ends_when_a_face_is_found():
    face_image = np.full((300, 360, 3), 90, np.uint8)
    face_image[30:270, 60:300] = cv2.resize(cv2.imread(str(DATA / "astronaut_face.jpg")), (240, 240))
    pipe = FacePipeline(replace(HOG, detect_every=4))
    blank = np.zeros(face_image.shape, np.uint8)
    assert _cnn_frames(pipe, range(0, 28), blank) == [0, 8, 24]
    assert pipe.process(28, face_image)              # HOG finds the face: the backoff is over
    pipe._followed.clear()                           # the face is gone
    assert _cnn_frames(pipe, range(32, 44), blank) == [32, 40]


def test_old_recorded_settings_load_as_what_ran_without_the_new_switches():
    old = {k: v for k, v in HOG.to_dict().items()
           if k not in ("detector", "normalise_exposure", "cnn_fallback", "cnn_max_side")}
    s = DetectorSettings.from_dict(old)  # recorded before the fallbacks and RetinaFace existed: HOG alone ran
    assert s == replace(HOG, normalise_exposure=False, cnn_fallback=False)
    assert DetectorSettings.from_dict(DetectorSettings().to_dict()) == DetectorSettings()  # RetinaFace round-trips
    assert DetectorSettings.from_dict({}).max_side == 640
    off = replace(s, normalise_exposure=False, cnn_fallback=False, cnn_max_side=480)
    assert DetectorSettings.from_dict(off.to_dict()) == off


# ----------------------------------------------------------------------------------------- the dim real clip (W023)
def _w023_frames(n: int = 4):
    from core.media.frames import FrameSelection
    from core.media.video import VideoReader, quick_probe

    path = need(SHARED_DATA / W023)
    with VideoReader(path) as reader:
        return [f.image for f in reader.frames(FrameSelection("count", n).indices(quick_probe(path)[0]))]


def _faces_found(settings: DetectorSettings, frames) -> list[int]:
    pipe = FacePipeline(settings)
    return [len(pipe.process(i * 100, img)) for i, img in enumerate(frames)]  # every frame a detection frame


@pytest.mark.parametrize("detector", ["hog", "retinaface"])
def test_dim_w023_clip_as_recorded_finds_its_face(detector):
    assert _faces_found(DetectorSettings(detector=detector), _w023_frames()) == [1, 1, 1, 1]


def test_darker_w023_needs_the_new_defaults():
    """The clip through low_light(0.85) (mean luma ~2): HOG alone finds nothing; HOG with its retries and RetinaFace
    (the default) find the face on every frame."""
    from core.train.augment import low_light

    frames = [low_light(f, 0.85) for f in _w023_frames()]
    assert _faces_found(OFF, frames) == [0, 0, 0, 0]
    assert _faces_found(HOG, frames) == [1, 1, 1, 1]
    assert _faces_found(DetectorSettings(), frames) == [1, 1, 1, 1]


def test_detection_copies_are_the_frame_downscaled_and_made_once():
    from core.faces.detect import DetectionCopies, _downscaled, normalise_exposure
    from core.faces.dlib_models import to_dlib_image

    rng = np.random.default_rng(4)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), (0, 0), 3)
    copies = DetectionCopies(frame)
    plain, sx, sy = copies.get(640)
    want, wx, wy = _downscaled(to_dlib_image(frame), 640)           # convert, then downscale: the same pixels
    assert np.array_equal(plain, want) and (sx, sy) == (wx, wy) == (2.0, 2.0)
    dim, _, _ = copies.get(640, normalise=True)
    assert np.array_equal(dim, normalise_exposure(want))
    assert copies.get(640)[0] is plain and copies.get(640, True)[0] is dim   # each made once
    assert copies.get(None)[0].shape == (720, 1280, 3)
