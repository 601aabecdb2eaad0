"""The analysis engine: a video file -> an `AnalysisResult` (per-frame and per-face P(fake), artifact boxes in frame
pixels, tracks, video verdict).

Two stages overlap: a producer thread decodes the selected frames and prepares faces (detect / follow, landmarks,
align: `core.faces.pipeline`), while the calling thread sends the crops to the model in batches
(`core.model.inference.Predictor`, up to `predictor.lanes` batches running at once) and, in frame order, maps artifact
boxes back into the frame. Frames stream through a bounded queue: memory stays flat on long videos.

Progress and cancellation: `progress(done, total, frame_result)` is called for every finished frame (in order);
`cancel()` (any callable returning bool, e.g. `threading.Event().is_set`) is polled between frames. A cancelled run
returns what it has, with `complete = False`.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

import numpy as np

from core import __version__
from core.model.artifacts import BoxSettings
from core.faces.pipeline import DetectorSettings, FacePipeline, PreparedFace
from core.faces.align import crop_to_frame
from core.common.formatting import utc_now
from core.faces.embedder import DESCRIPTOR_MODEL
from core.faces.landmark_sets import DEFAULT_LANDMARK_KEEP, LANDMARK_KEEP, keep_landmarks
from core.media.frames import FrameSelection
from core.model.inference import Predictor
from core.common.threads import cpu_threads, omp_passive
from core.analysis.frame_results import Artifact, FaceResult, FrameResult
from core.analysis.results import SCHEMA, AnalysisResult, AnalysisSettings, ModelInfo, Review
from core.analysis.summary import summarize, track_summaries
from core.media.evidence import VideoInfo
from core.media.video import VideoReader, probe_video

ProgressFn = Callable[[int, int, "FrameResult | None"], None]
CancelFn = Callable[[], bool]

#: Identity descriptors: a track's first analysed frame and then every 3rd. Chosen when dlib computed them at about 3x
#: the model's time per face; run by ONNX Runtime they cost next to nothing (all frames of a 720p clip: 1.02x of
#: identity off), and every 3rd keeps result files a third the size (docs/IDENTITY.md).
IDENTITY_EVERY = 3


@dataclass(frozen=True)
class AnalysisOptions:
    """Everything that decides an analysis result (threshold only changes the verdict, not the scores)."""

    frames: FrameSelection = FrameSelection("count", 32)
    threshold: float = 0.5
    detector: DetectorSettings = DetectorSettings()
    boxes: BoxSettings = BoxSettings()
    batch_size: int = 16
    torch_threads: int | None = None  # None: all (passive OpenMP waiting) or all but one (see core.common.threads)
    identity: bool = True  # an identity descriptor per face (core.faces.identity), never part of P(fake)
    identity_every: int = IDENTITY_EVERY  # describe a track's face in every this-many-th of its analysed frames
    landmarks: str = DEFAULT_LANDMARK_KEEP  # what each face keeps: "none", "5" (eyes, nose, mouth corners) or "68"

    def __post_init__(self):
        if self.landmarks not in LANDMARK_KEEP:
            raise ValueError(f"landmarks: choose from {', '.join(LANDMARK_KEEP)}, not {self.landmarks!r}")
        if int(self.identity_every) < 1:
            raise ValueError(f"identity_every must be at least 1, not {self.identity_every}")

    def settings(self, device_used: str = "any", runtime: str = "", precision: str = "fp32") -> AnalysisSettings:
        """The settings a result of these options records (`device_used`, `runtime`: what ran it; `precision`:
        "int8" for a quantized model, which changes scores, so it is recorded with what decides them)."""
        extra = {"boxes": self.boxes.to_dict(), "landmarks": self.landmarks}
        if precision != "fp32":
            extra["precision"] = precision
        if self.identity:
            extra["identity"] = {"descriptor_model": DESCRIPTOR_MODEL, "every": int(self.identity_every)}
        return AnalysisSettings(frame_selection=self.frames, threshold=self.threshold, device=device_used,
                                batch_size=self.batch_size, detector=self.detector.to_dict(), extra=extra,
                                runtime=runtime)


@dataclass
class _Prepared:
    index: int
    time_s: float
    faces: list[PreparedFace]


_END = object()


def model_info(predictor: Predictor) -> ModelInfo:
    """The report's model section: the checkpoint's identity (`predictor.info`) and its card (a model built in
    memory: its own metadata)."""
    info = predictor.info
    card = dict(info.card if info is not None else getattr(predictor.model, "metadata", {}) or {})
    return ModelInfo(name=info.name if info is not None else card.get("name", "unnamed"),
                     backbone=predictor.config.backbone, sha256=info.sha256 if info is not None else "",
                     path=info.path if info is not None else "", input_size=predictor.config.input_size,
                     metadata={k: v for k, v in card.items() if isinstance(v, (str, int, float, bool, dict, list))})


def _producer(path, indices, pipeline: FacePipeline, out: queue.Queue, stop: threading.Event, timings: dict,
              errors: list):
    try:
        with VideoReader(path) as reader:
            t_decode = 0.0
            t = time.perf_counter()
            for frame in reader.frames(indices):
                t_decode += time.perf_counter() - t
                if stop.is_set():
                    break
                faces = pipeline.process(frame.index, frame.image)
                while not stop.is_set():
                    try:
                        out.put(_Prepared(frame.index, frame.time_s, faces), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                t = time.perf_counter()
            timings["decode"] = t_decode
    except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises in the caller's thread
        errors.append(e)
    finally:
        out.put(_END)


def _face_result(face: PreparedFace, prediction, landmarks: str) -> FaceResult:
    """Crop-space artifact boxes -> frame pixels (corners of the rotated quadrilateral, and its bounds); the face's
    landmarks as `landmarks` (AnalysisOptions.landmarks) says."""
    artifacts = []
    if prediction.artifacts:
        corners, boxes = crop_to_frame(np.array([a.box for a in prediction.artifacts], dtype=np.float64), face.matrix)
        artifacts = [Artifact(box=b, corners=c, score=a.score, crop_box=a.box)
                     for a, c, b in zip(prediction.artifacts, corners, boxes)]
    return FaceResult(track=face.track, box=face.box, det_score=None if np.isnan(face.det_score) else face.det_score,
                      score=prediction.prob, landmarks=keep_landmarks(face.landmarks, landmarks), artifacts=artifacts,
                      descriptor=face.descriptor, aligned_from=None if face.aligned_from == "68" else face.aligned_from)


def analyze_video(path, predictor: Predictor, options: AnalysisOptions = AnalysisOptions(),
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                  pipeline: FacePipeline | None = None, info: VideoInfo | None = None,
                  startup_s: float | None = None) -> AnalysisResult:
    """Analyse one video (`info`: its `probe_video` result when the caller has it already; `startup_s`: the
    seconds the caller waited before it, e.g. a command's start-up, recorded as `timings["startup"]`).

    Raises `VideoError` for an unreadable file; never modifies it."""
    t_start = time.perf_counter()
    info = info or probe_video(path)
    timings: dict[str, float] = {"probe": time.perf_counter() - t_start}
    if startup_s is not None:
        timings["startup"] = float(startup_s)
    indices = options.frames.indices(info.frame_count)
    t = time.perf_counter()
    pipeline = pipeline or FacePipeline(options.detector)
    timings["face_models"] = time.perf_counter() - t
    pipeline.identity_every = max(1, int(options.identity_every)) if options.identity else 0
    pipeline.reset(frame_step=max((b - a for a, b in zip(indices, indices[1:])), default=1))

    # With spinning OpenMP workers a torch pool spanning all cores collapses beside the busy producer thread;
    # with passive waiting (core.common.threads.configure_threads, before torch loads) it can use them all.
    cores = cpu_threads()
    threads = options.torch_threads or (cores if omp_passive() else max(1, cores - 1))
    with predictor.using_threads(threads):
        return _analyze(path, predictor, options, progress, cancel, pipeline, info, indices, timings, t_start)


def _analyze(path, predictor: Predictor, options: AnalysisOptions, progress, cancel, pipeline: FacePipeline,
             info: VideoInfo, indices, timings: dict, t_start: float) -> AnalysisResult:
    q: queue.Queue = queue.Queue(maxsize=max(4, 2 * options.batch_size))
    stop = threading.Event()
    errors: list[BaseException] = []
    worker = threading.Thread(target=_producer, name="caddm-decode",
                              args=(path, indices, pipeline, q, stop, timings, errors), daemon=True)
    worker.start()

    frames: list[FrameResult] = []
    pending: list[_Prepared] = []
    inflight: deque[tuple[list[_Prepared], Future | None]] = deque()  # in frame order
    model_seconds: list[float] = []  # appended from the lanes' threads
    t_boxes = 0.0
    cancelled = False

    def finish_oldest():
        """Wait for the oldest batch in flight and turn its frames into results, in frame order."""
        nonlocal t_boxes
        batch, future = inflight.popleft()
        preds = future.result() if future is not None else []
        t0 = time.perf_counter()
        k = 0
        for p in batch:
            face_results = [_face_result(f, preds[k + i], options.landmarks) for i, f in enumerate(p.faces)]
            k += len(p.faces)
            score = max((f.score for f in face_results), default=None)
            fr = FrameResult(index=p.index, time_s=p.time_s, score=score, faces=face_results)
            frames.append(fr)
            if score is not None and "first_score" not in timings:
                timings["first_score"] = time.perf_counter() - t_start
            if progress is not None:
                progress(len(frames), len(indices), fr)
        t_boxes += time.perf_counter() - t0

    def running() -> int:
        return sum(f is not None and not f.done() for _, f in inflight)

    def flush():
        """Send the pending frames' faces to the model once a lane is free (never more batches running than
        lanes, so a batch starts when it is sent); hand on every finished batch at the front, in frame order."""
        while inflight and running() >= predictor.lanes:
            finish_oldest()
        faces = [f for p in pending for f in p.faces]
        future = None
        if faces:
            t0 = time.perf_counter()
            future = predictor.submit(np.stack([f.crop for f in faces]), options.boxes)  # the recorded settings
            future.add_done_callback(lambda _, t0=t0: model_seconds.append(time.perf_counter() - t0))  # summed
        inflight.append((list(pending), future))
        pending.clear()
        while inflight and (inflight[0][1] is None or inflight[0][1].done()):
            finish_oldest()

    try:
        while True:
            if cancel is not None and cancel():
                cancelled = True
                break
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                break
            pending.append(item)
            n_faces = sum(len(p.faces) for p in pending)
            first = n_faces > 0 and not frames and not inflight  # the first face goes at once: the first score
            if first or n_faces >= options.batch_size or len(pending) >= options.batch_size:  # comes sooner
                flush()
        if not cancelled:
            flush()
        while inflight:                                   # batches already scored or running: keep them
            finish_oldest()
    finally:
        stop.set()
        while worker.is_alive():  # drain so the producer never blocks on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
        for _, future in inflight:                     # left by an error: let the lanes finish before returning
            if future is not None:
                future.cancel()
                try:
                    future.result()
                except BaseException:  # noqa: BLE001 - the first error is the one raised
                    pass
    if errors:
        raise errors[0]

    timings.update({k: round(v, 4) for k, v in pipeline.times.to_dict().items()
                    if k not in ("detections", "cnn_runs")})  # counts, not seconds
    timings.update({"model": round(sum(model_seconds), 4), "boxes": round(t_boxes, 4),
                    "total": round(time.perf_counter() - t_start, 4)})
    complete = not cancelled and len(frames) == len(indices)
    runtime = predictor.runtime
    if pipeline.identity_every and pipeline.descriptor_runtime:
        runtime += f"; face descriptors: {pipeline.descriptor_runtime}"
    return AnalysisResult(
        schema=SCHEMA, software={"name": "caddm-inspector", "version": __version__},
        created_utc=utc_now(),
        video=info, model=model_info(predictor),
        settings=options.settings(predictor.device, runtime, predictor.precision),
        frames=frames, tracks=track_summaries(frames, options.threshold),
        summary=summarize(frames, options.threshold), timings=timings, complete=complete, case=None,
        review=Review())
