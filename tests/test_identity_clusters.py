"""How many people a video shows (identity clusters over the face tracks), the identity series the app draws, and
choosing faces in a reference file (every face of a photo, every person of a video)."""
import json

import cv2
import numpy as np
import pytest
from conftest import DATA, need

from core.faces import identity
from core.faces.identity import DIFFERENT_MIN, DIM, SAME_MAX, cluster
from core.analysis.reference import Reference, ReferenceFile
from core.analysis.reference_scan import scan_reference
from core.analysis.identities import identity_clusters, identity_series
from core.analysis.frame_results import FaceResult, FrameResult
from core.analysis.results import AnalysisResult, load_json


def _person(rng):
    return rng.normal(0, 0.09, DIM)  # norm about 1, like dlib's descriptors; two of them lie about 1.4 apart


def _near(base, distance, rng):
    """A descriptor `distance` away from `base`."""
    u = rng.normal(size=DIM)
    return base + distance * u / np.linalg.norm(u)


# --------------------------------------------------------------------------------------------------- clustering


def test_cluster_merges_within_same_max_and_keeps_undecided_pairs_apart():
    rng = np.random.default_rng(0)
    a, b = _person(rng), _person(rng)
    c = _near(a, (SAME_MAX + DIFFERENT_MIN) / 2, rng)  # a lookalike of a: between the thresholds
    rows = [_near(a, 0.1, rng), _near(b, 0.1, rng), _near(a, 0.1, rng), c, _near(b, 0.05, rng)]
    groups, link = cluster(rows)
    assert groups == [[0, 2], [1, 4], [3]]
    assert link.shape == (3, 3) and np.allclose(np.diag(link), 0) and np.allclose(link, link.T)
    assert SAME_MAX < link[0, 2] < DIFFERENT_MIN + 0.1  # the lookalike stays apart, but near
    assert link[0, 1] > DIFFERENT_MIN and link[1, 2] > DIFFERENT_MIN
    # average linkage: the distance between two groups is the mean of their members' distances
    pair = np.linalg.norm(np.stack(rows)[[0, 2]][:, None] - np.stack(rows)[[1, 4]][None], axis=2)
    assert np.isclose(link[0, 1], pair.mean())
    assert cluster(np.zeros((0, DIM)))[0] == [] and cluster([a])[0] == [[0]]
    # exactly at SAME_MAX still merges; just above does not
    assert len(cluster([a, _near(a, SAME_MAX - 1e-6, rng)])[0]) == 1
    assert len(cluster([a, _near(a, SAME_MAX + 1e-3, rng)])[0]) == 2


def _frames(rng, people: dict[int, np.ndarray], every: int = 1, n: int = 9) -> list[FrameResult]:
    """n analysed frames (every 10th); track t shows people[t] in a box of its own (track 2 larger from frame 40);
    track 0 is absent from frames 50-60; faces described in every `every`-th frame."""
    out = []
    for k in range(n):
        faces = []
        for t, base in people.items():
            if t == 0 and 5 <= k <= 6:
                continue
            x = 60.0 + 200 * t
            side = 120.0 if not (t == 2 and k >= 4) else 200.0
            d = identity.quantise(_near(base, 0.08, rng)) if k % every == 0 else None
            faces.append(FaceResult(track=t, box=[x, 50, x + side, 50 + side], det_score=0.9, score=0.3,
                                    descriptor=d))
        out.append(FrameResult(index=10 * k, time_s=k / 2.5, faces=faces))
    return out


