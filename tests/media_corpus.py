"""The hard-media corpus: small videos of the kinds analysts receive, built with PyAV at test time (nothing is
committed). An importable helper, not a test module: `tests/test_media_corpus.py` asserts on each case and
`bench/media_corpus.py` prints one line per case (with the 1-hour stream, which CI never builds).

Frames come from a real shared clip (`videos/real/dflive_Obama_speaking.mp4`, one face) when ../shared is there,
else from the public-domain astronaut face of tests/data drifting across a grey frame, so every check that does
not need a real face still runs. Each builder writes one file into the folder it is given and returns a `Case`
that says what was written: the frame count, the displayed size, the rotation (clockwise degrees, the sense of
the "rotate" tag that phones write), the presentation times, and the source frames for pixel comparison.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCE_CLIP = "videos/real/dflive_Obama_speaking.mp4"
#: The working size of most cases (4:3, not square, so a 90-degree rotation swaps width and height).
SIZE = (320, 240)


@dataclass
class Case:
    """One corpus file and what was written into it. `frames`: frames written (for truncated files: the frames
    wholly before the cut, None when unknown); `size`: (width, height) as displayed; `rotation`: clockwise
    degrees the player must turn the coded picture; `pts_s`: the presentation times written, in seconds;
    `source`: the frames written (BGR, coded orientation; for size changes, each at its own size);
    `refuse`: the start of the reason a reader must give instead of frames."""

    name: str
    path: Path
    frames: int | None = None
    size: tuple[int, int] | None = None
    rotation: int = 0
    pts_s: list[float] | None = None
    source: list[np.ndarray] = field(default_factory=list, repr=False)
    has_face: bool = True
    refuse: str | None = None
    notes: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- source frames
def _shared_data() -> Path | None:
    if os.environ.get("CADDM_SHARED"):
        p = Path(os.environ["CADDM_SHARED"]) / "data"
        return p if p.exists() else None
    for parent in ROOT.parents:
        if (parent / "shared" / "DESIGN.md").exists():
            return parent / "shared" / "data"
    p = ROOT.parent / "shared" / "data"
    return p if p.exists() else None


_CACHE: dict = {}


def _base_frames(n: int) -> list[np.ndarray]:
    """n BGR frames at SIZE: the shared real clip's first frames, else the synthetic astronaut clip."""
    import cv2

    key = ("base", n)
    if key in _CACHE:
        return _CACHE[key]
    data = _shared_data()
    frames: list[np.ndarray] = []
    if data is not None and (data / SOURCE_CLIP).exists():
        cap = cv2.VideoCapture(str(data / SOURCE_CLIP), cv2.CAP_FFMPEG)
        while len(frames) < n:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(cv2.resize(img, SIZE, interpolation=cv2.INTER_AREA))
        cap.release()
    if not frames:
        face = cv2.imread(str(ROOT / "tests" / "data" / "astronaut_face.jpg"))
        w, h = SIZE
        side = int(h * 0.8)
        for i in range(n):
            x = int((w - side) * i / max(1, n - 1))
            canvas = np.full((h, w, 3), 90, np.uint8)
            canvas[(h - side) // 2:(h - side) // 2 + side, x:x + side] = cv2.resize(face, (side, side))
            frames.append(canvas)
    while len(frames) < n:  # a short source is played back and forth
        frames.extend(frames[::-1][: n - len(frames)])
    _CACHE[key] = frames[:n]
    return _CACHE[key]


def source_frames(n: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """n BGR uint8 frames of `size` (width, height), each with a face."""
    import cv2

    frames = _base_frames(n)
    return frames if tuple(size) == SIZE else [cv2.resize(f, tuple(size), interpolation=cv2.INTER_LINEAR)
                                               for f in frames]


def using_real_clip() -> bool:
    data = _shared_data()
    return data is not None and (data / SOURCE_CLIP).exists()


# ----------------------------------------------------------------------------------------------- writing
def encode(path: Path, frames: list[np.ndarray], codec: str = "libx264", rate: int = 25, pix_fmt: str = "yuv420p",
           options: dict | None = None, pts: list[int] | None = None, time_base: Fraction | None = None,
           container_options: dict | None = None, display_rotation_ccw: int | None = None,
           fmt: str | None = None) -> list[float]:
    """Encode BGR `frames` (a list, or any iterable: frames made one at a time never sit in memory together) into
    `path` with PyAV; `pts` (in `time_base` units) for explicit, irregular timestamps. Returns the presentation
    times written, in seconds."""
    import itertools

    import av

    frames = iter(frames)
    first = next(frames)
    frames = itertools.chain([first], frames)
    out = av.open(str(path), "w", format=fmt, options=container_options or {})
    stream = out.add_stream(codec, rate=rate, options=options or {})
    h, w = first.shape[:2]
    stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
    tb = time_base or Fraction(1, rate)
    stream.codec_context.time_base = tb
    if display_rotation_ccw:
        stream.set_display_rotation(display_rotation_ccw)
    times = []
    for i, img in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts = pts[i] if pts is not None else i
        frame.time_base = tb
        times.append(float(frame.pts * tb))
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return times


def set_mp4_rotation(path: Path, clockwise: int) -> None:
    """Rewrite, in place, the display matrix of every 'tkhd' box of an MP4/MOV so that a player turns the
    picture `clockwise` degrees (0/90/180/270), as a phone does for portrait video. Pure Python: walks
    moov/trak/tkhd and overwrites the nine 32-bit matrix words."""
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[clockwise % 360]
    # ISO/IEC 14496-12 matrix {a, b, u, c, d, v, x, y, w}: a, b, c, d, x, y are 16.16, u, v, w are 2.30
    matrix = [cos << 16, sin << 16, 0, (-sin) << 16, cos << 16, 0, 0, 0, 1 << 30]
    data = bytearray(Path(path).read_bytes())

    def walk(start: int, end: int) -> None:
        pos = start
        while pos + 8 <= end:
            size, kind = struct.unpack(">I4s", data[pos:pos + 8])
            header = 8
            if size == 1:
                size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
            elif size == 0:
                size = end - pos
            if kind in (b"moov", b"trak"):
                walk(pos + header, pos + size)
            elif kind == b"tkhd":
                version = data[pos + header]
                at = pos + header + 4 + (32 if version == 1 else 20) + 8 + 8
                data[at:at + 36] = struct.pack(">9i", *matrix)
            pos += size

    walk(0, len(data))
    Path(path).write_bytes(bytes(data))


def cut_clip(src: Path, dst: Path, start: int, n: int = 6, fps: float = 25.0) -> Path | None:
    """Frames [start, start + n) of the video `src` re-encoded (OpenCV, mp4v, `fps`) to `dst`: small real clips cut
    from a longer one (the screening tests and bench). None when `src` has no frame from `start` on."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    writer = None
    try:
        for _ in range(n):
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
            writer.write(frame)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    return dst if writer is not None else None


def _packets(path: Path) -> list[tuple[int, int, int, bool]]:
    """(pts, byte position, size, keyframe) of the video packets, in file order."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [(p.pts, p.pos, p.size, p.is_keyframe) for p in c.demux(s) if p.size and p.pts is not None]


# ----------------------------------------------------------------------------------------------- the cases
def _coded_for_rotation(n: int, degrees: int) -> list[np.ndarray]:
    """What a phone stores for a picture shown turned `degrees` clockwise: the upright picture (portrait for 90
    and 270, cut from the middle of the landscape source) turned counter-clockwise by `degrees`."""
    import cv2

    upright = source_frames(n)
    if degrees in (90, 270):
        w, h = SIZE
        crop = (h * h) // w  # a 3:4 window
        x = (w - crop) // 2
        upright = [cv2.resize(f[:, x:x + crop], (h, w), interpolation=cv2.INTER_AREA) for f in upright]
    return [np.ascontiguousarray(np.rot90(f, k=degrees // 90)) for f in upright]


def rotation(folder: Path, degrees: int, patch_tkhd: bool = False) -> Case:
    """H.264 in MP4 as a phone writes it: the coded picture sideways (or upside down) and a display matrix that
    turns it `degrees` clockwise, so an upright face is shown. The matrix comes from PyAV's
    set_display_rotation, or (`patch_tkhd`, or an older PyAV) from patching the 'tkhd' box in place.
    `source` holds the coded frames."""
    import av

    name = f"rotate{degrees}" + ("_tkhd" if patch_tkhd else "")
    path = Path(folder) / f"{name}.mp4"
    coded = _coded_for_rotation(12, degrees)
    if not patch_tkhd and hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        times = encode(path, coded, display_rotation_ccw=(-degrees) % 360)
    else:
        times = encode(path, coded)
        set_mp4_rotation(path, degrees)
    h, w = coded[0].shape[:2]
    return Case(name, path, 12, (h, w) if degrees in (90, 270) else (w, h), degrees, times, coded)


#: Frame intervals of the variable-frame-rate case, in milliseconds (a screen recording: idle, bursts).
VFR_INTERVALS_MS = [33, 33, 50, 17, 100, 33, 250, 17, 17, 67, 33, 40]


def variable_frame_rate(folder: Path) -> Case:
    """H.264 in MP4 with explicit irregular pts (1/1000 time base), B-frames on: a screen recording."""
    path = Path(folder) / "vfr.mp4"
    n = 24
    frames = source_frames(n)
    pts = [0]
    for i in range(1, n):
        pts.append(pts[-1] + VFR_INTERVALS_MS[i % len(VFR_INTERVALS_MS)])
    times = encode(path, frames, rate=30, pts=pts, time_base=Fraction(1, 1000), options={"bf": "2"})
    return Case("vfr", path, n, SIZE, 0, times, frames)


def interlaced(folder: Path) -> Case:
    """H.264 coded interlaced (x264 interlaced=1, top field first) in MPEG-TS, as broadcast captures are."""
    path = Path(folder) / "interlaced.ts"
    frames = source_frames(16)
    times = encode(path, frames, options={"x264-params": "interlaced=1:tff=1"})
    return Case("interlaced", path, 16, SIZE, 0, None, frames, notes={"times_written": times})


def ten_bit(folder: Path) -> Case:
    path = Path(folder) / "h264_10bit.mp4"
    frames = source_frames(12)
    times = encode(path, frames, pix_fmt="yuv420p10le")
    return Case("h264_10bit", path, 12, SIZE, 0, times, frames)


def hevc(folder: Path) -> Case:
    path = Path(folder) / "hevc.mp4"
    frames = source_frames(12)
    times = encode(path, frames, codec="libx265", options={"x265-params": "log-level=error"})
    return Case("hevc", path, 12, SIZE, 0, times, frames)


def vp9_webm(folder: Path) -> Case:
    path = Path(folder) / "vp9.webm"
    frames = source_frames(12)
    times = encode(path, frames, codec="libvpx-vp9", options={"deadline": "realtime", "cpu-used": "8"})
    return Case("vp9_webm", path, 12, SIZE, 0, times, frames)


def mjpeg_avi(folder: Path) -> Case:
    path = Path(folder) / "mjpeg.avi"
    frames = source_frames(12)
    times = encode(path, frames, codec="mjpeg", pix_fmt="yuvj420p")
    return Case("mjpeg_avi", path, 12, SIZE, 0, times, frames)


def prores_mov(folder: Path) -> Case:
    path = Path(folder) / "prores.mov"
    frames = source_frames(8)
    times = encode(path, frames, codec="prores_ks", pix_fmt="yuv422p10le")
    return Case("prores_mov", path, 8, SIZE, 0, times, frames)


def odd_size(folder: Path) -> Case:
    """721 x 403 (odd both ways): H.264 4:4:4, which needs no even chroma size."""
    path = Path(folder) / "odd_721x403.mp4"
    frames = source_frames(10, (721, 403))
    times = encode(path, frames, pix_fmt="yuv444p")
    return Case("odd_721x403", path, 10, (721, 403), 0, times, frames)


def uhd_4k(folder: Path) -> Case:
    path = Path(folder) / "uhd_3840x2160.mp4"
    frames = source_frames(4, (3840, 2160))
    times = encode(path, frames, options={"preset": "ultrafast"})
    return Case("4k", path, 4, (3840, 2160), 0, times, frames)


def audio_only(folder: Path) -> Case:
    """AAC in .m4a (two seconds of a tone): no video stream at all."""
    import av

    path = Path(folder) / "audio_only.m4a"
    out = av.open(str(path), "w")
    stream = out.add_stream("aac", rate=44100)
    t = np.arange(44100 * 2) / 44100
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, len(samples), 1024):
        chunk = samples[start:start + 1024]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return Case("audio_only", path, has_face=False, refuse="has no video stream")


def resolution_change(folder: Path) -> Case:
    """MPEG-TS whose H.264 stream changes from 320x240 to 480x360 at frame 10: the encoder re-initialised at the
    new size and its packets muxed into the same stream (a stream switching quality)."""
    import av

    path = Path(folder) / "size_change.ts"
    first = source_frames(10)
    second = source_frames(20, (480, 360))[10:]
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    stream.codec_context.time_base = Fraction(1, 25)
    times = []
    contexts = [stream.codec_context]
    for part, frames in enumerate((first, second)):
        if part == 1:
            cc = av.CodecContext.create("libx264", "w")
            cc.width, cc.height, cc.pix_fmt = 480, 360, "yuv420p"
            cc.time_base, cc.framerate = Fraction(1, 25), Fraction(25)
            cc.open()
            contexts.append(cc)
        cc = contexts[part]
        for img in frames:
            i = len(times)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            times.append(i / 25)
            for packet in cc.encode(frame):
                packet.stream = stream
                out.mux(packet)
        for packet in cc.encode(None):
            packet.stream = stream
            out.mux(packet)
    out.close()
    return Case("size_change", path, 20, None, 0, times, first + second,
                notes={"sizes": [(320, 240)] * 10 + [(480, 360)] * 10})


def truncated(folder: Path, container: str = "mp4") -> Case:
    """H.264 (keyframe every 12 frames, 48 frames) in `container` ('mp4' with moov first, 'mkv' or 'ts'), its
    bytes cut in the middle of frame 30's packet (mid-GOP: keyframes at 24 and 36)."""
    suffix = {"mp4": "mp4", "mkv": "mkv", "ts": "ts"}[container]
    full = Path(folder) / f"full_{container}.{suffix}"
    path = Path(folder) / f"truncated.{suffix}"
    frames = source_frames(48)
    opts = {"movflags": "+faststart"} if container == "mp4" else {}
    times = encode(full, frames, options={"g": "12", "keyint_min": "12", "sc_threshold": "0", "bf": "0"},
                   container_options=opts)
    packets = sorted(_packets(full))
    pts30, pos, size, _ = packets[30]
    cut = pos + size // 2
    path.write_bytes(full.read_bytes()[:cut])
    full.unlink()
    whole = sum(1 for p in packets if p[1] + p[2] <= cut)
    return Case(f"truncated_{container}", path, whole, SIZE, 0, times[:whole], frames[:whole],
                notes={"cut_at": cut, "frames_written": 48})


def hour_stream(folder: Path, seconds: int = 3600, rate: int = 25) -> Case:
    """`seconds` of 160x90 H.264 in MP4, built fast: ten seconds are encoded once (one keyframe each) and their
    packets muxed again and again with shifted timestamps. Bench only."""
    import av

    path = Path(folder) / f"stream_{seconds}s_160x90.mp4"
    chunk = 10 * rate
    frames = source_frames(chunk, (160, 90))
    probe = Path(folder) / "_chunk.mp4"
    encode(probe, frames, rate=rate, options={"g": str(chunk), "bf": "0", "preset": "ultrafast"})
    with av.open(str(probe)) as c:
        s = c.streams.video[0]
        packets = [(bytes(p), p.is_keyframe) for p in c.demux(s) if p.size]  # no B-frames: decode = display order
        out = av.open(str(path), "w")
        stream = out.add_stream_from_template(s)
        stream.time_base = Fraction(1, rate)
        repeats = seconds * rate // chunk
        for r in range(repeats):
            for i, (data, key) in enumerate(packets):
                p = av.Packet(data)
                p.pts = p.dts = r * chunk + i
                p.duration = 1
                p.time_base, p.is_keyframe, p.stream = Fraction(1, rate), key, stream
                out.mux(p)
        out.close()
    probe.unlink()
    return Case("hour_stream", path, repeats * chunk, (160, 90), 0, None, [], has_face=False)


#: name -> builder(folder) for the cases CI runs (each a few seconds at most).
CASES: dict[str, Callable[[Path], Case]] = {
    "rotate90": lambda d: rotation(d, 90),
    "rotate180": lambda d: rotation(d, 180),
    "rotate270": lambda d: rotation(d, 270),
    "rotate90_tkhd": lambda d: rotation(d, 90, patch_tkhd=True),
    "vfr": variable_frame_rate,
    "interlaced": interlaced,
    "h264_10bit": ten_bit,
    "hevc": hevc,
    "vp9_webm": vp9_webm,
    "mjpeg_avi": mjpeg_avi,
    "prores_mov": prores_mov,
    "odd_721x403": odd_size,
    "4k": uhd_4k,
    "audio_only": audio_only,
    "size_change": resolution_change,
    "truncated_mp4": lambda d: truncated(d, "mp4"),
    "truncated_mkv": lambda d: truncated(d, "mkv"),
    "truncated_ts": lambda d: truncated(d, "ts"),
}


def build(name: str, folder: Path) -> Case:
    """Build case `name` (a key of CASES, or 'hour_stream') in its own subfolder of `folder`."""
    sub = Path(folder) / name
    sub.mkdir(parents=True, exist_ok=True)
    return hour_stream(sub) if name == "hour_stream" else CASES[name](sub)


def numbered_frame(i: int, w: int = 320, h: int = 180) -> np.ndarray:
    """(h, w, 3) uint8 BGR that differs from its neighbours: a bar at x = 7 i (mod w) and the number i."""
    import cv2

    img = np.full((h, w, 3), 40, np.uint8)
    x = (i * 7) % w
    img[:, max(0, x - 12):x + 12] = (200, 120, 60)
    cv2.putText(img, str(i), (10, h - 20), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 4)
    return img


def long_gop_clip(path, frames: int, gop: int, w: int = 320, h: int = 180) -> str:
    """`frames` numbered frames at 30 fps with a keyframe every `gop` frames (libx264), for seek tests; the path."""
    encode(Path(path), (numbered_frame(i, w, h) for i in range(frames)), rate=30,
           options={"preset": "ultrafast", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"})
    return str(path)
