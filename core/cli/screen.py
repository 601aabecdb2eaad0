"""`caddm-screen`: screen an archive of videos on Ray (docs/SCREENING.md).

    caddm-screen INPUT... --out DIR [--address ADDR] [--frames N | --all-frames] [--model PATH]
                 [--workers N] [--cpus-per-worker C] [--gpus-per-worker F] [--retries R] [--retry-errors] [--quiet]

INPUT: video files, folders (searched recursively for video files) or lists of paths, one a line (`@FILE`, or a
file ending in .txt or .lst). Writes DIR/results.parquet, DIR/summary.csv and DIR/results/<sha256>.json; a rerun
into the same DIR skips every video done. Exit codes: 0 every input has its row and none is an error, 1 every input
has its row but some are errors (or the workers could not start), 2 usage error (also: Ray or pyarrow missing, DIR
holding a screen with another model or settings).
"""
from __future__ import annotations

import argparse
import os
import sys

from core.common.errors import CaddmError

PROG = "caddm-screen"
INSTALL_HINT = "pip install 'caddm-inspector[screen]' (scripts/bootstrap.sh installs it)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Screen many videos on Ray: one row per file (score, verdict, most suspicious frame) "
                               "in DIR/results.parquet and DIR/summary.csv, each full result in DIR/results/.",
        epilog="Exit codes: 0 all rows written, none an error; 1 all rows written, some errors; 2 usage error.")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders of videos, or lists of paths (@FILE, or FILE.txt / FILE.lst)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (a rerun into it resumes)")
    p.add_argument("--address", metavar="ADDR",
                   help="join a running Ray cluster (auto, HOST:PORT or ray://HOST:10001); default: start a local "
                        "Ray on this machine")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--frames", type=int, metavar="N", help="analyse N evenly spaced frames (default 32)")
    sel.add_argument("--all-frames", action="store_true", help="analyse every frame")
    p.add_argument("--model", metavar="PATH", help="checkpoint (default: the bundled model); the same path on every node")
    p.add_argument("--workers", type=int, metavar="N",
                   help="analysing actors (default: the cluster's CPUs / --cpus-per-worker, or its GPUs / "
                        "--gpus-per-worker)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="C",
                   help="CPUs each actor reserves (its model threads; default 1)")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="F",
                   help="GPUs each actor reserves (0: the CPU path, ONNX Runtime; > 0: CUDA with torch)")
    p.add_argument("--retries", type=int, default=2, metavar="R",
                   help="times a video is retried when its worker dies (default 2), then an error row")
    p.add_argument("--retry-errors", action="store_true", help="analyse again the videos whose row is an error")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _usage(parser, message: str) -> int:
    parser.print_usage(sys.stderr)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _connector(ray, address: str | None, started: list):
    """A `connect()` for `core.screen.driver.screen`: reuse a Ray this process has, else join `address` or start a
    local Ray on this machine; prints the dashboard's address when there is one; appends True to `started` when it
    started or joined (the caller shuts it down)."""
    def connect() -> None:
        import logging

        if ray.is_initialized():
            return
        if address:
            ctx = ray.init(address=address, logging_level=logging.WARNING)
        else:
            ctx = ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level=logging.WARNING)
        started.append(True)
        url = getattr(ctx, "dashboard_url", "") or ""
        if url:
            print(f"Ray dashboard: {url if '://' in url else 'http://' + url}", file=sys.stderr)

    return connect


class _Bar:
    """tqdm over videos: done/total, videos/s, suspicious so far (no bar with `quiet`)."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def __call__(self, done: int, total: int, suspicious: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="video", desc="screening", file=sys.stderr,
                            dynamic_ncols=True, smoothing=0.1)
        self.bar.update(done - self.bar.n)
        self.bar.set_postfix_str(f"suspicious {suspicious}", refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def main(argv: list[str] | None = None) -> int:
    from core.common.threads import configure_threads

    configure_threads()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.frames is not None and args.frames < 1:
        return _usage(parser, "--frames must be >= 1")
    if args.workers is not None and args.workers < 1:
        return _usage(parser, "--workers must be >= 1")
    if args.retries < 0 or args.cpus_per_worker <= 0 or args.gpus_per_worker < 0:
        return _usage(parser, "--retries and --gpus-per-worker must be >= 0, --cpus-per-worker > 0")
    try:
        import pyarrow  # noqa: F401 - checked before any work starts
        import ray
    except ImportError as e:
        print(f"{PROG}: error: {e.name} is not installed: {INSTALL_HINT}", file=sys.stderr)
        return 2

    from core.common.atomic import ensure_output_dir
    from core.screen.inputs import expand_inputs

    paths, problems = expand_inputs(args.inputs)
    for msg in problems:
        print(f"error: {msg}", file=sys.stderr)
    if not paths:
        return _usage(parser, "no input files to screen")

    from core.analysis.engine import AnalysisOptions
    from core.model.checkpoints import read_checkpoint_info
    from core.media.frames import FrameSelection
    from core.model.registry import resolve_model
    from core.screen import journal
    from core.screen.driver import ScreenError, screen

    try:
        out = ensure_output_dir(args.out)
        model_path = resolve_model(args.model)
        info = read_checkpoint_info(model_path)
    except CaddmError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    frames = FrameSelection("all", 1) if args.all_frames else FrameSelection("count", args.frames or 32)
    options = AnalysisOptions(frames=frames, threshold=info.default_threshold)
    problem = journal.check_manifest(out, info.sha256, info.name, options.settings().result_affecting())
    if problem:
        return _usage(parser, problem)

    started: list = []
    bar = _Bar(args.quiet)
    try:
        report = screen(paths, out, str(model_path), options, connect=_connector(ray, args.address, started),
                        workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                        gpus_per_worker=args.gpus_per_worker, retries=args.retries, retry_errors=args.retry_errors,
                        progress=bar, model_sha256=info.sha256, model_name=info.name)
    except (ScreenError, CaddmError) as e:  # workers that cannot start; an output folder no longer writable
        bar.close()
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.close()
        print(f"{PROG}: interrupted; every finished video is committed in {out}: rerun to go on", file=sys.stderr)
        return 130
    finally:
        if started:
            ray.shutdown()
    bar.close()
    n = len(report.rows)
    fake = sum(r["verdict"] == "fake" for r in report.rows)
    print(f"{n} file{'s' * (n != 1)}: {report.analysed} analysed now, {report.skipped} done before, {fake} at or "
          f"above the threshold {info.default_threshold:g}, {report.errors} error{'s' * (report.errors != 1)} "
          f"-> {out / 'summary.csv'}", flush=True)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