def test_identity_clusters_group_tracks_of_one_person(report_parts):
    rng = np.random.default_rng(1)
    a, b = _person(rng), _person(rng)
    frames = _frames(rng, {0: a, 1: b, 2: a})
    people = identity_clusters(frames)
    assert [c.tracks for c in people] == [[0, 2], [1]]   # most frames first: a in all 9 frames, b in 9 too
    a_, b_ = people
    assert a_.id == 0 and a_.n_frames == 9 and a_.n_described == 16 and (a_.first_frame, a_.last_frame) == (0, 80)
    assert b_.n_frames == 9 and b_.n_described == 9
    assert a_.spread is not None and a_.spread < SAME_MAX and b_.spread is None
    assert a_.nearest == 1 and b_.nearest == 0 and a_.nearest_distance > DIFFERENT_MIN
    # the representative face is one of the person's large faces (track 2's from frame 40 on, not track 0's)
    assert a_.face_track == 2 and a_.face_frame >= 40 and a_.face_box[2] - a_.face_box[0] == 200
    assert a_.median is None and a_.verdict is None  # no reference

    result = AnalysisResult.build(*report_parts, frames)
    assert result.identities == people
    compared = result.with_reference(Reference([ReferenceFile("/ref/a.jpg", "cc" * 32, "photo", 1, 1, [a])]))
    verdicts = {tuple(c.tracks): (c.verdict, c.median) for c in compared.identities}
    assert verdicts[(0, 2)][0] == "same person" and verdicts[(0, 2)][1] < SAME_MAX
    assert verdicts[(1,)][0] == "different person"
    # report.json: a small list; it round-trips, and a report written before it existed derives it
    d = json.loads(compared.to_json())
    assert [c["tracks"] for c in d["identities"]] == [[0, 2], [1]] and set(d["identities"][0]) >= {
        "face_frame", "face_box", "n_frames", "nearest_distance", "verdict"}
    assert AnalysisResult.from_dict(d) == compared
    del d["identities"]
    assert AnalysisResult.from_dict(d).identities == compared.identities


def test_identity_clusters_without_descriptors_and_sparse_descriptors(report_parts):
    rng = np.random.default_rng(2)
    frames = _frames(rng, {0: _person(rng)}, every=3)
    people = identity_clusters(frames)
    assert len(people) == 1 and people[0].n_described == 2 and people[0].n_frames == 7  # k = 0, 3 (6: absent)
    assert people[0].face_frame in (0, 30) and people[0].nearest is None and people[0].spread is None
    for fr in frames:
        for f in fr.faces:
            f.descriptor = None
    assert identity_clusters(frames) == [] and AnalysisResult.build(*report_parts, frames).identities == []


def test_identity_series_is_consistency_without_a_reference_and_distance_with_one(report_parts):
    rng = np.random.default_rng(3)
    a, b = _person(rng), _person(rng)
    frames = _frames(rng, {0: a, 1: b}, every=2)
    kind, series = identity_series(frames)
    assert kind == "consistency" and set(series) == {0, 1}
    idx, d = series[0]
    assert idx.tolist() == [0, 20, 40, 80] and d.shape == (4,) and (d < 0.3).all()  # its own median: near
    result = AnalysisResult.build(*report_parts, frames).with_reference(
        Reference([ReferenceFile("/ref/a.jpg", None, "photo", 1, 1, [a])]))
    kind, series = identity_series(result.frames)
    assert kind == "reference"
    assert (series[0][1] < SAME_MAX).all() and (series[1][1] > DIFFERENT_MIN).all()
    assert series[1][0].tolist() == [0, 20, 40, 60, 80]
    assert identity_series([FrameResult(index=0, time_s=0.0)]) == (None, {})


def test_cache_keeps_descriptors_not_the_comparison(tmp_path, report_parts):
    from core.analysis.cache import ResultCache

    rng = np.random.default_rng(4)
    a = _person(rng)
    result = AnalysisResult.build(*report_parts, _frames(rng, {0: a}))
    compared = result.with_reference(Reference([ReferenceFile("/ref/a.jpg", None, "photo", 1, 1, [a])]))
    cache = ResultCache(tmp_path)
    cache.put(cache.key_for(compared), compared)
    back = cache.get(cache.key_for(result))
    assert back.reference is None and back == result
    assert compared.reference is not None  # the caller's result is left as it was


def test_report_lists_the_people_with_a_thumbnail_each(report_parts):
    from core.reports import render_reports

    rng = np.random.default_rng(5)
    a, b = _person(rng), _person(rng)
    result = AnalysisResult.build(*report_parts, _frames(rng, {0: a, 1: b}))
    asked = []

    def frame_source(i):
        asked.append(i)
        return np.full((400, 640, 3), 80, np.uint8)

    out = render_reports(result, ["html", "csv", "pdf"], frame_source=frame_source)
    html = out["html"].decode()
    assert "<h3>People in the video</h3>" in html and "Distinct people: 2." in html
    assert html.count('class="thumb"') == 2 and 'alt="face of person 1"' in html
    assert {c.face_frame for c in result.identities} <= set(asked)
    header, *rows = out["csv"].decode().splitlines()
    col = header.split(",").index("person")
    assert {r.split(",")[col] for r in rows} == {"0", "1"}
    assert out["pdf"].startswith(b"%PDF")
    # without frame images the table is still there, saying so
    html = render_reports(result, ["html"])["html"].decode()
    assert html.count("no image") >= 2 and 'class="thumb"' not in html


