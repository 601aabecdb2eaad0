import hashlib
import os
import struct

import cv2
import numpy as np
import pytest

from conftest import SHARED_DATA, need
from core.common.errors import VideoError
from core.media.evidence import VideoInfo
from core.common.hashing import sha256_file
from core.media.video import Frame, VideoReader, probe_video

W, H, FPS, N = 96, 64, 10.0, 20


def _pattern(i: int) -> np.ndarray:
    """A frame whose index is written as 8 black/white 12x12 blocks (survives mp4v compression)."""
    img = np.full((H, W, 3), 60, np.uint8)
    for bit in range(8):
        if (i >> bit) & 1:
            img[4:16, bit * 12:(bit + 1) * 12] = 255
        else:
            img[4:16, bit * 12:(bit + 1) * 12] = 0
    cv2.circle(img, (20 + 3 * i, 40), 8, (0, 0, 255), -1)
    return img


def _index_of(img: np.ndarray) -> int:
    return sum(1 << b for b in range(8) if img[7:13, b * 12 + 3:b * 12 + 9].mean() > 127)


def _write(path, n=N, fps=FPS):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    assert w.isOpened()
    for i in range(n):
        w.write(_pattern(i))
    w.release()
    return path


def _faststart(src, dst):
    """Rewrite an mp4 with its 'moov' index before 'mdat' (patching chunk offsets), as streaming files are."""
    data = open(src, "rb").read()
    boxes, pos = {}, 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        boxes[kind] = data[pos:pos + size]
        pos += size
    moov = bytearray(boxes[b"moov"])
    at = moov.find(b"stco")
    (count,) = struct.unpack(">I", moov[at + 8:at + 12])
    for k in range(count):
        o = at + 12 + 4 * k
        (v,) = struct.unpack(">I", moov[o:o + 4])
        moov[o:o + 4] = struct.pack(">I", v + len(moov))
    out = boxes[b"ftyp"] + boxes.get(b"free", b"") + bytes(moov) + boxes[b"mdat"]
    open(dst, "wb").write(out)
    return dst


@pytest.fixture
def video(tmp_path):
    return _write(tmp_path / "clip.mp4")


def test_sha256_streamed(tmp_path):
    p = tmp_path / "blob.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()
    assert sha256_file(p, chunk_size=4096) == hashlib.sha256(data).hexdigest()


def test_probe(video):
    before = (video.read_bytes(), os.stat(video).st_mtime_ns)
    info = probe_video(video)
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height, info.frame_count) == (W, H, N)
    assert info.fps == pytest.approx(FPS)
    assert info.duration_s == pytest.approx(N / FPS)
    assert info.container == "mp4" and info.codec.lower() in ("fmp4", "mp4v")
    assert info.rotation == 0
    assert info.sha256 == hashlib.sha256(before[0]).hexdigest()
    assert info.size_bytes == len(before[0])
    assert info.extra["frame_count_source"] == "container (verified)"
    assert VideoInfo.from_dict(info.to_dict()) == info
    with VideoReader(video) as r:
        list(r.frames())
        r.read_frame(3)
    assert (video.read_bytes(), os.stat(video).st_mtime_ns) == before  # evidence untouched


def test_frames_all_and_selected(video):
    with VideoReader(video) as r:
        frames = list(r.frames())
        assert [f.index for f in frames] == list(range(N))
        assert all(isinstance(f, Frame) and f.image.shape == (H, W, 3) and f.image.dtype == np.uint8
                   for f in frames)
        assert [_index_of(f.image) for f in frames] == list(range(N))
        np.testing.assert_allclose([f.time_s for f in frames], np.arange(N) / FPS, atol=1e-6)
        sel = list(r.frames([15, 2, 3, 3, 9]))  # sorted, de-duplicated
        assert [f.index for f in sel] == [2, 3, 9, 15]
        assert [_index_of(f.image) for f in sel] == [2, 3, 9, 15]
        np.testing.assert_allclose([f.time_s for f in sel], [0.2, 0.3, 0.9, 1.5], atol=1e-6)
    # Seeking over large gaps gives the same frames as decoding through them.
    with VideoReader(video, seek_gap=1) as r:
        sel = list(r.frames([0, 1, 7, 19]))
        assert [_index_of(f.image) for f in sel] == [0, 1, 7, 19]
        np.testing.assert_allclose([f.time_s for f in sel], [0.0, 0.1, 0.7, 1.9], atol=1e-6)
    with VideoReader(video) as r:
        with pytest.raises(VideoError, match="frame 25"):
            list(r.frames([1, 25]))


def test_read_frame_random_access(video):
    with VideoReader(video) as r:
        for i in (5, 2, 19, 0, 6, 7, 13):
            assert _index_of(r.read_frame(i)) == i
        with pytest.raises(ValueError):
            r.read_frame(-1)
    with pytest.raises(VideoError, match="closed"):
        r.read_frame(0)


def test_errors_name_the_file(tmp_path, video):
    cases = {}
    cases["missing"] = (tmp_path / "nope.mp4", "not found")
    cases["dir"] = (tmp_path, "directory")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    cases["text"] = (text, "not a readable video")
    trunc = tmp_path / "trunc.mp4"
    data = video.read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    cases["truncated"] = (trunc, "truncated")
    empty_writer = cv2.VideoWriter(str(tmp_path / "zero.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    empty_writer.release()
    cases["zero"] = (tmp_path / "zero.mp4", "no video frames")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    cases["empty"] = (empty, "empty")
    for name, (path, words) in cases.items():
        for call in (probe_video, VideoReader):
            with pytest.raises(VideoError) as err:
                call(path)
            msg = str(err.value)
            assert str(path) in msg and words in msg and "\n" not in msg, (name, msg)


def test_frame_count_that_lies_is_counted(tmp_path, video):
    fs = _faststart(video, tmp_path / "faststart.mp4")
    info = probe_video(fs)  # the index comes first: OpenCV can open a truncated copy of this one
    assert info.frame_count == N and info.extra["frame_count_source"] == "container (verified)"
    with VideoReader(fs) as r:
        assert [_index_of(f.image) for f in r.frames()] == list(range(N))
    cut = tmp_path / "faststart_cut.mp4"
    data = fs.read_bytes()
    cut.write_bytes(data[: len(data) - 400])
    info = probe_video(cut)
    assert info.extra["reported_frame_count"] == N
    assert 0 < info.frame_count < N and info.extra["frame_count_source"] == "counted"
    assert "truncated" in info.extra["container_problem"]
    with VideoReader(cut) as r:
        assert len(list(r.frames())) == info.frame_count
        with pytest.raises(VideoError, match="truncated"):
            list(r.frames([N - 1]))


@pytest.mark.shared
def test_real_h264_clip():
    path = need(SHARED_DATA / "videos" / "ffpp" / "519.mp4")
    info = probe_video(path)
    assert info.codec == "h264" and info.frame_count > 100 and (info.width, info.height) == (640, 480)
    with VideoReader(path) as r:
        idx = [0, 1, 50, 300, info.frame_count - 1]
        got = {f.index: f.image for f in r.frames(idx)}
        assert sorted(got) == idx
        for i in (300, 1, info.frame_count - 1):
            assert np.array_equal(r.read_frame(i), got[i])
