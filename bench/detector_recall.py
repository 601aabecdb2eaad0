"""Face-detector recall: detector x condition -> recall, false positives per frame, ms per frame.

    .venv/bin/python bench/detector_recall.py [--dark 0.75] [--small-face 56] [--only hog,cnn] [--offsets]
                                              [--fp-sweep 3] [--sheet DIR]

Ground truth: dlib's hand-labelled PASCAL photos (../shared/data/faces/{training,testing}.xml) and the boxes on frames
of the shared real clips in bench/data/face_boxes.json (checked by eye). True faces narrower than the pipeline's
`min_face` are left out (the pipeline ignores them by design), and so are detections narrower than it.

Conditions: normal (photos + frames tagged normal), dark (the normal set through `core.train.augment.low_light`,
strength --dark, seeded noise), small (the normal set downscaled so its largest face is --small-face px wide, plus
frames tagged small), profile (frames tagged profile: heads turned or looking down).
Detectors (each is `FacePipeline._detect` under `DetectorSettings`, so min_face and the upsample retry apply):
hog (before this change), hog+exposure (retry on an exposure-normalised copy), cnn (MMOD alone at cnn_max_side,
boxes mapped to HOG's convention), hog+exposure+cnn (the new default). Matching: `core.faces.labels.match`.

--offsets: MMOD vs HOG boxes on faces both find (normal set): the median offset (CNN_TO_HOG) and how far the 68
landmarks fitted from a mapped / raw MMOD box land from those fitted from the HOG box (mean over points, in units of
the inter-ocular distance).
--fp-sweep N: the new default on N evenly spaced frames of every shared real clip: detections per frame and which
stage found them; --sheet DIR writes the faces the CNN fallback found as one PNG to check by eye.
Media are read from ../shared/data (research/unclear licences: read there, never copied).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from core.faces.detect import CnnFaceDetector, FaceDetector  # noqa: E402
from core.faces.labels import iou_matrix, load_frame_boxes, load_imglab_xml, match  # noqa: E402
from core.faces.pipeline import DetectorSettings, FacePipeline  # noqa: E402
from core.train.augment import low_light  # noqa: E402

SHARED = Path(os.environ.get("CADDM_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
BOXES = ROOT / "bench" / "data" / "face_boxes.json"

BASE = DetectorSettings()
DETECTORS = {
    "hog": replace(BASE, normalise_exposure=False, cnn_fallback=False),
    "hog+exposure": replace(BASE, normalise_exposure=True, cnn_fallback=False),
    "cnn": None,  # MMOD alone
    "hog+exposure+cnn": replace(BASE, normalise_exposure=True, cnn_fallback=True),
}


def _read_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, img = cap.read()
    cap.release()
    if not ok:
        raise RuntimeError(f"{path}: frame {index} unreadable")
    return img


def load_sets(dark: float, small_face: float, min_face: int) -> dict[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """condition -> [(name, image BGR, true boxes (N, 4))]."""
    photos = []
    for xml in ("training.xml", "testing.xml"):
        for li in load_imglab_xml(DATA / "faces" / xml):
            photos.append((li.path.name, cv2.imread(str(li.path)), li.boxes, ()))
    frames = [(f"{li.path.name}#{li.frame}", _read_frame(li.path, li.frame), li.boxes, li.tags)
              for li in load_frame_boxes(BOXES, DATA)]
    normal = photos + [f for f in frames if "normal" in f[3]]
    rng = np.random.default_rng(0)
    sets = {
        "normal": [(n, im, b) for n, im, b, _ in normal],
        "dark": [(n, low_light(im, dark, rng), b) for n, im, b, _ in normal],
        "small": [],
        "profile": [(n, im, b) for n, im, b, t in frames if "profile" in t],
    }
    for n, im, b, _ in normal:
        s = min(1.0, small_face / float((b[:, 2] - b[:, 0]).max()))
        sm = cv2.resize(im, (max(1, round(im.shape[1] * s)), max(1, round(im.shape[0] * s))),
                        interpolation=cv2.INTER_AREA) if s < 1 else im
        sets["small"].append((n, sm, b * np.array([sm.shape[1] / im.shape[1], sm.shape[0] / im.shape[0]] * 2)))
    sets["small"] += [(n, im, b) for n, im, b, t in frames if "small" in t]
    for k in sets:  # the pipeline ignores faces narrower than min_face: they are not asked for
        sets[k] = [(n, im, b[(b[:, 2] - b[:, 0]) >= min_face]) for n, im, b in sets[k]]
    return sets


def make_detector(name: str):
    """image -> list[Detection] (frame px), as the pipeline's detection step would find them."""
    if DETECTORS[name] is None:
        cnn = CnnFaceDetector(BASE.cnn_max_side, 0, BASE.threshold)
        return lambda img: [d for d in cnn.detect(img) if d.box[2] - d.box[0] >= BASE.min_face]
    pipe = FacePipeline(DETECTORS[name])

    def run(img):
        pipe.reset()  # each image stands alone (no retry spacing, no CNN backoff)
        return pipe._detect(0, img)
    return run


