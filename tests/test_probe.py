"""The identity-leakage probe (`core.train.probe`, `caddm-train probe-identity`)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import core.cli.train
from core.train.dataset import DatasetError, FrameRecord, Index, load_index
from core.train.probe import fit_linear_probe, identity_of, probe_split
from tests.test_training import _frames, _write_video


def _rec(video: str, frame: int, dataset: str = "real", label: int = 0) -> FrameRecord:
    return FrameRecord(id=f"{video}/{frame:05d}", path="x.png", label=label, dataset=dataset, method="original",
                       video=video, frame=frame, split="train", landmarks=[[0, 0]] * 68, box=[0, 0, 1, 1])


def test_identity_of_merges_one_person_across_compressions_and_clips():
    assert identity_of(_rec("ffpp_c40/original/519", 0, "ffpp_c40")) == "ffpp/519"
    assert identity_of(_rec("ffpp_c23/original/519", 0, "ffpp_c23")) == "ffpp/519"
    assert identity_of(_rec("dfd/actors/07__talking_angry_couch", 0, "dfd")) == "dfd/07"
    assert identity_of(_rec("celebdf/real/id3_0004", 0, "celebdf")) == "celebdf/id3"
    assert identity_of(_rec("real/clips/d3", 0)) == "real/clips/d3"


def test_probe_split_is_by_time_within_each_identity():
    recs = [_rec("real/a", i) for i in range(10)] + [_rec("real/b", i) for i in range(20)]
    recs += [_rec("real/c", i) for i in range(3)]           # too few frames: left out
    recs += [_rec("fake/a", i, label=1) for i in range(10)]  # fakes are never probed
    s = probe_split(Index(None, recs), min_frames=8, test_share=0.3)
    assert s.names == ["real/a", "real/b"]
    for label, name in enumerate(s.names):
        tr = [r.frame for r, y in zip(s.train, s.train_y) if y == label]
        te = [r.frame for r, y in zip(s.test, s.test_y) if y == label]
        assert max(tr) < min(te)                             # test frames come after every training frame
        assert all(r.video == name for r, y in zip(s.test, s.test_y) if y == label)
    assert len(s.test) == 3 + 6 and len(s.train) == 7 + 14
    capped = probe_split(Index(None, recs), min_frames=8, max_frames=10)
    assert len(capped.train) + len(capped.test) == 20


def test_probe_split_needs_two_identities(tmp_path):
    with pytest.raises(DatasetError, match="at least 2"):
        probe_split(Index(tmp_path, [_rec("real/a", i) for i in range(10)]))


def test_linear_probe_learns_separable_identities_and_not_noise():
    g = np.random.default_rng(0)
    centres = g.normal(0, 1, (5, 64))
    y = np.repeat(np.arange(5), 40)
    x = centres[y] + g.normal(0, 0.3, (len(y), 64))
    predict = fit_linear_probe(x[::2], y[::2], 5)
    assert (predict(x[1::2]) == y[1::2]).mean() > 0.95
    noise = g.normal(0, 1, (200, 64))                        # no identity in the features: about chance
    predict = fit_linear_probe(noise[::2], y[::2], 5)
    assert (predict(noise[1::2]) == y[1::2]).mean() < 0.45


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """Three 'identities' (clips of 10 frames that differ in lighting) prepared into an index."""
    base = tmp_path_factory.mktemp("people")
    for k in range(3):
        _write_video(base / f"p{k}.mp4", _frames(3 * k, False, n=10))
    out = tmp_path_factory.mktemp("idx")
    assert core.cli.train.main(["prepare", "folder", str(base), "--label", "real", "--split", "train", "--out",
                                str(out), "--frames", "10", "--quiet"]) == 0
    return out


def test_probe_identity_command(people, tmp_path, capsys):
    out = tmp_path / "probe.json"
    rc = core.cli.train.main(["probe-identity", "--model", "imagenet:efficientnet-lite0", "--index", str(people),
                              "--out", str(out), "--device", "cpu", "--min-frames", "8"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "3 identities" in text and "chance 0.333" in text
    table = json.loads(out.read_text())
    (row,) = table["rows"]
    assert row["identities"] == 3 and row["test_frames"] + row["train_frames"] == len(load_index(people).records)
    assert row["features"] == 1280 and row["top1"] > row["chance"]  # lighting is an easy identity to read
    assert set(row["top1_shots"]) == {"1", "4"} and all(0 <= v <= 1 for v in row["top1_shots"].values())


def test_shot_rows_pick_k_frames_of_each_identity():
    from core.train.probe import _shot_rows

    y = np.array([0] * 10 + [1] * 3)
    rows = _shot_rows(y, 4)
    assert list(rows) == [0, 3, 6, 9, 10, 11, 12]
    assert list(_shot_rows(y, 1)) == [0, 10]


def test_probe_identity_refuses_unknown_backbone_and_missing_index(people, tmp_path, capsys):
    assert core.cli.train.main(["probe-identity", "--model", "imagenet:nosuchnet", "--index", str(people)]) == 1
    assert "nosuchnet" in capsys.readouterr().err
    assert core.cli.train.main(["probe-identity", "--model", "imagenet:efficientnet-lite0", "--index",
                                str(tmp_path / "none")]) == 1
    assert "index not found" in capsys.readouterr().err
