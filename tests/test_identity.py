"""Identity evidence: dlib face descriptors, distances and verdicts, the reference of the claimed person, the compact
JSON form, and `caddm-analyze --reference` end to end."""
import json

import cv2
import numpy as np
import pytest
from conftest import DATA, isolated_cache_dir, need

from core.common.errors import CheckpointError
from core.faces import embedder as face_embedder
from core.faces import identity
from core.faces.embedder import FaceEmbedder
from core.faces.identity import (DIFFERENT_MIN, DIM, JUMP_DISTANCE, MIN_FACES, SAME_MAX, consistency_jumps,
                                 descriptor_from_text, descriptor_to_text, distances, identity_verdict,
                                 track_consistency)
from core.faces.pipeline import FacePipeline
from core.analysis.reference import Reference
from core.analysis.reference_scan import load_reference
from core.analysis.results import AnalysisResult, load_json


@pytest.fixture(scope="module")
def embedder():
    return FaceEmbedder()


_PIPELINE = []


def _pipeline() -> FacePipeline:
    """One face pipeline for the module (the landmark model loads once)."""
    if not _PIPELINE:
        _PIPELINE.append(FacePipeline())
    return _PIPELINE[0]


def _largest_face(image):
    _pipeline().reset()
    faces = _pipeline().process(0, image)
    assert faces, "no face found"
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def _describe(embedder, path):
    image = cv2.imread(str(path))
    return embedder.describe(image, _largest_face(image).landmarks)


def _astronaut_canvas():
    face = cv2.imread(str(DATA / "astronaut_face.jpg"))
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[100:100 + face.shape[0], 200:200 + face.shape[1]] = face
    return canvas


# ---------------------------------------------------------------------------------------------------- descriptors


def test_chip_from_the_cut_equals_the_chip_from_the_whole_frame(embedder):
    import dlib

    canvas = _astronaut_canvas()
    lm = _largest_face(canvas).landmarks
    whole = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
    shape = dlib.full_object_detection(dlib.rectangle(0, 0, 1, 1),
                                       [dlib.point(int(x), int(y)) for x, y in np.rint(lm).astype(int)])
    expected = dlib.get_face_chip(whole, shape, size=150, padding=0.25)
    assert np.array_equal(embedder.chip(canvas, lm), expected)
    d = embedder.describe(canvas, lm)
    assert d.shape == (DIM,) and d.dtype == np.float32 and np.isfinite(d).all()


def test_same_photo_twice_is_zero_and_different_people_are_far(embedder, shared_data):
    faces = need(shared_data / "faces")
    obama = _describe(embedder, faces / "obama.jpg")
    assert float(np.linalg.norm(obama - _describe(embedder, faces / "obama.jpg"))) < 1e-6
    assert distances(obama[None], _describe(embedder, faces / "obama_small.jpg")[None])[0] < 0.6  # same person
    for other in ("biden.jpg", "astronaut.png", "Tom_Cruise_avp_2014_4.jpg"):
        assert distances(obama[None], _describe(embedder, faces / other)[None])[0] > 0.6, other


def test_missing_or_corrupt_descriptor_model_is_a_one_line_error(tmp_path):
    with pytest.raises(CheckpointError, match="nothere.dat: face descriptor model file not found"):
        FaceEmbedder(tmp_path / "nothere.dat")
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x00\x01 not a dlib model" * 100)
    with pytest.raises(CheckpointError, match="junk.dat: not dlib's face descriptor network"):
        FaceEmbedder(junk)                                  # read as numbers for ONNX Runtime: the byte named
    with pytest.raises(CheckpointError, match="junk.dat: not a dlib face recognition model"):
        FaceEmbedder(junk, runtime="dlib")
    from core.faces.dlib_models import packaged_model_path

    with pytest.raises(CheckpointError, match="no_such_model.dat: face descriptor model file is missing"):
        packaged_model_path("no_such_model.dat", "face descriptor model")
    assert face_embedder.default_descriptor_model_path().endswith(face_embedder.DESCRIPTOR_MODEL)


# ------------------------------------------------------------------------------------------------- pure functions


def test_distances_are_the_nearest_reference():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 0.1, (7, DIM)), rng.normal(0, 0.1, (3, DIM))
    brute = np.linalg.norm(a[:, None] - b[None], axis=2).min(axis=1)
    assert np.allclose(distances(a, b), brute, atol=1e-9)
    assert np.allclose(distances(a, a), 0.0, atol=1e-6)
    assert distances(np.zeros((0, DIM)), b).shape == (0,)
    with pytest.raises(ValueError, match="no reference"):
        distances(a, np.zeros((0, DIM)))


