"""The hard-media corpus (tests/media_corpus.py) through probe_video, VideoReader, keyframe_index and a short
analysis: orientation, true timestamps, frame counts, size changes, truncation, clear refusals."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from core.common.errors import VideoError
from core.media.container import keyframe_index
from core.media.video import VideoReader, probe_video
from tests import media_corpus as mc

pytest.importorskip("av")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    built: dict[str, mc.Case] = {}

    def get(name: str) -> mc.Case:
        if name not in built:
            built[name] = mc.build(name, folder)
        return built[name]

    return get


def _gray(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64).mean(axis=2)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = _gray(a).ravel(), _gray(b).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def _read_all(path) -> list:
    with VideoReader(path) as r:
        return list(r.frames())


@pytest.mark.parametrize("name", ["rotate90", "rotate180", "rotate270", "rotate90_tkhd"])
def test_rotation_metadata_is_applied(corpus, name):
    case = corpus(name)
    info = probe_video(case.path)
    assert (info.width, info.height) == case.size and info.rotation == case.rotation
    assert info.extra["rotation_applied"] == case.rotation
    frames = _read_all(case.path)
    assert len(frames) == case.frames == info.frame_count
    img = frames[0].image
    assert img.shape[:2] == (case.size[1], case.size[0])
    # the displayed picture is the source turned clockwise by `rotation`; the other turns fit worse
    scores = {k: _corr(img, np.rot90(case.source[0], -k // 90))
              for k in (0, 90, 180, 270) if np.rot90(case.source[0], -k // 90).shape == img.shape}
    assert max(scores, key=scores.get) == case.rotation and scores[case.rotation] > 0.9, scores


def test_tkhd_patch_writes_the_matrix_players_read(tmp_path):
    path = tmp_path / "p.mp4"
    mc.encode(path, mc.source_frames(3))
    for degrees in (90, 180, 270, 0):
        mc.set_mp4_rotation(path, degrees)
        assert probe_video(path).rotation == degrees


def test_variable_frame_rate_keeps_the_container_times(corpus):
    case = corpus("vfr")
    info = probe_video(case.path)
    assert info.frame_count == case.frames
    frames = _read_all(case.path)
    np.testing.assert_allclose([f.time_s for f in frames], case.pts_s, atol=0.001)
    assert info.extra["variable_frame_rate"] is True
    assert info.extra["frame_interval_ms"]["min"] == pytest.approx(17, abs=1)
    assert info.extra["frame_interval_ms"]["max"] == pytest.approx(250, abs=1)
    assert info.duration_s == pytest.approx(case.pts_s[-1] + 0.033, abs=0.002)
    # a selection reads the same times
    with VideoReader(case.path) as r:
        picked = list(r.frames([3, 6, 20]))
    np.testing.assert_allclose([f.time_s for f in picked], [case.pts_s[i] for i in (3, 6, 20)], atol=0.001)


def test_long_idle_gap_is_not_replaced_by_the_nominal_timeline(tmp_path):
    # a screen recording idle for half a minute: the average rate says frame 4 is at 12 s, it is at 30.1 s
    path = tmp_path / "idle.mp4"
    pts = [0, 33, 66, 100, 30100, 30133, 30166, 30200, 30233, 30266]
    written = mc.encode(path, mc.source_frames(10), rate=30, pts=pts, time_base=Fraction(1, 1000))
    probe_video(path)
    np.testing.assert_allclose([f.time_s for f in _read_all(path)], written, atol=0.001)


CONSTANT = {  # case -> (pixel format, bit depth)
    "interlaced": ("yuv420p", 8), "h264_10bit": ("yuv420p10le", 10), "hevc": ("yuv420p", 8),
    "vp9_webm": ("yuv420p", 8), "mjpeg_avi": ("yuvj420p", 8), "prores_mov": ("yuv422p10le", 10),
    "odd_721x403": ("yuv444p", 8), "4k": ("yuv420p", 8)}


@pytest.mark.parametrize("name", sorted(CONSTANT))
def test_codecs_containers_and_sizes(corpus, name):
    case = corpus(name)
    info = probe_video(case.path)
    assert (info.width, info.height) == case.size and info.frame_count == case.frames
    assert (info.extra["pixel_format"], info.extra["bit_depth"]) == CONSTANT[name]
    assert info.extra["variable_frame_rate"] is False and info.rotation == 0
    assert info.extra["interlaced"] is (name == "interlaced")
    frames = _read_all(case.path)
    assert len(frames) == case.frames
    assert all(f.image.shape == (case.size[1], case.size[0], 3) and f.image.dtype == np.uint8 for f in frames)
    np.testing.assert_allclose([f.time_s for f in frames], np.arange(case.frames) / 25, atol=0.001)
    assert _corr(frames[0].image, case.source[0]) > 0.95
    expected_container = {"interlaced": "mpegts", "vp9_webm": "webm", "mjpeg_avi": "avi", "prores_mov": "mov"}
    assert info.container == expected_container.get(name, "mp4")


def test_audio_only_is_refused_by_name(corpus):
    case = corpus("audio_only")
    for call in (probe_video, VideoReader, keyframe_index):
        with pytest.raises(VideoError) as err:
            call(case.path)
        msg = str(err.value)
        assert str(case.path) in msg and "has no video stream" in msg and "aac" in msg, msg


def test_resolution_change_gives_each_frame_its_own_size(corpus):
    case = corpus("size_change")
    info = probe_video(case.path)
    assert info.frame_count == 20 and (info.width, info.height) == (320, 240)  # the first frame's size
    assert info.extra["resolution_changes"] == [{"frame": 0, "width": 320, "height": 240},
                                                {"frame": 10, "width": 480, "height": 360}]
    with VideoReader(case.path) as r:
        assert r.backend == "pyav"
        frames = list(r.frames())
        again = r.read_frame(12)
        earlier = r.read_frame(3)
    assert [f.image.shape[:2][::-1] for f in frames] == case.notes["sizes"]
    assert all(_corr(f.image, src) > 0.95 for f, src in zip(frames, case.source))
    np.testing.assert_allclose([f.time_s for f in frames], case.pts_s, atol=0.001)
    assert again.shape == (360, 480, 3) and earlier.shape == (240, 320, 3)
    with VideoReader(case.path) as r:
        assert [f.index for f in r.frames([2, 11, 19])] == [2, 11, 19]
        with pytest.raises(VideoError, match="frame 25"):
            list(r.frames([25]))


def test_a_reader_opened_before_the_probe_switches_once_the_probe_ran(corpus, monkeypatch):
    """The app opens its frame reader while it probes: frames read after the probe are at their own size."""
    from core.media import container as media
    case = corpus("size_change")
    monkeypatch.setattr(media, "_CACHE", type(media._CACHE)())            # nothing probed in this process yet
    with VideoReader(case.path) as r:
        assert r.backend == "opencv"
        assert r.read_frame(1).shape == (240, 320, 3)
        probe_video(case.path)
        assert r.read_frame(12).shape == (360, 480, 3) and r.backend == "pyav"
        assert [f.image.shape[:2][::-1] for f in r.frames([3, 15])] == [(320, 240), (480, 360)]


@pytest.mark.parametrize("container", ["mp4", "mkv", "ts"])
def test_truncated_mid_gop_reads_what_decodes_and_says_truncated(corpus, container):
    case = corpus(f"truncated_{container}")
    info = probe_video(case.path)
    assert "truncated" in info.extra["truncated"]
    # the frames wholly before the cut; a TS may also hand over the cut frame itself, damaged
    assert case.frames <= info.frame_count <= case.frames + (1 if container == "ts" else 0)
    frames = _read_all(case.path)
    assert len(frames) == info.frame_count
    np.testing.assert_allclose([f.time_s for f in frames[:case.frames]], case.pts_s, atol=0.001)
    with VideoReader(case.path) as r, pytest.raises(VideoError, match="truncated or damaged"):
        list(r.frames([40]))
    assert keyframe_index(case.path) == [0, 12, 24]


def test_keyframe_index_counts_frames_in_display_order(corpus):
    assert keyframe_index(corpus("mjpeg_avi").path) == list(range(12))  # intra-only
    assert keyframe_index(corpus("size_change").path) == [0, 10]
    assert keyframe_index(corpus("vfr").path) == [0]


@pytest.fixture(scope="module")
def predictor(tiny_model_path):
    from core.model.checkpoints import load_model
    from core.model.inference import Predictor

    return Predictor(load_model(tiny_model_path), device="cpu", batch_size=4)


@pytest.mark.parametrize("name", ["rotate90", "vfr", "size_change", "truncated_mkv"])
def test_short_analysis(corpus, predictor, name):
    from core.analysis.engine import AnalysisOptions, analyze_video
    from core.media.frames import FrameSelection

    case = corpus(name)
    result = analyze_video(case.path, predictor, AnalysisOptions(frames=FrameSelection("count", 3)))
    assert result.complete and len(result.frames) == 3
    # upright faces are found (a sideways face would not be: the rotation was applied before detection)
    assert sum(1 for f in result.frames if f.faces) >= 2
    if case.pts_s:
        for f in result.frames:
            assert f.time_s == pytest.approx(case.pts_s[f.index], abs=0.001)
    extra = result.video.extra
    assert {"rotation_applied", "variable_frame_rate", "pixel_format"} <= set(extra)
    if name == "size_change":
        last = max(result.frames, key=lambda f: f.index)
        x0, y0, x1, y1 = last.faces[0].box
        assert x1 > 320 or y1 > 240 or x0 > 100  # boxes in the 480x360 frame's own pixels
    if name == "truncated_mkv":
        assert "truncated" in extra
    # the report's evidence section states it in one line
    from core.reports.content import build_content

    media = dict(build_content(result).evidence_rows)["Media"]
    assert media.startswith(f"Container: {result.video.container}, codec: h264, rotation applied: ")
    expected = {"rotate90": "rotation applied: 90\u00b0", "vfr": "frame rate: variable (17..250 ms between frames)",
                "size_change": "resolution changes: 320\u00d7240 from frame 0, 480\u00d7360 from frame 10",
                "truncated_mkv": "TRUNCATED (the Matroska segment needs"}[name]
    assert expected in media, media


def test_media_summary_of_an_older_record():
    from core.media.evidence import VideoInfo, media_summary

    info = VideoInfo(path="/x.mp4", sha256="0", size_bytes=1, container="mp4", codec="avc1", width=2, height=2,
                     fps=25.0, frame_count=1, duration_s=0.04, rotation=90)
    assert media_summary(info) == "Container: mp4, codec: avc1, rotation applied: 90\u00b0"


def test_intra_only_streams_are_sampled_for_size_changes(corpus, monkeypatch):
    import core.media.container as media

    case = corpus("mjpeg_avi")  # 12 keyframes over 0.48 s
    monkeypatch.setattr(media, "MAX_DECODED_KEYFRAMES", 4)
    scan = media.scan_media(case.path)
    assert scan.keyframes_decoded == 2  # the first and the last: less than a second apart
    assert scan.record()["size_check"] == "2 of 12 keyframes decoded (one a second)"
    assert scan.size_changes == [(0, 320, 240)] and scan.interlaced is False
