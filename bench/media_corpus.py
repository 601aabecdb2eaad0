"""One line per hard-media corpus case (tests/media_corpus.py), the 1-hour stream included: analysed or refused,
and why.

    .venv/bin/python bench/media_corpus.py [--cases vfr,hour_stream] [--frames 3] [--keep DIR]

Each case is built, then probed, read and analysed in a fresh child process (so its peak RSS is its own):
`probe_video` (timed), every frame through `VideoReader` (the 1-hour stream: only the analysed ones),
`keyframe_index` (timed; peak RSS before them, once OpenCV and torch are imported, and how much they add), and a `--frames`-frame analysis with the bundled default model (a random tiny model when the
bundled one is absent). A case is "refused" when a VideoError is raised; the line gives its message.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _model_path(folder: Path) -> Path:
    from core.model.registry import default_model_path

    path = default_model_path()
    if path is not None and Path(path).exists():
        return Path(path)
    import torch

    from core.model.checkpoints import save_model
    from core.model.caddm import CADDM
    from core.model.config import ModelConfig

    torch.manual_seed(0)
    tiny = folder / "tiny.safetensors"
    save_model(CADDM(ModelConfig(backbone="timm:resnet18", adm_width=32)).eval(), tiny, name="tiny-random")
    return tiny


def _run_case(path: str, model: str, frames: int, read_all: bool, queue) -> None:
    import resource

    from core.common.threads import configure_threads

    configure_threads()
    from core.analysis.engine import AnalysisOptions, analyze_video
    from core.model.checkpoints import load_model
    from core.common.errors import VideoError
    from core.media.evidence import media_summary
    from core.media.frames import FrameSelection
    from core.model.inference import Predictor
    from core.media.container import keyframe_index
    from core.media.video import VideoReader, probe_video

    out: dict = {"base_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    try:
        t = time.perf_counter()
        info = probe_video(path)
        out["probe_s"] = time.perf_counter() - t
        out["frames"] = info.frame_count
        out["size"] = f"{info.width}x{info.height}"
        out["media"] = media_summary(info)
        t = time.perf_counter()
        out["keyframes"] = len(keyframe_index(path))
        out["keyframe_s"] = time.perf_counter() - t
        if read_all:
            t = time.perf_counter()
            with VideoReader(path) as r:
                sizes, n = set(), 0
                for f in r.frames():
                    sizes.add(f"{f.image.shape[1]}x{f.image.shape[0]}")
                    n += 1
            out["read"], out["read_sizes"], out["read_s"] = n, sorted(sizes), time.perf_counter() - t
        out["probe_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        predictor = Predictor(load_model(model), device="cpu", batch_size=4)
        t = time.perf_counter()
        result = analyze_video(path, predictor, AnalysisOptions(frames=FrameSelection("count", frames)), info=info)
        out["analysis_s"] = time.perf_counter() - t
        out["analysed"] = len(result.frames)
        out["with_face"] = sum(1 for f in result.frames if f.faces)
        out["verdict"] = result.summary.verdict
    except VideoError as e:
        out["refused"] = str(e)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(out)


def main(argv=None) -> None:
    from tests import media_corpus as mc

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(list(mc.CASES) + ["hour_stream"]))
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="build into this folder and keep the files")
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        model = _model_path(Path(tmp))
        print(f"source frames: {'shared real clip ' + mc.SOURCE_CLIP if mc.using_real_clip() else 'synthetic'}; "
              f"model: {model.name}")
        for name in args.cases.split(","):
            t = time.perf_counter()
            case = mc.build(name, folder)
            build_s = time.perf_counter() - t
            q = ctx.Queue()
            p = ctx.Process(target=_run_case, args=(str(case.path), str(model), args.frames,
                                                     name != "hour_stream", q))
            p.start()
            p.join(600)
            if p.is_alive():
                p.terminate()
                print(f"{name:14s} HUNG (killed after 600 s)")
                continue
            r = q.get() if not q.empty() else {"refused": f"child exited {p.exitcode}"}
            size_mb = case.path.stat().st_size / 2**20
            head = f"{name:14s} {size_mb:7.2f} MB built {build_s:5.1f}s"
            if "refused" in r:
                print(f"{head} REFUSED: {r['refused']} (peak RSS {r['peak_rss_mb']:.0f} MB)")
                continue
            read = (f"read {r['read']} frames {'/'.join(r['read_sizes'])} in {r['read_s']:.2f}s, "
                    if "read" in r else "")
            print(f"{head} ANALYSED {r['analysed']} frames ({r['with_face']} with a face, {r['verdict']}); "
                  f"{r['frames']} frames {r['size']}, probe {r['probe_s']:.2f}s, keyframe index "
                  f"{r['keyframes']} in {r['keyframe_s']:.2f}s, {read}analysis {r['analysis_s']:.1f}s, "
                  f"peak RSS {r['base_rss_mb']:.0f} MB imports, +{r['probe_rss_mb'] - r['base_rss_mb']:.0f} MB probe+read, "
                  f"{r['peak_rss_mb']:.0f} MB with the model | {r['media']}")


if __name__ == "__main__":
    main()