def test_verdict_thresholds():
    assert SAME_MAX < DIFFERENT_MIN and MIN_FACES >= 2
    assert identity_verdict([SAME_MAX] * MIN_FACES) == "same person"
    assert identity_verdict([0.3, 0.3, 0.9]) == "same person"  # the median, not the mean
    assert identity_verdict([DIFFERENT_MIN] * MIN_FACES) == "different person"
    assert identity_verdict([(SAME_MAX + DIFFERENT_MIN) / 2] * MIN_FACES) == "inconclusive"
    assert identity_verdict([0.9] * (MIN_FACES - 1)) == "inconclusive"  # too few faces
    assert identity_verdict([0.9] * (MIN_FACES - 1) + [float("nan")]) == "inconclusive"
    assert identity_verdict([]) == "inconclusive"


def test_consistency_and_jumps():
    rng = np.random.default_rng(1)
    person, other = rng.normal(0, 0.09, DIM), rng.normal(0, 0.09, DIM)
    track = np.stack([person + rng.normal(0, 0.005, DIM) for _ in range(8)] + [other])
    c = track_consistency(track)
    assert c.shape == (9,) and c[:8].max() < 0.15 and c[8] > JUMP_DISTANCE
    assert consistency_jumps(c, list(range(0, 90, 10))) == [80]
    assert track_consistency(np.zeros((0, DIM))).shape == (0,)


def test_compact_descriptor_text_round_trips():
    d = np.random.default_rng(2).normal(0, 0.1, DIM).astype(np.float32)
    text = descriptor_to_text(d)
    assert len(text) == 344 and text.isascii()
    back = descriptor_from_text(text)
    assert back.dtype == np.float32 and np.abs(back - d).max() < 1e-3
    assert descriptor_to_text(back) == text  # quantised: stable
    with pytest.raises(ValueError):
        descriptor_from_text(text[:-8])
    with pytest.raises(ValueError):
        identity.quantise(np.zeros(5))


# ----------------------------------------------------------------------------------------------- result and JSON


def _with_descriptors(result, rng):
    """Track 0 keeps one identity, track 1 another; every face described."""
    base = {0: rng.normal(0, 0.09, DIM), 1: rng.normal(0, 0.09, DIM)}
    for fr in result.frames:
        for f in fr.faces:
            f.descriptor = identity.quantise(base[f.track] + rng.normal(0, 0.01, DIM))
    return AnalysisResult.build(result.video, result.model, result.settings, result.frames, timings=result.timings,
                                case=result.case, review=result.review, created_utc=result.created_utc), base


def test_result_with_reference_round_trips_and_old_reports_still_read(tmp_path):
    from report_fixtures import make_result

    from core.analysis.reference import ReferenceFile

    rng = np.random.default_rng(3)
    result, base = _with_descriptors(make_result(), rng)
    tracks = {t.track: t.identity for t in result.tracks}
    assert tracks[0].n == 8 and tracks[0].verdict is None and tracks[0].median is None  # no reference yet
    assert tracks[0].consistency_max < JUMP_DISTANCE and tracks[0].jumps == []

    ref = Reference([ReferenceFile("/ref/claimed.jpg", "aa" * 32, "photo", frames_read=1, faces_found=1,
                                   descriptors=[base[0] + rng.normal(0, 0.01, DIM)])])
    compared = result.with_reference(ref)
    verdicts = {t.track: t.identity.verdict for t in compared.tracks}
    assert verdicts == {0: "same person", 1: "different person"}
    t0 = compared.tracks[0].identity
    assert t0.p10 <= t0.median <= t0.p90 < SAME_MAX
    assert all(f.identity_distance is not None for fr in compared.frames for f in fr.faces)
    assert [f.score for fr in compared.frames for f in fr.faces] == [f.score for fr in result.frames for f in fr.faces]

    path = tmp_path / "report.json"
    compared.save_json(path)
    d = json.loads(path.read_text())
    face = d["frames"][0]["faces"][0]
    assert isinstance(face["descriptor"], str) and isinstance(face["identity_distance"], float)
    assert d["reference"]["files"][0]["sha256"] == "aa" * 32 and d["reference"]["faces_used"] == 1
    assert d["tracks"][1]["identity"]["verdict"] == "different person"
    back = load_json(path)
    assert back == compared
    assert np.array_equal(back.frames[0].faces[0].descriptor, compared.frames[0].faces[0].descriptor)
    # the comparison recomputed from the file's descriptors gives the same distances
    again = back.with_reference(back.reference)
    assert again.to_dict() == compared.to_dict()

    # a report written before identity evidence existed: no descriptor, distance, identity or reference fields
    old = json.loads(path.read_text())
    del old["reference"]
    for t in old["tracks"]:
        del t["identity"]
    for fr in old["frames"]:
        for f in fr["faces"]:
            del f["descriptor"], f["identity_distance"]
    path.write_text(json.dumps(old))
    legacy = load_json(path)
    assert legacy.reference is None and all(t.identity is None for t in legacy.tracks)
    assert all(f.descriptor is None and f.identity_distance is None for fr in legacy.frames for f in fr.faces)
    assert legacy.with_reference(ref).tracks[0].identity is None  # nothing to compare: no error


