"""`caddm-analyze`: analyse suspect videos headless and write evidence reports.

    caddm-analyze VIDEO_OR_FOLDER... --out DIR [--model PATH] [--device auto|cpu|cuda|mps]
                  [--all-frames | --stride K | --frames N] [--threshold T] [--format json,csv,html,pdf]
                  [--case-id ID] [--analyst NAME] [--notes TEXT] [--case FILE] [--no-cache]
                  [--reference PATH [PATH ...]]

Writes DIR/<video name>/ per video and prints one verdict line per video.
Exit codes: 0 all videos analysed, 1 at least one failed (the others still run), 2 usage error.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.common.atomic import ensure_output_dir
from core.model.device import DEVICE_CHOICES, RUNTIME_CHOICES
from core.faces.detector_choice import DEFAULT_DETECTOR, DETECTORS
from core.faces.landmark_sets import DEFAULT_LANDMARK_KEEP, LANDMARK_KEEP
from core.common.errors import CaddmError, OutputError
from core.media.evidence import collect_videos
from core.reports import FORMATS
from core.common.process import since_start_s
from core.common.threads import configure_threads


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="caddm-analyze",
        description="Analyse suspect videos for face manipulation with CADDM and write reports "
                    "(per-frame P(fake), artifact boxes, video verdict).",
        epilog="Exit codes: 0 all analysed, 1 a video failed (the others still run), 2 usage error.")
    p.add_argument("inputs", nargs="+", metavar="VIDEO_OR_FOLDER", help="video files, or folders of videos")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder; one sub-folder per video")
    p.add_argument("--model", metavar="PATH", help="checkpoint: ours (.safetensors) or the authors' (.pkl); "
                                                   "default: the bundled model")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--runtime", default="auto", choices=RUNTIME_CHOICES,
                   help="what runs the model: auto = ONNX Runtime on the CPU (1.6-1.8x faster, same scores within "
                        "1e-6), torch on a GPU; recorded in the report")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--all-frames", action="store_true", help="analyse every frame")
    sel.add_argument("--stride", type=int, metavar="K", help="analyse every K-th frame")
    sel.add_argument("--frames", type=int, metavar="N", help="analyse N evenly spaced frames (default 32, as the paper)")
    p.add_argument("--threshold", type=float, default=None,
                   help="P(fake) at or above which a frame/video is called fake (default: the model's calibrated "
                        "threshold from its card, 0.5 for a model without one)")
    p.add_argument("--format", default=",".join(FORMATS), help="comma-separated report formats: "
                                                               + ",".join(FORMATS))
    p.add_argument("--case-id", default=None)
    p.add_argument("--analyst", default=None)
    p.add_argument("--notes", default=None, help="case notes for the report header")
    p.add_argument("--case", metavar="FILE", help="record each video, its analysis and its reports in this case file "
                                                  "(created when missing, with --case-id and --analyst; docs/CASES.md)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--no-cache", action="store_true", help="re-analyse even when a cached result exists")
    p.add_argument("--reference", nargs="+", metavar="PATH", default=None,
                   help="photos or videos of the person the videos claim to show: each face is compared with them "
                        "(identity evidence, separate from P(fake))")
    p.add_argument("--no-identity", action="store_true",
                   help="skip the identity descriptors (faster: about 0.64x throughput with them; no identity "
                        "section, and --reference cannot be used)")
    p.add_argument("--landmarks", choices=LANDMARK_KEEP, default=DEFAULT_LANDMARK_KEEP,
                   help="the landmarks each face keeps in the result and report.json: none, 5 (eye centres, nose "
                        "tip, mouth corners) or all 68 (about 6 KB a face more); default %(default)s")
    p.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR,
                   help="face detector: retinaface (RetinaFace in ONNX Runtime; finds dim, turned and degraded faces "
                        "dlib misses), hog (dlib HOG with its retries and the CNN fallback: the detector of results "
                        "made before retinaface) or cnn (dlib MMOD alone, slow); default %(default)s")
    p.add_argument("--no-exposure-retry", action="store_true",
                   help="face detection: do not look again on an exposure-normalised copy when the detector finds no face "
                        "(dim footage; the scored crops are never normalised)")
    p.add_argument("--no-cnn-fallback", action="store_true",
                   help="face detection (--detector hog): do not run the slower MMOD CNN detector on frames where HOG "
                        "finds no face "
                        "(turned, dim faces; about 1-2 s a frame on a CPU, only on frames without a face)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _frame_selection(args):
    from core.media.frames import FrameSelection

    if args.all_frames:
        return FrameSelection("all", 1)
    if args.stride is not None:
        return FrameSelection("stride", args.stride)
    return FrameSelection("count", args.frames if args.frames is not None else 32)


def _out_dirs(videos: list[Path], out: Path) -> list[Path]:
    """DIR/<video stem>, with a numeric suffix where two inputs share a name."""
    used: dict[str, int] = {}
    dirs = []
    for v in videos:
        name = v.stem or "video"
        n = used.get(name, 0)
        used[name] = n + 1
        dirs.append(out / (name if n == 0 else f"{name}-{n + 1}"))
    return dirs


class ProgressBar:
    """A one-line progress bar on stderr (redrawn at most 5 times a second; plain lines when not a terminal)."""

    def __init__(self, label: str, enabled: bool = True):
        self.label, self.enabled = label, enabled
        self.tty = sys.stderr.isatty()
        self.start = time.perf_counter()
        self.last = 0.0
        self.last_pct = -1

    def __call__(self, done: int, total: int, _frame=None) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.perf_counter()
        pct = int(100 * done / total)
        if self.tty:
            if now - self.last < 0.2 and done < total:
                return
            elapsed = now - self.start
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = (total - done) / rate if rate > 0 else 0.0
            bar = "#" * (pct * 30 // 100)
            sys.stderr.write(f"\r{self.label[:28]:28s} [{bar:30s}] {done}/{total} {rate:5.1f} fr/s ETA {eta:4.0f}s")
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif pct // 25 != self.last_pct // 25 or done >= total:
            print(f"{self.label}: {done}/{total} frames", file=sys.stderr, flush=True)
            self.last_pct = pct
        self.last = now


def headline_line(result, report_dir: Path) -> str:
    """One line per video: the findings' headline (`core.analysis.findings`), the video score, the file, then each line
    of evidence as "key status [figure]", coverage, tracks and threshold, and where the reports went."""
    s, found = result.summary, result.findings()
    score = "  n/a" if s.video_score is None else f"{s.video_score:.3f}"
    state = "" if result.complete else " INCOMPLETE"
    lines = "; ".join(f"{e.key} {e.status}" + ("" if e.value is None else f" {e.value:.3f}")
                      for e in found.evidence if e.key != "coverage")
    return (f"{found.headline}  {score}  {result.video.path}  ({lines}; {s.frames_with_faces}/{s.frames_analysed} "
            f"frames with a face, {s.n_tracks} track{'s' if s.n_tracks != 1 else ''}, threshold {s.threshold:g})"
            f"{state} -> {report_dir}")


def _failure(e: Exception, video: Path, report_dir: Path, stage: str) -> str:
    """The error line for one video: ours as they are, an OS error as the report folder's, anything else a bug."""
    if isinstance(e, CaddmError):
        return f"error: {e}"
    if isinstance(e, OSError):
        return f"error: {OutputError(report_dir, f'cannot write reports ({e.strerror or e})')}"
    return f"error: {video}: {stage} failed ({type(e).__name__}: {e}); please report this"


