"""Data for the bundled default model, from the project's real material (`../shared/data`: research-only and
unclear licences, read there and never copied into the repository).

    .venv/bin/python resources/models/recipe/prepare.py [--shared ../shared/data] [--out out/default-model/idx]
        [--train-frames 64] [--val-frames 32] [--workers 2]

Held out by identity (split "val", never trained on): the FF++ official VAL pairs 585/599 and 672/720 (all their
fakes at c40 and c23, their originals), the ten DeepFakeDetection `actors/` clips and the four DeepFakeDetection
fakes (the same actors), the Celeb-DF crops, the DeeperForensics clips, the real clips in `HELD_OUT_REAL` and a
seeded 14% of the photos. Everything else is "train": every FF++ fake with its source (paired MFS, frame i of the
fake with frame i of its target original), every other real clip and photo (self-blended MFS).

Resumable (each finished video leaves a file); prints the index summary.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from core.media.evidence import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS  # noqa: E402
from core.faces.detector_choice import DEFAULT_DETECTOR, DETECTORS  # noqa: E402
from core.train.prepare import FaceFinder, VideoTask, run_tasks, seeded_split  # noqa: E402

VAL_IDS = {"585", "599", "672", "720"}  # FF++ official VAL split
FFPP_C40_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
HELD_OUT_REAL = (  # non-FF++ real clips: the false-positive check on footage from elsewhere
    "d3", "d13", "s18", "s32", "WDA_KatieHill_000", "vretalk_face2", "dflive_Obama_speaking", "short_hamilton_clip",
    "tpsmm_driving", "spectre_mead_W036_level_3_happy_007", "spectre_lrs3_QoT0S2vu9m4_00002", "lia_ted_driving2",
    "sadtalker_RD_Radio34_000", "ghost_dance")


def _is_val_pair(stem: str) -> bool:
    return any(part in VAL_IDS for part in stem.split("_")[:2])


def build_tasks(shared: Path, train_frames: int, val_frames: int, image_format: str = "jpg") -> list[VideoTask]:
    v = shared / "videos"
    kw = dict(image_format=image_format)
    tasks: list[VideoTask] = []

    def add(path: Path, key: str, dataset: str, method: str, label: int, split: str, source_key=None):
        frames = train_frames if split == "train" else val_frames
        tasks.append(VideoTask(str(path), key, dataset, method, label, split, frames, source_key=source_key, **kw))

    # FF++ c40: four methods, five id pairs both ways, originals; actors (real, DFD identities: validation)
    for p in sorted((v / "ffpp_c40" / "original").glob("*.mp4")):
        add(p, f"ffpp_c40/original/{p.stem}", "ffpp_c40", "original", 0, "val" if p.stem in VAL_IDS else "train")
    for m in FFPP_C40_METHODS:
        for p in sorted((v / "ffpp_c40" / m).glob("*.mp4")):
            split = "val" if _is_val_pair(p.stem) else "train"
            src = f"ffpp_c40/original/{p.stem.split('_')[0]}"
            add(p, f"ffpp_c40/{m}/{p.stem}", "ffpp_c40", m, 1, split, src if split == "train" else None)
    for p in sorted((v / "ffpp_c40" / "actors").glob("*.mp4")):
        add(p, f"dfd/actors/{p.stem}", "dfd", "original", 0, "val")
    # FF++ c23: FaceShifter with its originals; DeepFakeDetection fakes (validation: the actors' identities)
    for p in sorted((v / "ffpp_c23" / "original").glob("*.mp4")):
        add(p, f"ffpp_c23/original/{p.stem}", "ffpp_c23", "original", 0, "val" if p.stem in VAL_IDS else "train")
    for p in sorted((v / "ffpp_c23" / "FaceShifter").glob("*.mp4")):
        split = "val" if _is_val_pair(p.stem) else "train"
        src = f"ffpp_c23/original/{p.stem.split('_')[0]}"
        add(p, f"ffpp_c23/FaceShifter/{p.stem}", "ffpp_c23", "FaceShifter", 1, split,
            src if split == "train" else None)
    for p in sorted((v / "ffpp_c23" / "DeepFakeDetection").glob("*.mp4")):
        add(p, f"dfd/DeepFakeDetection/{p.stem}", "dfd", "DeepFakeDetection", 1, "val")
    # FF++ c23 sample: Deepfakes 519_515 with 519, Face2Face 750_743 (no source here), unpaired originals
    ff = v / "ffpp"
    add(ff / "519.mp4", "ffpp/original/519", "ffpp", "original", 0, "train")
    add(ff / "519_515.mp4", "ffpp/Deepfakes/519_515", "ffpp", "Deepfakes", 1, "train", "ffpp/original/519")
    add(ff / "750_743.mp4", "ffpp/Face2Face/750_743", "ffpp", "Face2Face", 1, "train")
    for n in ("009", "100"):
        add(ff / f"{n}.mp4", f"ffpp/original/{n}", "ffpp", "original", 0, "train")
    # Cross-dataset validation
    for label, lab in (("real", 0), ("fake", 1)):
        for p in sorted((v / "celebdf_crops" / label).glob("*.mp4")):
            add(p, f"celebdf/{label}/{p.stem}", "celebdf", "original" if lab == 0 else "Celeb-DF", lab, "val")
        for p in sorted((v / "deeperforensics_misc" / label).glob("*.mp4")):
            add(p, f"dfo/{label}/{p.stem}", "dfo", "original" if lab == 0 else "DeeperForensics", lab, "val")
    # Real clips and photos
    for p in sorted((v / "real").iterdir()):
        if p.suffix.lower() in VIDEO_EXTENSIONS:
            add(p, f"real/clips/{p.stem}", "real", "original", 0, "val" if p.stem in HELD_OUT_REAL else "train")
    for p in sorted((shared / "faces" / "more").iterdir()):
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            split = "val" if seeded_split(p.stem) != "train" else "train"
            add(p, f"photos/real/{p.stem}", "photos", "original", 0, split)
    return tasks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(ROOT / "out" / "default-model" / "idx"))
    ap.add_argument("--train-frames", type=int, default=64)
    ap.add_argument("--val-frames", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR,
                    help="face detector (as in caddm-analyze; recorded in the index)")
    args = ap.parse_args()
    tasks = build_tasks(Path(args.shared), args.train_frames, args.val_frames)
    summary = run_tasks(tasks, args.out, workers=args.workers, finder=FaceFinder(args.detector))
    print(json.dumps({k: summary[k] for k in ("records", "by_split", "real", "fake", "fakes_without_source", "face_detector")}))
    if summary["skipped"]:
        print("skipped:", json.dumps(summary["skipped"], indent=1))


if __name__ == "__main__":
    main()
