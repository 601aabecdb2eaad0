"""End-to-end analysis speed: frames/s and time per stage, ours vs the naive loop, on real clips, all frames.

    .venv/bin/python bench/analyze_bench.py [--clips s32.mp4,dflive_Twitch1.mp4] [--backbone resnet34]
                                            [--naive-frames 60] [--model PATH] [--detectors retinaface,hog]
                                            [--whole-process]

--whole-process also runs `caddm-analyze CLIP --all-frames --no-cache` as a user does (a fresh process, its
defaults: identity descriptors, all four reports; the model saved to a checkpoint first when none is given, its
ONNX export made by a first, untimed run) and prints its wall-clock frames/s beside the in-process figure, with the
start-up by stage from the run's own report (`timings`: startup = the command's start until the analysis began,
first_score = the analysis's start until the first scored frame, face_models, and the rest).

Ours: `core.analysis.engine.analyze_video` once per face detector of --detectors, same clip (decode + face preparation
in a producer thread, detection on a downscaled copy every few frames with landmark following in between, batched model:
ONNX Runtime lanes on the CPU, one single-threaded batch per thread, or torch with channels_last). Its "model" stage
seconds are summed over the lanes. Naive: per frame, full-resolution dlib HOG with upsample 1, landmarks, align, model
at batch 1 (NCHW), one thread of work after another. Scores are compared on the frames both analysed (faces matched by
IoU). Clips are read from ../shared/data/videos/real (research/unclear licences: read there, never copied).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()  # first: passive OpenMP waiting, before torch loads
import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.analysis.engine import AnalysisOptions, analyze_video  # noqa: E402
from core.model.boxes import box_iou  # noqa: E402
from core.model.device import RUNTIME_CHOICES  # noqa: E402
from core.model.checkpoints import load_model  # noqa: E402
from core.faces.align import AlignParams, align_face  # noqa: E402
from core.faces.detect import FaceDetector  # noqa: E402
from core.faces.landmarks import LandmarkPredictor  # noqa: E402
from core.faces.pipeline import DetectorSettings  # noqa: E402
from core.media.frames import FrameSelection  # noqa: E402
from core.model.inference import Predictor  # noqa: E402
from core.model.caddm import CADDM  # noqa: E402
from core.model.config import ModelConfig  # noqa: E402
from core.media.video import VideoReader, probe_video  # noqa: E402

SHARED = Path(os.environ.get("CADDM_SHARED", ROOT.parent / "shared"))


def naive(path, model, n_frames: int):
    """The straightforward loop. Returns ({index: [(box, score)]}, frames, seconds, stage seconds)."""
    torch.set_num_threads(os.cpu_count())
    detector, landmarks = FaceDetector(max_side=None, upsample=1), LandmarkPredictor()
    predictor = Predictor(model, device="cpu", batch_size=1, channels_last=False, runtime="torch")
    stages = dict(decode=0.0, detect=0.0, landmarks=0.0, align=0.0, model=0.0)
    out = {}

    def timed(stage, fn, *a):
        t = time.perf_counter()
        value = fn(*a)
        stages[stage] += time.perf_counter() - t
        return value

    start = time.perf_counter()
    with VideoReader(path) as reader:
        frames = iter(reader.frames(range(n_frames)))
        while (frame := timed("decode", next, frames, None)) is not None:
            faces = []
            for d in timed("detect", detector.detect, frame.image):
                lm = timed("landmarks", landmarks.predict, frame.image, d.box)
                crop, _ = timed("align", align_face, frame.image, lm, AlignParams())
                faces.append((d.box, timed("model", predictor.predict, crop[None])[0].prob))
            out[frame.index] = faces
    return out, len(out), time.perf_counter() - start, stages


def whole_process(path: Path, checkpoint: Path, runtime: str, frames: int, work: Path) -> dict:
    """caddm-analyze on `path` as a user runs it; returns wall seconds, frames/s and the report's timings."""
    import json
    import subprocess

    cmd = [sys.executable, "-m", "core.cli.analyze", str(path), "--all-frames", "--no-cache", "--quiet",
           "--model", str(checkpoint), "--runtime", runtime, "--out", str(work)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)            # makes the export once, untimed
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - t
    report = work / path.stem / "report.json"
    timings = json.loads((report if report.exists() else work / "report.json").read_text())["timings"]
    return {"wall": wall, "fps": frames / wall, "timings": timings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default="s32.mp4,dflive_Twitch1.mp4",
                    help="names in ../shared/data/videos/real, or paths (e.g. a 4K clip from bench/long_clip.py)")
    ap.add_argument("--backbone", default="resnet34")
    ap.add_argument("--model", default=None, help="checkpoint (default: seeded random weights, same speed)")
    ap.add_argument("--naive-frames", type=int, default=60, help="frames the naive loop runs on (it is slow)")
    ap.add_argument("--torch-threads", type=int, default=None, help="torch threads for ours (default: engine's)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--runtime", default="auto", choices=RUNTIME_CHOICES, help="what runs the model in ours (the "
                    "naive loop always runs torch)")
    ap.add_argument("--detectors", default="retinaface,hog",
                    help="face detectors ours runs with, each on every clip (core.faces.detector_choice.DETECTORS)")
    ap.add_argument("--whole-process", action="store_true",
                    help="also time caddm-analyze as a fresh process (a user's wait: start-up and reports included)")
    ap.add_argument("--identity", action="store_true",
                    help="also compute identity descriptors (the analysis default; off here to compare with the "
                         "naive loop, which has none: bench/identity_bench.py --time measures their cost)")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = load_model(args.model) if args.model else CADDM(ModelConfig(args.backbone)).eval()
    if not args.model:
        model.metadata = {"name": f"{args.backbone}-bench"}
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, model {model.metadata.get('name')} "
          f"({model.config.backbone})")
    for clip in args.clips.split(","):
        path = Path(clip) if os.path.isfile(clip) else SHARED / "data" / "videos" / "real" / clip
        if not path.exists():
            print(f"{path}: absent, skipped")
            continue
        info = probe_video(path)
        print(f"\n== {clip}: {info.width}x{info.height}, {info.frame_count} frames, {info.fps:.2f} fps")
        calibration = None
        if args.runtime == "onnx-int8":
            from core.analysis.calibration import calibration as shipped

            calibration = shipped()
        predictor = Predictor(model, device="auto", batch_size=args.batch_size, runtime=args.runtime,
                              calibration=calibration)
        by_detector, results = {}, {}
        for detector in args.detectors.split(","):
            options = AnalysisOptions(frames=FrameSelection("all"), torch_threads=args.torch_threads,
                                      batch_size=args.batch_size, identity=args.identity,
                                      detector=DetectorSettings(detector=detector))
            result = analyze_video(path, predictor, options, info=info)
            t = result.timings
            fps = len(result.frames) / t["total"]
            by_detector[detector], results[detector] = fps, result
            print(f"ours ({predictor.runtime}, {detector}): {len(result.frames)} frames in {t['total']:.1f} s = "
                  f"{fps:.1f} frames/s; faces {sum(len(f.faces) for f in result.frames)}, frames with a face "
                  f"{sum(bool(f.faces) for f in result.frames)}")
            print("       stage seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in t.items() if k != "total"))
        w = None
        if args.whole_process:
            import tempfile

            from core.model.checkpoints import save_model

            with tempfile.TemporaryDirectory() as tmp:
                ckpt = Path(args.model) if args.model else save_model(model, Path(tmp) / "bench.safetensors")
                w = whole_process(path, ckpt, args.runtime, info.frame_count, Path(tmp) / "out")
            t = w["timings"]
            print(f"whole process (caddm-analyze, defaults, all frames): {w['wall']:.1f} s = {w['fps']:.1f} "
                  f"frames/s; first score {t.get('startup', 0) + t.get('first_score', 0):.2f} s after the command's "
                  f"start (start-up {t.get('startup', 0):.2f} s: imports, model, probe; then face models "
                  f"{t.get('face_models', 0):.2f} s, first score {t.get('first_score', 0):.2f} s into the analysis); "
                  f"analysis {t.get('total', 0):.1f} s; reports and exit "
                  f"{w['wall'] - t.get('startup', 0) - t.get('total', 0):.1f} s")
        first, *rest = by_detector
        if rest:
            print("       throughput vs " + first + ": " + ", ".join(
                f"{d} {by_detector[d] / by_detector[first]:.2f}x" for d in rest))
        result, fps = results[first], by_detector[first]  # the naive loop is compared with the first detector's run
        n = min(args.naive_frames, info.frame_count)
        faces, frames, seconds, stages = naive(path, model, n)
        nfps = frames / seconds
        print(f"naive: {frames} frames in {seconds:.1f} s = {nfps:.1f} frames/s -> ours is {fps / nfps:.1f}x faster"
              + (f" in process, {w['fps'] / nfps:.1f}x as a whole process" if w else ""))
        print("       stage seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
        diffs = []
        ours_by_index = {f.index: f for f in result.frames}
        for idx, naive_faces in faces.items():
            ours = ours_by_index[idx].faces
            overlaps = box_iou(np.asarray([b for b, _ in naive_faces], np.float64).reshape(-1, 4),
                               np.asarray([f.box for f in ours], np.float64).reshape(-1, 4))
            for (box, prob), row in zip(naive_faces, overlaps):
                cand = [(float(o), f.score) for o, f in zip(row, ours)]
                if cand and max(cand)[0] > 0.5:
                    diffs.append(abs(max(cand)[1] - prob))
        if diffs:
            print(f"scores on {len(diffs)} faces both found: mean |diff| {np.mean(diffs):.4f}, max {np.max(diffs):.4f}")


if __name__ == "__main__":
    main()