def evaluate(detect, items) -> dict:
    tp = fp = fn = 0
    secs = 0.0
    for _, img, truth in items:
        t = time.perf_counter()
        dets = detect(img)
        secs += time.perf_counter() - t
        m = match([d.box for d in dets], truth)
        tp, fp, fn = tp + m.tp, fp + m.fp, fn + m.fn
    n = len(items)
    return dict(recall=tp / max(tp + fn, 1), faces=tp + fn, found=tp, fp_per_frame=fp / max(n, 1), fp=fp,
                ms=1000 * secs / max(n, 1), frames=n)


def offsets(items) -> None:
    from core.faces.landmarks import LandmarkPredictor

    hog = FaceDetector(BASE.max_side, 1, 0.0)
    raw = CnnFaceDetector(BASE.cnn_max_side, 0, 0.0, map_to_hog=False)
    mapped = CnnFaceDetector(BASE.cnn_max_side, 0, 0.0)
    lmp = LandmarkPredictor()
    rel, err_raw, err_mapped = [], [], []
    for _, img, _ in items:
        h = [d.box for d in hog.detect(img)]
        r, m = [d.box for d in raw.detect(img)], [d.box for d in mapped.detect(img)]
        if not h or not r:
            continue
        iou = iou_matrix(np.array(r), np.array(h))
        for i in range(len(r)):
            j = int(iou[i].argmax())
            if iou[i, j] < 0.3:
                continue
            c, hb = np.array(r[i]), np.array(h[j])
            w, ht = c[2] - c[0], c[3] - c[1]
            rel.append([(hb[0] - c[0]) / w, (hb[1] - c[1]) / ht, (hb[2] - c[2]) / w, (hb[3] - c[3]) / ht])
            ref = lmp.predict(img, hb)
            iod = np.linalg.norm(ref[36:42].mean(0) - ref[42:48].mean(0))
            err_raw.append(np.linalg.norm(lmp.predict(img, c) - ref, axis=1).mean() / iod)
            err_mapped.append(np.linalg.norm(lmp.predict(img, m[i]) - ref, axis=1).mean() / iod)
    rel = np.array(rel)
    print(f"\nMMOD -> HOG box offsets on {len(rel)} faces both find (units of the MMOD box; [dx0, dy0, dx1, dy1])")
    print("  median", np.round(np.median(rel, 0), 3), " IQR", np.round(np.percentile(rel, 25, 0), 3),
          np.round(np.percentile(rel, 75, 0), 3))
    print(f"  68 landmarks vs those from the HOG box, mean error / inter-ocular distance: raw MMOD box "
          f"{np.median(err_raw):.3f} (median; mean {np.mean(err_raw):.3f}), mapped {np.median(err_mapped):.3f} "
          f"(mean {np.mean(err_mapped):.3f})")