# ------------------------------------------------------------------------------------------------ reference faces


def _two_faces(tmp_path):
    face = cv2.imread(str(DATA / "astronaut_face.jpg"))
    two = np.full((520, 760, 3), 90, np.uint8)
    small = cv2.resize(face, (face.shape[1] * 3 // 4, face.shape[0] * 3 // 4))
    two[300:300 + small.shape[0], 500:500 + small.shape[1]] = small
    two[20:20 + face.shape[0], 20:20 + face.shape[1]] = face
    path = tmp_path / "two.png"
    cv2.imwrite(str(path), two)
    return path


def test_scan_offers_every_face_of_a_photo_and_records_the_choice(tmp_path):
    path = _two_faces(tmp_path)
    before = path.read_bytes()
    scan = scan_reference(path, thumb_side=64)
    assert scan.kind == "photo" and scan.faces_found == 2 and len(scan.faces) == 2 and scan.several == 1
    big, small = scan.faces
    assert big.box[0] < 300 < 400 < small.box[0]  # largest first: the full-size face at the top left
    assert (big.largest, small.largest) == (1, 0)
    assert big.thumbnail.dtype == np.uint8 and max(big.thumbnail.shape[:2]) == 64
    assert scan.default == [0]
    default = scan.file()
    assert default.faces_used == 1 and default.notes == ["2 faces found; the largest was used"]
    assert np.array_equal(default.descriptors, identity.quantise(big.descriptors[0])[None])
    chosen = scan.file([1])
    assert chosen.faces_used == 1 and "face 2 chosen by the analyst" in chosen.notes[0]
    both = scan.file([0, 1])
    assert both.faces_used == 2 and "face 1, 2 chosen" in both.notes[0]
    none = scan.file([])
    assert none.faces_used == 0 and "no face chosen by the analyst; not used" in none.notes
    with pytest.raises(ValueError, match="two.png"):
        scan.file([2])
    assert path.read_bytes() == before and chosen.sha256 == default.sha256 and len(chosen.sha256) == 64


def test_scan_groups_a_video_into_people(tmp_path, face_clip):
    scan = scan_reference(face_clip, frames=5, thumb_side=48)
    assert scan.kind == "video" and scan.frames_read == 5 and len(scan.faces) == 1  # one person in every frame
    person = scan.faces[0]
    assert len(person.descriptors) == 5 and person.largest == 5 and person.thumbnail is not None
    assert scan.file().faces_used == 5 and scan.file().notes == []
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    nothing = scan_reference(blank)
    assert nothing.faces == [] and nothing.default == [] and nothing.notes == ["no face found; not used"]
    assert nothing.file().faces_used == 0


def test_real_photos_cluster_by_person(shared_data):
    faces = need(shared_data / "faces")
    names = ["obama.jpg", "biden.jpg", "obama_small.jpg", "astronaut.png"]
    scans = [scan_reference(faces / n) for n in names]
    groups, link = cluster(np.concatenate([s.file().descriptors for s in scans]))
    assert groups == [[0, 2], [1], [3]]
    assert (link[~np.eye(3, dtype=bool)] > DIFFERENT_MIN).all()
    group = scan_reference(faces / "two_people.jpg", thumb_side=64)
    assert len(group.faces) == 2 and "2 faces found; the largest was used" in group.file().notes


@pytest.fixture
def report_parts():
    from report_fixtures import make_result

    r = make_result()
    return r.video, r.model, r.settings


def test_old_report_without_identities_reads(tmp_path, report_parts):
    rng = np.random.default_rng(6)
    result = AnalysisResult.build(*report_parts, _frames(rng, {0: _person(rng)}))
    path = tmp_path / "report.json"
    result.save_json(path)
    d = json.loads(path.read_text())
    del d["identities"]
    path.write_text(json.dumps(d))
    assert load_json(path).identities == result.identities
