"""A synthetic AnalysisResult and frame source for result, cache and report tests (no video, no model)."""
from __future__ import annotations

import numpy as np

from core.media.frames import FrameSelection
from core.analysis.frame_results import Artifact, FaceResult, FrameResult
from core.analysis.results import AnalysisResult, AnalysisSettings, CaseInfo, ModelInfo, Review
from core.media.evidence import VideoInfo

W, H, FPS = 640, 360, 25.0
VIDEO_SHA = "ab12cd34" + "0" * 56
MODEL_SHA = "fe98" + "1" * 60


def video_info() -> VideoInfo:
    return VideoInfo(path="/evidence/case 17/clip<1>.mp4", sha256=VIDEO_SHA, size_bytes=1_234_567,
                     container="mov,mp4", codec="h264", width=W, height=H, fps=FPS, frame_count=250,
                     duration_s=10.0, rotation=0, extra={"bit_rate": 800000})


def artifact(x0, y0, s) -> Artifact:
    box = [x0, y0, x0 + 30.123, y0 + 20.456]
    corners = [[box[0], box[1]], [box[2], box[1] + 1.5], [box[2] - 0.5, box[3]], [box[0], box[3] - 1.0]]
    return Artifact(box=box, corners=corners, score=s, crop_box=[10.0, 20.0, 60.5, 70.25])


def face(track, x0, s, n_art=1) -> FaceResult:
    lm = np.stack([np.linspace(x0, x0 + 100, 68), np.linspace(100, 200, 68)], axis=1)
    arts = [artifact(x0 + 10 + 20 * k, 120 + 10 * k, min(1.0, s + 0.05 * k)) for k in range(n_art)]
    return FaceResult(track=track, box=np.array([x0, 90.0, x0 + 120.0, 230.0]), det_score=np.float32(0.98765432),
                      score=np.float32(s), landmarks=lm if track == 0 else None, artifacts=arts)


def frames() -> list[FrameResult]:
    """10 analysed frames (every 25th): frames 2 and 7 have no face; track 0 throughout, track 1 in frames 4-9."""
    out = []
    for k in range(10):
        idx = 25 * k
        faces = []
        if k not in (2, 7):
            faces.append(face(0, 100.0, 0.2 + 0.07 * k, n_art=1 + k % 2))
            if k >= 4:
                faces.append(face(1, 400.0, 0.9 - 0.01 * k, n_art=2))
        out.append(FrameResult(index=idx, time_s=idx / FPS, faces=faces))
    return out


def make_result(case=True, threshold=0.5, complete=True) -> AnalysisResult:
    model = ModelInfo(name="caddm-effb4", backbone="efficientnet-b4", sha256=MODEL_SHA, path="/models/effb4.pth",
                      metadata={"trained_on": "FF++ c23"})
    settings = AnalysisSettings(frame_selection=FrameSelection("stride", 25), threshold=threshold, device="cpu",
                                batch_size=8, detector={"upsample": 1, "downscale": 640}, extra={})
    case_info = CaseInfo(case_id="2024-<17>&A", analyst="J. O'Brien <lab>",
                         notes='Submitted by "X"; <script>alert(1)</script>') if case else None
    review = Review(flags={100, 150}, notes={150: "mouth region <blurred> & teeth", 200: "=HYPERLINK(\"x\")"})
    return AnalysisResult.build(video_info(), model, settings, frames(), timings={"decode": 1.23456789, "model": 2.5},
                                complete=complete, case=case_info, review=review, created_utc="2024-05-01T12:00:00Z")


def frame_source(index: int):
    """A synthetic BGR frame: a gradient with the index drawn in; None for index 150 (frame unavailable)."""
    if index == 150:
        return None
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
    img[..., 1] = np.linspace(0, 255, H, dtype=np.uint8)[:, None]
    img[..., 2] = index % 256
    return img