def fp_sweep(n_frames: int, sheet: Path | None) -> None:
    """The new default on every shared real clip; the faces the CNN fallback found, for checking by eye."""
    from core.frames import FrameSelection
    from core.video import VideoReader, quick_probe

    clips = sorted(p for p in (DATA / "videos" / "real").iterdir() if p.suffix in (".mp4", ".mov"))
    hog_only, full = make_detector("hog+exposure"), FacePipeline(BASE)
    frames = dets_total = by_fallback = frames_fallback = 0
    tiles = []
    for clip in clips:
        with VideoReader(clip) as reader:
            idx = FrameSelection("count", n_frames).indices(quick_probe(clip)[0])
            for fr in reader.frames(idx):
                frames += 1
                first = hog_only(fr.image)
                full.reset()
                dets = full._detect(0, fr.image)
                dets_total += len(dets)
                if not first and dets:
                    frames_fallback += 1
                    by_fallback += len(dets)
                    for d in dets:
                        x0, y0, x1, y1 = (int(v) for v in d.box)
                        m = (x1 - x0) // 2
                        cut = fr.image[max(0, y0 - m):y1 + m, max(0, x0 - m):x1 + m].copy()
                        s = 160 / max(cut.shape[:2])
                        cut = cv2.resize(cut, None, fx=s, fy=s)
                        ox, oy = int((x0 - max(0, x0 - m)) * s), int((y0 - max(0, y0 - m)) * s)
                        cv2.rectangle(cut, (ox, oy), (ox + int((x1 - x0) * s), oy + int((y1 - y0) * s)), (0, 0, 255), 1)
                        tile = np.zeros((176, 160, 3), np.uint8)
                        tile[:cut.shape[0], :cut.shape[1]] = cut
                        cv2.putText(tile, f"{clip.stem[:16]} {fr.index} {d.score:.2f}", (1, 172), 0, 0.3,
                                    (255, 255, 0), 1)
                        tiles.append(tile)
    print(f"\nFP sweep, new default, {len(clips)} shared real clips x {n_frames} frames = {frames} frames: "
          f"{dets_total} detections; HOG (+exposure) found nothing on {frames_fallback} frames where the CNN fallback "
          f"then found {by_fallback} faces")
    if sheet is not None and tiles:
        sheet.mkdir(parents=True, exist_ok=True)
        while len(tiles) % 8:
            tiles.append(np.zeros_like(tiles[0]))
        cv2.imwrite(str(sheet / "cnn_fallback_faces.png"),
                    np.vstack([np.hstack(tiles[i:i + 8]) for i in range(0, len(tiles), 8)]))
        print(f"  the fallback's faces: {sheet / 'cnn_fallback_faces.png'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dark", type=float, default=0.75, help="low_light strength of the dark condition")
    ap.add_argument("--small-face", type=float, default=56.0, help="largest face width (px) in the small condition")
    ap.add_argument("--only", default=",".join(DETECTORS), help="detectors, comma-separated")
    ap.add_argument("--conditions", default="normal,dark,small,profile")
    ap.add_argument("--offsets", action="store_true")
    ap.add_argument("--fp-sweep", type=int, default=0, metavar="N")
    ap.add_argument("--sheet", type=Path, default=None)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    sets = load_sets(args.dark, args.small_face, BASE.min_face)
    conds = args.conditions.split(",")
    print("condition   frames faces (>= min_face)")
    for c in conds:
        print(f"{c:11s} {len(sets[c]):6d} {sum(len(b) for _, _, b in sets[c]):5d}")
    print(f"\n{'detector':18s} {'condition':9s} {'recall':>7s} {'found':>9s} {'FP/frame':>8s} {'ms/frame':>8s}")
    for name in filter(None, args.only.split(",")):
        det = make_detector(name)
        for c in conds:
            r = evaluate(det, sets[c])
            print(f"{name:18s} {c:9s} {r['recall']:7.3f} {r['found']:4d}/{r['faces']:<4d} {r['fp_per_frame']:8.3f} "
                  f"{r['ms']:8.0f}", flush=True)
    if args.offsets:
        offsets(sets["normal"])
    if args.fp_sweep:
        fp_sweep(args.fp_sweep, args.sheet)


if __name__ == "__main__":
    main()
