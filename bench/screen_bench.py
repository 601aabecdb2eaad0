"""caddm-screen on a local Ray against a sequential loop of caddm-analyze processes: videos/s on the same short
clips and frame settings, in the same run; Ray's overhead per video; each worker's resident memory.

    .venv/bin/python bench/screen_bench.py [--n 200] [--frames 8] [--clip-frames 25] [--workers 2] [--loop-n N]

Clips: `--n` pieces of `--clip-frames` frames cut (re-encoded, mp4v) from the real clips under
../shared/data/videos into a temporary folder that is removed at the end (research data: never committed).
The loop runs `caddm-analyze PIECE --frames F --format json --no-cache` once per piece on the first `--loop-n`
pieces (default: all), one process after another, as a shell loop over an archive would.
Ray overhead per video: (screen seconds after the workers are ready) x workers / videos - the mean analysis seconds
a worker reports for a video (dispatch, hashing on the driver, result transfer and commit).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.media_corpus import cut_clip  # noqa: E402
SHARED_VIDEOS = ROOT.parent / "shared" / "data" / "videos"


def cut_pieces(sources: list[Path], n: int, frames: int, folder: Path) -> list[Path]:
    """`n` clips of `frames` frames each, taken in turn from `sources` at successive offsets."""
    import cv2

    pieces, offset, k = [], 0, 0
    while len(pieces) < n and k < 20 * n:
        src = sources[k % len(sources)]
        k += 1
        cap = cv2.VideoCapture(str(src))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        start = (offset * frames) % max(1, total - frames)
        piece = cut_clip(src, folder / f"piece_{len(pieces):04d}.mp4", start, frames)
        if piece is not None:
            pieces.append(piece)
        if k % len(sources) == 0:
            offset += 1
    return pieces


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--clip-frames", type=int, default=25)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--loop-n", type=int, default=None)
    args = ap.parse_args()

    from core.common.threads import configure_threads

    configure_threads()
    import ray

    from core.analysis.engine import AnalysisOptions
    from core.model.checkpoints import read_checkpoint_info
    from core.media.frames import FrameSelection
    from core.model.registry import resolve_model
    from core.screen import journal
    from core.screen.driver import screen

    sources = sorted(p for p in SHARED_VIDEOS.rglob("*.mp4") if p.stat().st_size > 200_000)
    if not sources:
        sys.exit(f"no clips under {SHARED_VIDEOS}")
    tmp = Path(tempfile.mkdtemp(prefix="screen-bench-"))
    try:
        (tmp / "in").mkdir()
        pieces = cut_pieces(sources, args.n, args.clip_frames, tmp / "in")
        model = resolve_model(None)
        info = read_checkpoint_info(model)
        options = AnalysisOptions(frames=FrameSelection("count", args.frames), threshold=info.default_threshold)
        out = tmp / "out"
        out.mkdir()
        journal.check_manifest(out, info.sha256, info.name, options.settings().result_affecting())

        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING)
        t_init = time.perf_counter() - t0
        t1 = time.perf_counter()
        report = screen(pieces, out, str(model), options, workers=args.workers, progress=None,
                        model_sha256=info.sha256, model_name=info.name)
        t_screen = time.perf_counter() - t1
        ray.shutdown()
        rows = report.rows
        n_workers = len(report.workers)
        load_s = max(w["load_s"] for w in report.workers)
        start_s = report.start_s
        analysis = [r["analysis_s"] for r in rows if r["status"] != "error"]
        mean_analysis = sum(analysis) / max(1, len(analysis))
        steady = max(1e-9, t_screen - start_s)  # after the workers are ready
        overhead = steady * n_workers / len(pieces) - mean_analysis

        loop = pieces[: args.loop_n or len(pieces)]
        exe = str(Path(sys.executable).with_name("caddm-analyze"))
        t2 = time.perf_counter()
        for p in loop:
            subprocess.run([exe, str(p), "--out", str(tmp / "loop"), "--frames", str(args.frames), "--format", "json",
                            "--no-cache", "--quiet"], check=True, stdout=subprocess.DEVNULL)
        t_loop = time.perf_counter() - t2

        statuses = {s: sum(r["status"] == s for r in rows) for s in ("ok", "no_face", "error")}
        print(f"pieces: {len(pieces)} of {args.clip_frames} frames from {len(sources)} clips, --frames {args.frames}, "
              f"bundled model; rows {statuses}")
        print(f"ray.init (local): {t_init:.1f} s; workers: {n_workers} (1 CPU each), ready after {start_s:.1f} s "
              f"(process, imports, model; model load alone {load_s:.1f} s)")
        print(f"caddm-screen: {len(pieces)} videos in {t_screen:.1f} s = {len(pieces) / t_screen:.2f} videos/s "
              f"(with ray.init: {len(pieces) / (t_screen + t_init):.2f})")
        print(f"caddm-analyze loop: {len(loop)} videos in {t_loop:.1f} s = {len(loop) / t_loop:.2f} videos/s")
        print(f"speed-up: {(len(pieces) / (t_screen + t_init)) / (len(loop) / t_loop):.2f}x including ray.init")
        print(f"mean analysis per video in a worker: {mean_analysis:.2f} s; Ray overhead per video: {overhead:.3f} s")
        print(f"worker RSS: peak {report.peak_rss_mb:.0f} MiB; at start {[w['rss_mb'] for w in report.workers]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