def main(argv: list[str] | None = None) -> int:
    configure_threads()  # before anything loads torch
    parser = build_parser()
    args = parser.parse_args(argv)
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        parser.error(f"unknown report format(s) {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")
    if args.stride is not None and args.stride < 1:
        parser.error("--stride must be >= 1")
    if args.frames is not None and args.frames < 1:
        parser.error("--frames must be >= 1")
    if args.no_identity and args.reference:
        parser.error("--reference needs the identity descriptors: drop --no-identity")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        parser.error("--threshold must be between 0 and 1")
    if args.no_cnn_fallback and args.detector != "hog":
        parser.error(f"--no-cnn-fallback applies to --detector hog only (the {args.detector} detector has no CNN fallback)")
    if args.no_exposure_retry and args.detector == "cnn":
        parser.error("--no-exposure-retry does not apply to --detector cnn (it has no retries)")

    videos, problems = collect_videos(args.inputs)
    for msg in problems:
        print(f"error: {msg}", file=sys.stderr)
    out = Path(args.out)
    try:
        ensure_output_dir(out)
    except CaddmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not videos:
        return 1

    # Heavy imports only once the arguments are known to be good (--help stays instant).
    from dataclasses import replace

    from core.analysis.engine import AnalysisOptions
    from core.analysis.cache import ResultCache
    from core.faces.pipeline import DetectorSettings
    from core.reports import write_reports
    from core.analysis.runner import analyze_cached, load_predictor
    from core.analysis.results import CaseInfo
    from core.media.video import VideoReader, probe_video

    try:
        predictor = load_predictor(args.model, device=args.device, batch_size=args.batch_size, runtime=args.runtime)
    except (CaddmError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    reference = None
    if args.reference:
        from core.analysis.reference_scan import load_reference

        try:
            reference = load_reference(args.reference)
        except CaddmError as e:  # the face models themselves are missing
            print(f"error: {e}", file=sys.stderr)
            return 1
        for msg in reference.messages():
            print(f"warning: {msg}", file=sys.stderr)
    threshold = predictor.info.default_threshold if args.threshold is None else args.threshold
    detector = replace(DetectorSettings(), detector=args.detector, normalise_exposure=not args.no_exposure_retry,
                       cnn_fallback=not args.no_cnn_fallback)
    options = AnalysisOptions(frames=_frame_selection(args), threshold=threshold, batch_size=args.batch_size,
                              identity=not args.no_identity, landmarks=args.landmarks, detector=detector)
    cache = None if args.no_cache else ResultCache()
    case = CaseInfo(case_id=args.case_id, analyst=args.analyst, notes=args.notes) \
        if (args.case_id or args.analyst or args.notes) else None

    case_file = None
    if args.case:
        from core.case import Case, review_import_plan, utc_now
        try:
            case_file = Case.open(args.case, "c", case_id=args.case_id, analyst=args.analyst, notes=args.notes or "",
                                  program="caddm-analyze")
        except CaddmError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        for note in case_file.notices:
            print(f"note: {note}", file=sys.stderr)

    def write(result, report_dir: Path, video: Path) -> dict:
        with VideoReader(video) as reader:
            return write_reports(result, report_dir, formats=formats, frame_source=reader.read_frame)

    def finish(job) -> bool:
        """Wait for a video's reports, record them in the case, print its verdict line; True if it failed."""
        future, video, report_dir, result, record = job
        try:
            written = future.result()
            if case_file:
                case_file.record_exports(record.item, record.id, written)
        except Exception as e:  # noqa: BLE001 - a bug must not stop the other videos or show a trace
            print(_failure(e, video, report_dir, "reports"), file=sys.stderr)
            return True
        print(headline_line(result, report_dir), flush=True)
        for t in result.tracks if reference is not None else []:
            if t.identity is not None and t.identity.verdict is not None:
                print(f"        identity, track {t.track}: {t.identity.verdict} (median distance to the "
                      f"reference {t.identity.median:.3f}, {t.identity.n} described faces)", flush=True)
        return False

    # A video's reports are written on one background thread while the next video is analysed (the PDF alone takes
    # about a second); verdict lines, case records and errors still come in the order of the videos.
    failed, first, pending = bool(problems), True, None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reports") as reports:
        for video, report_dir in zip(videos, _out_dirs(videos, out)):
            try:
                info = probe_video(video)
                bar = ProgressBar(video.name, enabled=not args.quiet)
                started = utc_now() if case_file else None
                startup = since_start_s() if first else None
                first = False
                result, cached = analyze_cached(video, predictor, options, cache, progress=bar, info=info,
                                                reference=reference, startup_s=startup)
                record = None
                if case_file:  # the report then shows the case's review and audit summary
                    cached_review = result.review
                    result, record = case_file.record_run(video, info, result, cached, started)
                    if cached and review_import_plan(result.review, cached_review)[0]:
                        print(f"note: the cached result of {video} holds review work the case lacks: caddm-case "
                              f"import-cache {args.case} {video} offers it", file=sys.stderr)
                else:
                    result.case = case
                report_dir.mkdir(parents=True, exist_ok=True)
                job = (reports.submit(write, result, report_dir, video), video, report_dir, result, record)
            except Exception as e:  # noqa: BLE001 - a bug must not stop the other videos or show a trace
                job, error = None, _failure(e, video, report_dir, "analysis")
            else:
                error = None
            if pending is not None:
                failed = finish(pending) or failed
            pending = job
            if error:
                print(error, file=sys.stderr)
                failed = True
        if pending is not None:
            failed = finish(pending) or failed
    if case_file:
        case_file.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
