import pytest

from core.media.frames import FrameSelection


def test_all_stride_count():
    assert FrameSelection("all").indices(5) == [0, 1, 2, 3, 4]
    assert FrameSelection("stride", 2).indices(5) == [0, 2, 4]
    assert FrameSelection("count", 3).indices(5) == [0, 2, 4]
    assert FrameSelection("count", 32).indices(300)[:2] == [0, 10]
    assert len(FrameSelection("count", 32).indices(300)) == 32
    assert FrameSelection("count", 10).indices(4) == [0, 1, 2, 3]
    assert FrameSelection("count", 1).indices(9) == [0]
    assert FrameSelection("all").indices(0) == []


def test_round_trip_and_validation():
    s = FrameSelection("stride", 4)
    assert FrameSelection.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError):
        FrameSelection("bogus", 1)
    with pytest.raises(ValueError):
        FrameSelection("stride", 0)
