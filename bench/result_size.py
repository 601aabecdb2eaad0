"""How big a long all-frames analysis gets: report.json and the case file, for each `--landmarks` setting.

    .venv/bin/python bench/result_size.py [--clips real/s32.mp4,real/ghost_2person.mp4,ffpp/750_743.mp4]
                                          [--frames 150] [--minutes 10]

For each clip (720p real, 720p with two people, a 1080p FF++ fake with artifact boxes), analyses the first
`--frames` frames (all frames, the bundled model, identity on), then tiles that
result to `--minutes` of video at the clip's frame rate (frame indices and times shifted; the content of each frame
is a real analysed frame) and writes what a run of that length writes: report.json (`write_reports`, as
`caddm-analyze` does) and a case with the evidence and the analysis recorded (`core.case`). Prints bytes per frame
and the totals per landmark setting. The budget (issue 13): under 15 MB each for 10 minutes of 720p.
Clips are read from ../shared/data/videos (research/unclear licences: read there, never copied).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()

from core.analysis.engine import AnalysisOptions, analyze_video  # noqa: E402
from core.case import Case  # noqa: E402
from core.faces.landmark_sets import LANDMARK_KEEP, keep_landmarks  # noqa: E402
from core.media.frames import FrameSelection  # noqa: E402
from core.reports import write_reports  # noqa: E402
from core.analysis.summary import summarize, track_summaries  # noqa: E402
from core.analysis.runner import load_predictor  # noqa: E402
from core.media.video import probe_video  # noqa: E402

SHARED = Path(os.environ.get("CADDM_SHARED", ROOT.parent / "shared"))


def tiled(result, n_frames: int, fps: float):
    """The result with its frames repeated (indices and times shifted) up to n_frames frames."""
    src, out = result.frames, []
    period = src[-1].index + 1
    for k in range(n_frames):
        f = src[k % len(src)]
        shift = (k // len(src)) * period
        out.append(replace(f, index=f.index + shift, time_s=(f.index + shift) / fps))
    thr = result.settings.threshold
    return replace(result, frames=out, tracks=track_summaries(out, thr), summary=summarize(out, thr))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default="real/s32.mp4,real/ghost_2person.mp4,ffpp/750_743.mp4")
    ap.add_argument("--frames", type=int, default=150, help="frames analysed for real (all frames from the start)")
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    predictor = load_predictor(None, device="cpu")
    for name in args.clips.split(","):
        clip = SHARED / "data" / "videos" / name
        if not clip.is_file():
            print(f"{clip}: not found (needs ../shared)", file=sys.stderr)
            return 1
        measure(clip, predictor, args.frames, args.minutes)
    return 0


def measure(clip: Path, predictor, frames: int, minutes: float) -> None:
    info = probe_video(clip)
    n = int(round(minutes * 60 * info.fps))
    print(f"{clip.name}: {info.width}x{info.height} at {info.fps:.2f} fps; {frames} frames analysed, tiled to "
          f"{n} frames ({minutes:g} min)")
    head = replace(info, frame_count=min(frames, info.frame_count))  # "all" frames of the first part
    full = analyze_video(clip, predictor, AnalysisOptions(frames=FrameSelection("all"), landmarks="68"), info=head)
    full = replace(full, video=info)
    faces = [face for f in full.frames for face in f.faces]
    print(f"  {len(faces) / max(1, len(full.frames)):.2f} faces a frame, "
          f"{sum(len(face.artifacts) for face in faces) / max(1, len(faces)):.2f} artifact boxes a face")
    for keep in LANDMARK_KEEP:  # what analyze_video keeps for each setting, from the same run
        kept = [replace(f, faces=[replace(face, landmarks=keep_landmarks(face.landmarks, keep))
                                  for face in f.faces]) for f in full.frames]
        settings = replace(full.settings, extra={**full.settings.extra, "landmarks": keep})
        result = tiled(replace(full, frames=kept, settings=settings), n, info.fps)
        with tempfile.TemporaryDirectory() as tmp:
            written = write_reports(result, Path(tmp) / "r", formats=("json",))
            json_bytes = Path(written["json"]).stat().st_size
            case_path = Path(tmp) / "size.caddmcase"
            with Case.create(case_path, case_id="size", analyst="bench") as case:
                case.record_run(clip, info, result, False, result.created_utc)
            case_bytes = sum(p.stat().st_size for p in Path(tmp).glob("size.caddmcase*"))
        print(f"  --landmarks {keep:>4}: report.json {json_bytes / 1e6:6.1f} MB ({json_bytes / n:5.0f} B/frame), "
              f"case {case_bytes / 1e6:5.1f} MB ({case_bytes / n:4.0f} B/frame)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
