"""From decoded frames to aligned face crops: detect (on a downscaled copy, every few frames), follow faces between
detections by their landmarks, fit 68 landmarks at full resolution, align to the 224 crop, link faces into tracks,
and (when `identity_every` > 0) describe the faces' identity (`core.faces.identity`): the first face of each track
and then every `identity_every`-th processed frame in which the track appears.

`FacePipeline.process(frame) -> list[PreparedFace]`, frames in increasing index order. Coordinates: boxes xyxy
frame pixels; `M` (2, 3) maps frame pixels to crop pixels.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from core.faces.align import AlignParams, align_face
from core.faces.detect import CnnFaceDetector, Detection, DetectionCopies, FaceDetector
from core.faces.detector_choice import DEFAULT_DETECTOR, DETECTORS, LEGACY_DETECTOR
from core.faces.landmarks import LandmarkPredictor
from core.faces.track import FaceTracker


#: DetectorSettings fields that do not apply to a detector (left out of its record).
_NOT_APPLIED = {
    "hog": ("retina_threshold", "retina_nms"),
    "retinaface": ("upsample", "threshold", "cnn_fallback", "cnn_max_side"),
    "cnn": ("retina_threshold", "retina_nms", "max_side", "upsample", "retry_upsample", "normalise_exposure",
            "cnn_fallback"),
}

#: While the CNN fallback keeps finding nothing, it runs on at most every this many eligible faceless frames.
CNN_BACKOFF_MAX = 8


@dataclass(frozen=True)
class DetectorSettings:
    """detector: which face detector finds faces (`core.faces.detector_choice`): "retinaface" (RetinaFace MobileNet-0.25 in ONNX
    Runtime, `core.faces.retinaface`), "hog" (dlib's HOG with the retries and the CNN fallback below) or "cnn" (dlib's
    MMOD CNN alone, at cnn_max_side); retina_threshold / retina_nms: RetinaFace's least face score and NMS overlap.
    With "retinaface", a faceless frame's retries are RetinaFace on the detection copy upscaled 2x (retry_upsample)
    and on its exposure-normalised copy (normalise_exposure); cnn_fallback and the HOG settings do not apply.
    max_side: detect on a copy whose longer side is at most this (None: full size); upsample: dlib HOG upsampling
    (1 finds faces down to ~40 px at detection scale, 0 down to ~80 px); threshold: HOG score cut-off (lower it
    for hard footage, at the price of false hits);
    detect_every: run the detector at least every this many frames (by index); in between, faces are followed by
    their landmarks (RetinaFace, CNN: only from one frame to the next; a sampled frame after a gap is detected); min_face: faces narrower than this (frame px) are ignored; retry_upsample: when a pass finds
    no face, look again with one more level of upsampling (4x the cost);
    normalise_exposure: when HOG still finds no face, look again (with the same upsample retry) on an
    exposure-normalised copy (a linear stretch of the luma) of the detection copy only: crops are always cut from the
    untouched frame; cnn_fallback: when HOG (and the retries) find no face, run dlib's MMOD CNN detector on a copy
    downscaled to cnn_max_side (about 1-2 s a frame on a CPU; while it finds nothing it backs off to every
    `CNN_BACKOFF_MAX`-th retry frame). The retries run on a faceless frame at most once every `detect_every` frames
    (HOG itself runs on every faceless frame); its boxes are mapped to HOG's convention and its confidence is
    held to the same `threshold` (docs/DETECTION.md). Frames with a face found by HOG pay none of the retries."""

    detector: str = DEFAULT_DETECTOR
    retina_threshold: float = 0.9  # bench/detector_recall.py --retina-sweep: 0.5..0.9 keep every face, 0.9 the false hits out
    retina_nms: float = 0.4
    max_side: int | None = 640
    upsample: int = 0
    threshold: float = 0.2  # HOG false hits on this project's clips scored <= 0.13, real faces >= 0.36
    detect_every: int = 8
    min_face: int = 48
    track_iou: float = 0.3
    retry_upsample: bool = True  # a detector pass that finds nothing runs again with upsample + 1 (small faces)
    normalise_exposure: bool = True  # ... then on an exposure-normalised copy (dim footage)
    cnn_fallback: bool = True  # ... then the MMOD CNN detector (dim, small, turned faces)
    cnn_max_side: int | None = 640  # the CNN's detection copy: longer side at most this (None: full size)

    def to_dict(self) -> dict:
        """The settings that apply to the chosen detector (the others are left out: every recorded setting is one
        that ran)."""
        d = asdict(self)
        for k in _NOT_APPLIED[self.detector]:
            d.pop(k)
        return d

    # switches added after results were first recorded, with the value that ran before they existed
    _ABSENT_MEANS = {"normalise_exposure": False, "cnn_fallback": False, "detector": LEGACY_DETECTOR}

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise ValueError(f"face detector: choose from {', '.join(DETECTORS)}, not {self.detector!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "DetectorSettings":
        """The settings a recorded dict ran with: a result recorded before a switch existed ran without it, so a
        missing `normalise_exposure` / `cnn_fallback` reads as False and a missing `detector` as "hog" (other missing
        keys, and those that do not apply to the recorded detector: the defaults)."""
        detector = d.get("detector", LEGACY_DETECTOR)
        absent = {k: v for k, v in cls._ABSENT_MEANS.items() if k not in _NOT_APPLIED.get(detector, ())}
        values = {**absent, **{k: d[k] for k in cls.__dataclass_fields__ if k in d}}
        return cls(**values)


@dataclass
class PreparedFace:
    track: int
    box: np.ndarray  # (4,) xyxy frame px: the detector's box, or one derived from the landmarks between detections
    det_score: float  # the detector's score (`Detection.score`); NaN for a face followed by its landmarks
    landmarks: np.ndarray  # (68, 2) frame px
    crop: np.ndarray  # (224, 224, 3) BGR uint8
    matrix: np.ndarray  # (2, 3) frame px -> crop px
    descriptor: np.ndarray | None = None  # (128,) float32 identity descriptor, None when not described
    aligned_from: str = "68"  # "68": the landmarks' five points; "retinaface 5 points": the detector's (see below)


@dataclass
class StageTimes:
    detect: float = 0.0
    landmarks: float = 0.0
    align: float = 0.0
    identity: float = 0.0
    detections: int = 0  # frames on which the detector ran
    cnn_runs: int = 0  # frames on which the CNN fallback ran

    def to_dict(self) -> dict:
        return asdict(self)


def _landmark_box(landmarks: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """A detector-like box from landmarks: the landmarks' bounds adjusted by a per-track ratio learned at the last
    detection ([dx0, dy0, dx1, dy1] in units of the landmarks' width/height)."""
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    w, h = x1 - x0, y1 - y0
    return np.array([x0 + ratio[0] * w, y0 + ratio[1] * h, x1 + ratio[2] * w, y1 + ratio[3] * h])


#: On a detection frame, a face whose 68-point fit puts its five points (eyes, nose, mouth corners) further than this
#: from the detector's own five (mean distance, in widths of the face box) is aligned from the detector's points:
#: on turned heads dlib's predictor spreads the points as on a frontal face, where RetinaFace keeps them on the
#: visible side (checked by eye; on 286 faces of the shared clips and dark photos, median 0.022, 7 over 0.1, all
#: but one of them profiles: docs/DETECTION.md). The 68 points stay the face's landmarks (kept, and followed).
FIVE_POINT_DISAGREEMENT = 0.1


def points_disagreement(landmarks68: np.ndarray, points5, box) -> float:
    """Mean distance between the 68 landmarks' five points and a detector's (5, 2) points, in widths of the xyxy
    `box` (frame px)."""
    from core.faces.align import five_points

    d = np.linalg.norm(five_points(landmarks68) - np.asarray(points5, np.float64), axis=1).mean()
    return float(d / max(float(box[2] - box[0]), 1.0))


#: A HOG box around 68 landmarks, in `_landmark_box`'s ratio units: the median over dlib's 43 labelled faces of HOG's
#: box vs the landmarks fitted from it (bench/detector_recall.py --offsets). Faces found by a detector other than
#: HOG are followed with boxes of this convention, the one the 68-point predictor was trained on: a box a little
#: tight for the predictor (RetinaFace's, mapped) shrinks the landmarks of a moving face from frame to frame.
HOG_BOX_RATIO = np.array([-0.084, -0.139, 0.0, -0.065])


def _box_ratio(box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    return np.array([(box[0] - x0) / w, (box[1] - y0) / h, (box[2] - x1) / w, (box[3] - y1) / h])


@dataclass
class _Followed:
    landmarks: np.ndarray
    ratio: np.ndarray
    last_index: int


class FacePipeline:
    """Stateful per video: call `process` on frames in increasing index order; `reset()` between videos."""

    def __init__(self, settings: DetectorSettings = DetectorSettings(), align: AlignParams = AlignParams(),
                 identity_every: int = 0):
        self.settings = settings
        self.align_params = align
        if settings.detector == "retinaface":
            from core.faces.retinaface import RetinaFaceDetector

            self.detector = RetinaFaceDetector(settings.max_side, settings.retina_threshold, settings.retina_nms)
        elif settings.detector == "cnn":
            self.detector = CnnFaceDetector(settings.cnn_max_side, 0, settings.threshold)
        else:
            self.detector = FaceDetector(settings.max_side, settings.upsample, settings.threshold)
        self._fine_detector = None  # upsampled, made on first need
        self._cnn_detector = None  # made on first need
        self.landmarks = LandmarkPredictor()
        self.identity_every = int(identity_every)  # 0: no identity descriptors
        self._embedder = None  # made on first need
        self.times = StageTimes()
        self.reset()

    def reset(self, frame_step: int = 1) -> None:
        """Start a new video. `frame_step`: the largest index gap between the frames that will be processed (a
        track survives at least two such gaps without a face)."""
        max_gap = max(30, 2 * self.settings.detect_every, 2 * int(frame_step))
        self.tracker = FaceTracker(self.settings.track_iou, max_gap=max_gap)
        self._followed: dict[int, _Followed] = {}
        self._last_detection: int | None = None
        self._last_retry: int | None = None   # the last faceless detection frame that ran the retries
        self._cnn_stride, self._cnn_waited = 1, 0
        self._since_described: dict[int, int] = {}  # track -> its processed frames since its last descriptor

    def _due(self, index: int) -> bool:
        """A detection frame: none yet, nothing followed, `detect_every` frames since the last detection, or (detectors
        other than HOG) a frame that does not follow the last processed one: the 68-point predictor follows a face
        from one frame to the next, not across a gap a moving face may have left (HOG keeps today's behaviour)."""
        if self._last_detection is None or not self._followed:
            return True
        if self.settings.detector != "hog" and index - max(f.last_index for f in self._followed.values()) > 1:
            return True
        return index - self._last_detection >= self.settings.detect_every

    def detect_still(self, image: np.ndarray) -> list[Detection]:
        """The detection step on one image standing alone (every retry due; for stills and benchmarks): faces at least
        `min_face` wide, by the detector's order."""
        self.reset()
        return self._detect(0, image)

    def _detect(self, index: int, image: np.ndarray):
        """The detector on every detection frame; on a faceless one the retries at most once every `detect_every`
        frames (HOG: upsample, exposure, CNN, the CNN backing off while it finds nothing (`_cnn_turn`); RetinaFace:
        2x upscale, exposure)."""
        s = self.settings

        def wide(dets):
            return [d for d in dets if d.box[2] - d.box[0] >= s.min_face]

        frame = DetectionCopies(image)      # the downscaled (and normalised) copies, made once for every pass
        dets = wide(self.detector.detect(frame))
        if dets:
            self._cnn_stride, self._cnn_waited = 1, 0    # a face is in view: the CNN is eager again once it is lost
            return dets
        if s.detector == "cnn" or (self._last_retry is not None and index - self._last_retry < s.detect_every):
            return dets
        self._last_retry = index
        if s.detector == "retinaface":
            if s.retry_upsample:
                dets = wide(self.detector.detect(frame, upscale=2.0))
            if not dets and s.normalise_exposure:
                dets = wide(self.detector.detect(frame, normalise=True))
            return dets
        if s.retry_upsample:
            if self._fine_detector is None:
                self._fine_detector = FaceDetector(s.max_side, s.upsample + 1, s.threshold)
            dets = wide(self._fine_detector.detect(frame))
        if not dets and s.normalise_exposure:
            dets = wide(self.detector.detect(frame, normalise=True))
            if not dets and s.retry_upsample:
                dets = wide(self._fine_detector.detect(frame, normalise=True))
        if not dets and s.cnn_fallback and self._cnn_turn():
            if self._cnn_detector is None:
                self._cnn_detector = CnnFaceDetector(s.cnn_max_side, 0, s.threshold)
            self.times.cnn_runs += 1
            dets = wide(self._cnn_detector.detect(frame))
            self._cnn_stride = 1 if dets else min(2 * self._cnn_stride, CNN_BACKOFF_MAX)
        return dets

    def _cnn_turn(self) -> bool:
        """While the CNN keeps finding nothing it runs on every 1st, 2nd, 4th ... `CNN_BACKOFF_MAX`-th faceless
        retry frame (a long faceless stretch, or a sampled analysis of a faceless video, pays ~1/8 of its cost)."""
        self._cnn_waited += 1
        if self._cnn_waited < self._cnn_stride:
            return False
        self._cnn_waited = 0
        return True

    def _describe(self, track: int, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
        if self.identity_every <= 0:
            return None
        since = self._since_described.get(track)
        if since is not None and since + 1 < self.identity_every:
            self._since_described[track] = since + 1
            return None
        if self._embedder is None:
            from core.faces.embedder import FaceEmbedder

            self._embedder = FaceEmbedder()
        self._since_described[track] = 0
        return self._embedder.describe(image, landmarks)

    @property
    def descriptor_runtime(self) -> str | None:
        """What computed this pipeline's identity descriptors ("onnxruntime 1.32.0", "dlib 20.0.1"); None before
        the first one."""
        return self._embedder.runtime if self._embedder is not None else None

    def process(self, index: int, image: np.ndarray) -> list[PreparedFace]:
        t0 = time.perf_counter()
        detected = self._due(index)
        if detected:
            dets = self._detect(index, image)
            boxes = [np.asarray(d.box, dtype=np.float64) for d in dets]
            scores = [float(d.score) for d in dets]
            points = [d.points for d in dets]
            self._last_detection = index
            self.times.detections += 1
        else:  # follow each live track from its previous landmarks
            boxes = [_landmark_box(f.landmarks, f.ratio) for f in self._followed.values()]
            scores = [float("nan")] * len(boxes)
            points = [None] * len(boxes)
        t1 = time.perf_counter()
        self.times.detect += t1 - t0

        ids = self.tracker.update(index, np.array(boxes).reshape(-1, 4))
        faces: list[PreparedFace] = []
        followed: dict[int, _Followed] = {}
        for track, box, score, pts in zip(ids, boxes, scores, points):
            ta = time.perf_counter()
            lm = self.landmarks.predict(image, box)
            tb = time.perf_counter()
            if pts is not None and points_disagreement(lm, pts, box) > FIVE_POINT_DISAGREEMENT:
                pts5, aligned_from = pts, f"{self.settings.detector} 5 points"
            else:
                pts5, aligned_from = None, "68"
            crop, matrix = align_face(image, lm, self.align_params, pts5)
            tc = time.perf_counter()
            descriptor = self._describe(track, image, lm)
            self.times.landmarks += tb - ta
            self.times.align += tc - tb
            self.times.identity += time.perf_counter() - tc
            prev = self._followed.get(track)
            if not detected and prev is not None:
                ratio = prev.ratio
            else:  # HOG's own box, for HOG (the results made before RetinaFace); HOG's convention for the others
                ratio = _box_ratio(box, lm) if self.settings.detector == "hog" else HOG_BOX_RATIO
            followed[track] = _Followed(lm, ratio, index)
            faces.append(PreparedFace(track, box, score, lm, crop, matrix, descriptor, aligned_from))
        self._followed = followed
        return faces