def test_reports_show_the_identity_section(tmp_path):
    from report_fixtures import make_result

    from core.analysis.reference import ReferenceFile
    from core.reports import render_reports

    rng = np.random.default_rng(4)
    result, base = _with_descriptors(make_result(), rng)
    ref = Reference([ReferenceFile("/ref/claimed <1>.jpg", "bb" * 32, "photo", frames_read=1, faces_found=2,
                                   descriptors=[base[1]], notes=["2 faces found; the largest was used"])])
    out = render_reports(result.with_reference(ref))  # no frame images: the sections are what counts
    html = out["html"].decode()
    assert "<h2>Identity</h2>" in html and "bb" * 32 in html and "claimed &lt;1&gt;.jpg" in html
    assert "different person" in html and "same person" in html and "Face2Face" in html
    assert out["pdf"].startswith(b"%PDF")
    header, *rows = out["csv"].decode().splitlines()
    assert "identity_distance" in header.split(",")
    col = header.split(",").index("identity_distance")
    assert any(r.split(",")[col] for r in rows)
    plain = render_reports(make_result(), ["html"])["html"].decode()  # no descriptors at all
    assert "<h2>Identity</h2>" in plain and "descriptors were not computed" in plain  # settings: identity off


# --------------------------------------------------------------------------------------------------- reference


