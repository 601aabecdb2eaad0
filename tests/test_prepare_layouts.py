"""Dataset layouts -> preparation tasks (no video decoding): FF++ with and without official splits, Celeb-DF, DFDC."""
from __future__ import annotations

import json

import pytest

from core.train.dataset import DatasetError
from core.train.prepare import celebdf_tasks, dfdc_tasks, ffpp_tasks, seeded_split


def _touch(p):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")


def _ffpp(root):
    for vid in ("000", "003", "519", "515"):
        _touch(root / "original_sequences/youtube/c23/videos" / f"{vid}.mp4")
    for m, vid in (("Deepfakes", "000_003"), ("Deepfakes", "003_000"), ("Face2Face", "519_515"),
                   ("Deepfakes", "519_515")):
        _touch(root / "manipulated_sequences" / m / "c23/videos" / f"{vid}.mp4")
    return root


def test_ffpp_official_splits(tmp_path):
    root = _ffpp(tmp_path / "ff")
    sp = tmp_path / "splits"
    sp.mkdir()
    (sp / "train.json").write_text(json.dumps([["000", "003"]]))
    (sp / "val.json").write_text(json.dumps([["519", "515"]]))
    (sp / "test.json").write_text(json.dumps([]))
    tr = ffpp_tasks(root, 8, "train", sp)
    assert sorted(t.key for t in tr) == ["ffpp/Deepfakes/000_003", "ffpp/Deepfakes/003_000",
                                         "ffpp/original/000", "ffpp/original/003"]
    fake = next(t for t in tr if t.key == "ffpp/Deepfakes/003_000")
    assert fake.label == 1 and fake.source_key == "ffpp/original/003" and fake.frames == 8
    al = ffpp_tasks(root, 8, "all", sp, methods=("Face2Face",))
    assert {t.split for t in al} == {"train", "val"} and not any(t.method == "Deepfakes" for t in al)
    (sp / "test.json").write_text("{broken")
    with pytest.raises(DatasetError, match="test.json"):
        ffpp_tasks(root, 8, "train", sp)


def test_ffpp_seeded_split_keeps_fakes_with_their_target(tmp_path):
    root = _ffpp(tmp_path / "ff")
    al = ffpp_tasks(root, 4, "all", seed=5)
    for t in al:
        target = t.key.split("/")[-1].split("_")[0]
        assert t.split == seeded_split(target, 5)
    with pytest.raises(DatasetError, match="originals folder not found"):
        ffpp_tasks(tmp_path / "nothing")


def test_celebdf_and_dfdc(tmp_path):
    c = tmp_path / "celeb"
    c.mkdir()
    (c / "List_of_testing_videos.txt").write_text("1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id1_id0_0007.mp4\n")
    ts = celebdf_tasks(c, 32)
    assert [(t.label, t.method, t.split) for t in ts] == [(0, "YouTube-real", "test"), (1, "Celeb-synthesis", "test")]
    d = tmp_path / "dfdc"
    d.mkdir()
    (d / "metadata.json").write_text(json.dumps({"a.mp4": {"label": "FAKE", "original": "b.mp4"},
                                                 "b.mp4": {"label": "REAL"}, "c.mp4": {"is_fake": 1}}))
    ts = dfdc_tasks(d)
    assert [(t.key, t.label) for t in ts] == [("dfdc/fake/a", 1), ("dfdc/real/b", 0), ("dfdc/fake/c", 1)]
    with pytest.raises(DatasetError, match="metadata.json not found"):
        dfdc_tasks(tmp_path)


def test_paired_fakes_and_sources_share_frame_indices():
    """FF++ fakes and their target originals differ in length: every fake frame must have its source frame."""
    from core.media.frames import FrameSelection
    from core.train.prepare import VideoTask, pair_frame_indices

    lengths = {"src.mp4": 390, "long.mp4": 501, "short.mp4": 300, "alone.mp4": 100}
    tasks = [VideoTask("src.mp4", "o/real/183", "o", "real", 0, "train", 32),
             VideoTask("long.mp4", "f/Face2Face/183_253", "f", "Face2Face", 1, "train", 32, source_key="o/real/183"),
             VideoTask("short.mp4", "f/Deepfakes/183_253", "f", "Deepfakes", 1, "train", 32, source_key="o/real/183"),
             VideoTask("alone.mp4", "x/real/a", "x", "real", 0, "train", 32)]
    out = {t.key: t for t in pair_frame_indices(tasks, frame_count=lambda p: lengths[p])}
    src = set(out["o/real/183"].indices)
    for key, n in (("f/Face2Face/183_253", 390), ("f/Deepfakes/183_253", 300)):
        idx = out[key].indices
        assert len(idx) == 32 and max(idx) <= n - 1  # spread over the shorter of the two clips
        assert set(idx) <= src  # each fake frame has its source frame
    assert set(FrameSelection("count", 32).indices(390)) <= src  # the source keeps its own frames
    assert out["x/real/a"].indices is None  # unpaired tasks are unchanged
    # without the fix, the 501-frame fake's evenly spaced frames would mostly miss the source's
    naive = set(FrameSelection("count", 32).indices(501))
    assert len(naive - set(FrameSelection("count", 32).indices(390))) > 20
