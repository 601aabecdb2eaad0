"""Seek previews (core.media.proxy): a long-GOP clip made here with PyAV, its proxy built, read back and compared with
the exact frames; cancelling; when a proxy is worth building; the frame loader's previews."""
from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("av")

from core.media import proxy  # noqa: E402
from core.media.video import VideoReader  # noqa: E402
from media_corpus import long_gop_clip  # noqa: E402


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory):
    """650 frames (two proxy chunks), a keyframe every 300."""
    return long_gop_clip(tmp_path_factory.mktemp("proxy") / "long_gop.mp4", 650, 300)


def test_keyframe_gaps_and_worth_building(long_gop, tmp_path):
    assert proxy.keyframe_gaps(long_gop) == (650, 300)
    assert proxy.worth_building(long_gop, min_gop=60, min_frames=600)
    assert not proxy.worth_building(long_gop, min_gop=301, min_frames=600)
    assert not proxy.worth_building(long_gop, min_gop=60, min_frames=651)
    short = long_gop_clip(tmp_path / "short_gop.mp4", 700, 12)
    assert proxy.keyframe_gaps(short) == (700, 12)
    assert not proxy.worth_building(short)
    not_video = tmp_path / "x.mp4"
    not_video.write_bytes(b"not a video")
    assert not proxy.worth_building(not_video)


def test_proxy_size():
    assert proxy.proxy_size(1920, 1080) == (640, 360)
    assert proxy.proxy_size(1080, 1920) == (360, 640)
    assert proxy.proxy_size(320, 180) == (320, 180)      # never upscaled
    assert proxy.proxy_size(721, 403, side=300) == (300, 168)


def test_proxy_frames_are_the_exact_frames_smaller(long_gop, tmp_path):
    folder = proxy.proxy_dir(long_gop, tmp_path)
    seen = []
    st = proxy.build(long_gop, folder, progress=seen.append)
    assert (st.frames, st.total, st.complete) == (650, 650, True)
    assert seen[0] == proxy.CHUNK and seen[-1] == 650
    assert sorted(p.name for p in folder.iterdir()) == ["chunk_00000.mp4", "chunk_00001.mp4", "done.json"]
    assert proxy.status(folder).complete
    r = proxy.ProxyReader(folder, video_path=long_gop)
    with VideoReader(long_gop) as exact:
        for i in [0, 1, 299, 300, 301, 599, 600, 649, 13, 12, 500, 2]:     # forward, back, across chunks
            prev = r.frame(i)
            assert prev is not None and prev.shape == (180, 320, 3)
            errors = {j: float(np.abs(exact.read_frame(j).astype(int) - prev.astype(int)).mean())
                      for j in (i - 1, i, i + 1) if 0 <= j < 650}
            assert min(errors, key=errors.get) == i, (i, errors)
            assert errors[i] < 6.0
    assert r.frame(650) is None          # past the end
    r.close()


def test_preview_is_read_in_milliseconds(long_gop, tmp_path):
    folder = proxy.proxy_dir(long_gop, tmp_path)
    proxy.build(long_gop, folder)
    r = proxy.ProxyReader(folder, rotation=0)
    r.frame(0)
    t = time.perf_counter()
    for i in (310, 170, 640, 5):
        assert r.frame(i) is not None
    assert (time.perf_counter() - t) / 4 < 0.1       # at most PROXY_GOP small frames each


def test_rotation_is_applied_to_previews(long_gop, tmp_path):
    folder = proxy.proxy_dir(long_gop, tmp_path)
    proxy.build(long_gop, folder)
    plain = proxy.ProxyReader(folder, rotation=0).frame(40)
    turned = proxy.ProxyReader(folder, rotation=90).frame(40)
    assert turned.shape == (320, 180, 3)
    assert np.array_equal(turned, cv2.rotate(plain, cv2.ROTATE_90_CLOCKWISE))


def test_cancelled_build_keeps_whole_chunks_and_resumes(long_gop, tmp_path):
    folder = proxy.proxy_dir(long_gop, tmp_path)
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > proxy.CHUNK + 20

    st = proxy.build(long_gop, folder, cancel=cancel)
    assert (st.frames, st.complete) == (proxy.CHUNK, False)
    assert sorted(p.name for p in folder.iterdir()) == ["chunk_00000.mp4"]      # no temporary file left
    assert proxy.ProxyReader(folder, rotation=0).frame(proxy.CHUNK + 5) is None
    first = (folder / "chunk_00000.mp4").stat().st_mtime_ns
    st = proxy.build(long_gop, folder)
    assert st.complete and (folder / "chunk_00000.mp4").stat().st_mtime_ns == first   # kept, not re-encoded
    assert proxy.ProxyReader(folder, rotation=0).frame(proxy.CHUNK + 5) is not None


def test_proxy_dir_follows_the_file(long_gop, tmp_path):
    a = proxy.proxy_dir(long_gop, tmp_path)
    assert a.parent == tmp_path / "proxies" and a == proxy.proxy_dir(long_gop, tmp_path)
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(open(long_gop, "rb").read())
    b = proxy.proxy_dir(copy, tmp_path)
    assert b != a
    os.utime(copy, ns=(1, 1))
    assert proxy.proxy_dir(copy, tmp_path) != b          # a modified file gets a new proxy


def test_prune_removes_the_least_recently_used_but_never_the_one_in_use(tmp_path):
    base = tmp_path / "proxies"
    folders = []
    for k in range(4):
        f = base / f"p{k}"
        f.mkdir(parents=True)
        (f / "chunk_00000.mp4").write_bytes(b"x" * 1000)
        os.utime(f / "chunk_00000.mp4", (1000 + k, 1000 + k))     # p0 oldest
        folders.append(f)
    assert proxy.prune(tmp_path, keep_bytes=10_000) == []
    removed = proxy.prune(tmp_path, keep_bytes=2_500, spare=folders[0])
    assert removed == [folders[1], folders[2]]
    assert sorted(p.name for p in base.iterdir()) == ["p0", "p3"]
    assert proxy.prune(tmp_path / "nothing-here", keep_bytes=0) == []


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_previews_of_a_phone_clip_have_the_displayed_orientation(tmp_path, degrees):
    import media_corpus

    case = media_corpus.rotation(tmp_path, degrees)           # coded sideways, a display matrix turns it upright
    folder = tmp_path / "proxy"
    proxy.build(case.path, folder)
    preview = proxy.ProxyReader(folder, video_path=str(case.path)).frame(3)
    with VideoReader(case.path) as r:
        exact = r.read_frame(3)
    assert preview.shape == exact.shape
    err = np.abs(preview.astype(int) - exact.astype(int)).mean()
    upside_down = np.abs(cv2.rotate(preview, cv2.ROTATE_180).astype(int) - exact.astype(int)).mean()
    assert err < 6.0 and upside_down > 3 * err