def test_reference_files_problems_are_named_and_files_stay_unchanged(tmp_path, face_clip, embedder):
    face = cv2.imread(str(DATA / "astronaut_face.jpg"))
    two = np.full((520, 760, 3), 90, np.uint8)
    two[20:20 + face.shape[0], 20:20 + face.shape[1]] = face
    small = cv2.resize(face, (face.shape[1] * 3 // 4, face.shape[0] * 3 // 4))
    two[300:300 + small.shape[0], 500:500 + small.shape[1]] = small
    cv2.imwrite(str(tmp_path / "two.png"), two)
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((240, 320, 3), 128, np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"this is no image")
    (tmp_path / "notes.mp4").write_text("this is no video")
    paths = [DATA / "astronaut_face.jpg", tmp_path / "two.png", tmp_path / "blank.png", tmp_path / "broken.jpg",
             tmp_path / "notes.mp4", tmp_path / "missing.jpg", face_clip]
    before = {p: p.read_bytes() for p in paths if p.exists()}
    ref = load_reference(paths, frames=4, pipeline=_pipeline(), embedder=embedder)
    files = {f.path.rsplit("/", 1)[-1]: f for f in ref.files}
    assert files["astronaut_face.jpg"].faces_used == 1 and files["astronaut_face.jpg"].notes == []
    assert files["two.png"].faces_found == 2 and files["two.png"].faces_used == 1
    assert files["two.png"].notes == ["2 faces found; the largest was used"]
    assert files["blank.png"].faces_used == 0 and "no face found" in files["blank.png"].notes[0]
    assert "not a readable image" in files["broken.jpg"].notes[0] and files["broken.jpg"].sha256
    assert files["notes.mp4"].faces_used == 0 and "not used" in files["notes.mp4"].notes[0]
    assert files["missing.jpg"].sha256 is None and "no such file" in files["missing.jpg"].notes[0]
    assert files["face_clip.mp4"].kind == "video" and files["face_clip.mp4"].frames_read == 4
    assert files["face_clip.mp4"].faces_used == 4
    import hashlib

    for p, data in before.items():
        assert p.read_bytes() == data  # read-only
        assert files[p.name].sha256 == hashlib.sha256(data).hexdigest()
    messages = ref.messages()
    assert sum(m.startswith(str(tmp_path)) for m in messages) == 5 and len(ref.descriptors) == 6
    # the largest face of two.png is the astronaut at full size: its descriptor matches the photo's
    assert distances(files["two.png"].descriptors, files["astronaut_face.jpg"].descriptors)[0] < 0.2
    assert Reference.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref
    assert load_reference([tmp_path / "blank.png"], pipeline=_pipeline(), embedder=embedder).messages()[-1].startswith(
        "reference: no face found in any reference file")


# ----------------------------------------------------------------------------------------------------- analysis


def test_analysis_describes_faces_and_records_it(face_clip, tiny_model_path):
    from core.analysis.engine import AnalysisOptions, analyze_video
    from core.analysis.cache import ResultCache
    from core.media.frames import FrameSelection
    from core.analysis.runner import load_predictor

    predictor = load_predictor(tiny_model_path, device="cpu")
    every = AnalysisOptions(frames=FrameSelection("stride", 2), identity_every=1)
    r = analyze_video(face_clip, predictor, every, pipeline=_pipeline())
    faces = [f for fr in r.frames for f in fr.faces]
    assert faces and all(f.descriptor is not None and f.identity_distance is None for f in faces)
    assert r.settings.extra["identity"] == {"descriptor_model": face_embedder.DESCRIPTOR_MODEL, "every": 1}
    assert r.timings["identity"] > 0
    third = analyze_video(face_clip, predictor, AnalysisOptions(frames=FrameSelection("stride", 2),
                                                                 identity_every=3), pipeline=_pipeline())
    for t in {f.track for f in faces}:
        described = [f.descriptor is not None for fr in third.frames for f in fr.faces if f.track == t]
        assert described == [i % 3 == 0 for i in range(len(described))], t  # the track's first, then every 3rd
    off = analyze_video(face_clip, predictor, AnalysisOptions(frames=FrameSelection("count", 3), identity=False),
                        pipeline=_pipeline())
    assert all(f.descriptor is None for fr in off.frames for f in fr.faces) and "identity" not in off.settings.extra
    assert all(t.identity is None for t in off.tracks)
    on = AnalysisOptions(frames=FrameSelection("count", 3))
    assert ResultCache.key("a" * 64, "b" * 64, on.settings()) != ResultCache.key("a" * 64, "b" * 64,
                                                                                   off.settings)


def test_cli_reference_end_to_end(capsys, tmp_path, face_clip, tiny_model_path, monkeypatch):
    from core.cli.analyze import main

    monkeypatch.setenv("CADDM_CACHE_DIR", str(isolated_cache_dir(tmp_path / "cache")))
    (tmp_path / "broken.jpg").write_bytes(b"no image")
    out = tmp_path / "out"
    args = [str(face_clip), "--out", str(out), "--model", str(tiny_model_path), "--frames", "6", "--quiet"]
    code = main(args + ["--reference", str(DATA / "astronaut_face.jpg"), str(tmp_path / "broken.jpg")])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert any(line.startswith("warning: ") and "broken.jpg: not a readable image" in line
               for line in err.splitlines())
    assert "identity, track" in stdout and "Traceback" not in err
    report = json.loads((out / "face_clip" / "report.json").read_text())
    files = report["reference"]["files"]
    assert [f["faces_used"] for f in files] == [1, 0] and len(files[0]["sha256"]) == 64
    dists = [f["identity_distance"] for fr in report["frames"] for f in fr["faces"] if f["descriptor"]]
    assert dists and all(d < SAME_MAX for d in dists)  # the clip shows the reference's face
    assert all(t["identity"]["median"] is not None for t in report["tracks"])
    html = (out / "face_clip" / "report.html").read_text()
    assert "<h2>Identity</h2>" in html and files[0]["sha256"] in html
    assert "identity_distance" in (out / "face_clip" / "frames.csv").read_text().splitlines()[0]
    # the cached result holds the descriptors, not the comparison: without --reference, no distances
    code = main(args + ["--format", "json"])
    stdout, _ = capsys.readouterr()
    again = json.loads((out / "face_clip" / "report.json").read_text())
    assert code == 0 and again["reference"] is None and "identity, track" not in stdout
    assert all(f["identity_distance"] is None for fr in again["frames"] for f in fr["faces"])
    assert all(t["identity"]["consistency_median"] is not None for t in again["tracks"])
