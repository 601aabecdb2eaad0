"""Identity evidence on real FaceForensics++ pairs: how far swapped faces lie from a reference of the claimed person,
and what identity descriptors cost in analysis time.

    .venv/bin/python bench/identity_bench.py [--frames 16] [--groups c40,c23,faceshifter] [--model PATH]
    .venv/bin/python bench/identity_bench.py --time s32.mp4            # analysis time, identity off vs on
    .venv/bin/python bench/identity_bench.py --consistency             # within-track spread on real clips

Protocol (per original video T of a group): the reference is 16 evenly spaced frames of the first 30% of
`original/T.mp4`, written losslessly as PNG photos into a temporary folder and loaded with
`core.analysis.reference_scan.load_reference` (the photos' path of `caddm-analyze --reference`). The real test clip is
the rest of T: T is analysed with `core.analysis.runner.analyze_cached` (the code path of `caddm-analyze`, no cache) on
about `--frames` evenly spaced frames after the cut, and only faces after the cut count. Each fake `T_S.mp4` (target T's
video with source S's face) is analysed the same way on `--frames` evenly spaced frames of the whole clip. A
video's score is the median identity distance of its described faces; AUC of each method's fakes against the real
rests of the same group (1.0: every fake lies farther from its reference than every real rest). Also shown: the
real video of the other person of the pair (S's rest against T's reference), the distance between two real people.

`--consistency`: every clip of videos/real (real people, no reference) on `--frames` evenly spaced frames, every
analysed face described: each track's consistency (distance of its faces to the track's median descriptor), to
calibrate JUMP_DISTANCE.

Everything is read from ../shared/data/videos (research licences: read there, never copied into the project).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()  # first: passive OpenMP waiting, before torch loads
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from core.analysis.engine import AnalysisOptions  # noqa: E402
from core.faces.identity import identity_verdict  # noqa: E402
from core.media.frames import FrameSelection  # noqa: E402
from core.analysis.reference_scan import load_reference  # noqa: E402
from core.analysis.runner import analyze_cached, load_predictor  # noqa: E402
from core.train.evaluation import roc_auc  # noqa: E402
from core.media.video import VideoReader, quick_probe  # noqa: E402

SHARED = Path(os.environ.get("CADDM_SHARED", ROOT.parent / "shared"))
VIDEOS = SHARED / "data" / "videos"
REF_SHARE = 0.3
C40_METHODS = ("Deepfakes", "FaceSwap", "Face2Face", "NeuralTextures")
SWAPS = {"Deepfakes", "FaceSwap", "FaceShifter"}


def groups(names: list[str]) -> list[tuple[str, Path, dict[str, list[Path]]]]:
    """(group, originals folder, {method: fakes}) for the chosen groups."""
    out = []
    for name in names:
        if name == "c40":
            base = VIDEOS / "ffpp_c40"
            out.append(("c40", base / "original", {m: sorted((base / m).glob("*.mp4")) for m in C40_METHODS}))
        elif name == "c23":
            base = VIDEOS / "ffpp"
            out.append(("c23", base, {"Deepfakes": [base / "519_515.mp4"]}))
        elif name == "faceshifter":
            base = VIDEOS / "ffpp_c23"
            out.append(("c23 FaceShifter", base / "original", {"FaceShifter": sorted((base / "FaceShifter").glob("*.mp4"))}))
        else:
            raise SystemExit(f"unknown group {name!r}: c40, c23, faceshifter")
    return out


def write_reference_frames(video: Path, folder: Path, n: int) -> tuple[list[Path], int]:
    """n evenly spaced frames of the first REF_SHARE of `video` as PNG files; returns (files, first frame after)."""
    count, _, _ = quick_probe(video)
    cut = max(1, int(REF_SHARE * count))
    files = []
    with VideoReader(video) as reader:
        for frame in reader.frames(FrameSelection("count", n).indices(cut)):
            path = folder / f"{video.stem}_{frame.index:05d}.png"
            cv2.imwrite(str(path), frame.image)
            files.append(path)
    return files, cut


def face_distances(result, first_frame: int = 0) -> np.ndarray:
    return np.array([f.identity_distance for fr in result.frames if fr.index >= first_frame for f in fr.faces
                     if f.identity_distance is not None])


def run_identity(args) -> None:
    predictor = load_predictor(args.model)
    rows = []  # (group, kind, video, n described faces, median distance, verdict)
    with tempfile.TemporaryDirectory(prefix="identity_bench_") as tmp:
        for group, originals, fakes in groups(args.groups.split(",")):
            targets = sorted({p.stem.split("_")[0] for ps in fakes.values() for p in ps})
            refs, rests = {}, {}
            for t in targets:
                original = originals / f"{t}.mp4"
                if not original.exists():
                    print(f"  {group}: no original {original.name}; its fakes are left out", flush=True)
                    continue
                files, cut = write_reference_frames(original, Path(tmp), args.ref_frames)
                refs[t] = load_reference(files)
                # about --frames evenly spaced frames after the cut: the analysis spreads them over the whole clip
                sel = FrameSelection("count", math.ceil(args.frames / (1 - REF_SHARE)))
                result, _ = analyze_cached(original, predictor, AnalysisOptions(frames=sel),
                                           reference=refs[t])
                rests[t] = (result, cut)
                d = face_distances(result, cut)
                rows.append((group, "real rest", original.name, len(d), np.median(d) if len(d) else math.nan,
                             identity_verdict(d)))
                print(f"  {group} real rest {original.name}: {len(refs[t].descriptors)} reference faces, "
                      f"{len(d)} described test faces, median {rows[-1][4]:.3f}", flush=True)
            for t, (result, cut) in rests.items():  # another real person against T's reference
                for s in targets:
                    if s != t and s in rests and any(p.stem == f"{t}_{s}" for ps in fakes.values() for p in ps):
                        other = rests[s][0].with_reference(refs[t])
                        d = face_distances(other, rests[s][1])
                        rows.append((group, "other real person", f"{s}.mp4 vs ref {t}", len(d),
                                     np.median(d) if len(d) else math.nan, identity_verdict(d)))
            for method, paths in fakes.items():
                for path in paths:
                    t = path.stem.split("_")[0]
                    if t not in refs:
                        continue
                    opts = AnalysisOptions(frames=FrameSelection("count", args.frames))
                    result, _ = analyze_cached(path, predictor, opts, reference=refs[t])
                    d = face_distances(result)
                    rows.append((group, method, path.name, len(d), np.median(d) if len(d) else math.nan,
                                 identity_verdict(d)))
                    print(f"  {group} {method} {path.name}: {len(d)} described faces, median {rows[-1][4]:.3f}",
                          flush=True)
    report(rows)


def report(rows) -> None:
    print("\nPer video: group | kind | video | described faces | median distance | verdict")
    for r in rows:
        print(f"  {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.3f} | {r[5]}")
    print("\n| group | videos | n | median of medians | range | AUC vs real rests | same / inconclusive / different |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for group in dict.fromkeys(r[0] for r in rows):
        g = [r for r in rows if r[0] == group]
        real = [r[4] for r in g if r[1] == "real rest" and not math.isnan(r[4])]
        for kind in dict.fromkeys(r[1] for r in g):
            k = [r for r in g if r[1] == kind]
            med = np.array([r[4] for r in k if not math.isnan(r[4])])
            auc = "" if kind == "real rest" else f"{roc_auc([1] * len(med) + [0] * len(real), list(med) + real):.3f}"
            verdicts = " / ".join(str(sum(r[5] == v for r in k))
                                  for v in ("same person", "inconclusive", "different person"))
            label = f"{kind} (swap)" if kind in SWAPS else kind
            print(f"| {group} | {label} | {len(k)} | {np.median(med):.3f} | {med.min():.3f}-{med.max():.3f} | "
                  f"{auc} | {verdicts} |")


def run_timing(args) -> None:
    """All frames of one clip, no cache, identity off and on (and on at every analysed frame), alternating."""
    clip = Path(args.time)
    if not clip.exists():
        clip = VIDEOS / "real" / args.time
    predictor = load_predictor(args.model)
    runs = {"off": AnalysisOptions(frames=FrameSelection("all"), identity=False),
            "on (default)": AnalysisOptions(frames=FrameSelection("all")),
            "on, every frame": AnalysisOptions(frames=FrameSelection("all"), identity_every=1)}
    fps: dict[str, list[float]] = {k: [] for k in runs}
    for rep in range(args.repeats):
        for name, options in runs.items():
            t = time.perf_counter()
            result, _ = analyze_cached(clip, predictor, options)
            dt = time.perf_counter() - t
            fps[name].append(len(result.frames) / dt)
            n = sum(f.descriptor is not None for fr in result.frames for f in fr.faces)
            print(f"  {rep + 1}: {name:16s} {dt:6.2f} s  {fps[name][-1]:5.1f} frames/s  {n} descriptors  "
                  f"identity stage {result.timings.get('identity', 0):.2f} s", flush=True)
    off = np.mean(fps["off"])
    print(f"\n{clip.name}, {len(result.frames)} frames, all frames, no cache:")
    for name, v in fps.items():
        print(f"  {name:16s} {np.mean(v):5.1f} frames/s  ({np.mean(v) / off:.2f}x of off)")


def run_consistency(args) -> None:
    from core.faces.identity import JUMP_DISTANCE, track_consistency

    predictor = load_predictor(args.model)
    options = AnalysisOptions(frames=FrameSelection("count", args.frames), identity_every=1)
    maxima = []
    for clip in sorted((VIDEOS / "real").iterdir()):
        result, _ = analyze_cached(clip, predictor, options)
        for t in result.tracks:
            desc = [f.descriptor for fr in result.frames for f in fr.faces
                    if f.track == t.track and f.descriptor is not None]
            if len(desc) < 3:
                continue
            c = track_consistency(np.stack(desc))
            maxima.append(float(c.max()))
            print(f"  {clip.name} track {t.track}: {len(desc)} faces, consistency median {np.median(c):.3f} "
                  f"max {c.max():.3f}, {int((c > JUMP_DISTANCE).sum())} above {JUMP_DISTANCE}", flush=True)
    m = np.array(maxima)
    print(f"\n{len(m)} tracks (>= 3 faces) of real clips: per-track maximum consistency distance: median "
          f"{np.median(m):.3f}, 90th percentile {np.percentile(m, 90):.3f}, max {m.max():.3f}; "
          f"{int((m > JUMP_DISTANCE).sum())} tracks with a jump above {JUMP_DISTANCE}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=16, help="analysed frames per test clip")
    p.add_argument("--ref-frames", type=int, default=16, help="reference frames from each original's first 30%%")
    p.add_argument("--groups", default="c40,c23", help="c40, c23, faceshifter (comma-separated)")
    p.add_argument("--model", default=None, help="CADDM checkpoint (default: the bundled model; scores unused)")
    p.add_argument("--time", metavar="CLIP", help="measure analysis time with identity off / on on this clip")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--consistency", action="store_true", help="within-track consistency on the real clips")
    args = p.parse_args()
    run_timing(args) if args.time else run_consistency(args) if args.consistency else run_identity(args)


if __name__ == "__main__":
    main()
