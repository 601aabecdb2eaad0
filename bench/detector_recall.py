"""Face-detector recall: detector x condition -> recall, false positives per frame, ms per frame.

    .venv/bin/python bench/detector_recall.py [--only hog+exposure+cnn,retinaface] [--conditions normal,dim,...]
        [--dark 0.5,0.75,0.9] [--small-face 56] [--timing] [--retina-sweep 0.5,0.9] [--offsets retinaface]
        [--landmark-error] [--fp-sweep 3] [--sheet DIR]

Ground truth: dlib's hand-labelled PASCAL photos (../shared/data/faces/{training,testing}.xml) and the boxes on frames
of the shared real clips in bench/data/face_boxes.json (checked by eye). True faces narrower than the pipeline's
`min_face` are left out (the pipeline ignores them by design), and so are detections narrower than it.

Conditions: normal (photos + frames tagged normal), dark (the normal set through `core.train.augment.low_light`,
strength --dark, seeded noise), small (the normal set downscaled so its largest face is --small-face px wide, plus
frames tagged small), profile (frames tagged profile: heads turned or looking down), dim (frames tagged dim), more
(faces/more: degraded, black-and-white photos; found = any face), clips (4 evenly spaced frames of every shared real
clip; found = any face), faceless (tiles of real frames clear of every true box: false positives per 1,000) and
patterns (synthetic stripes, checkers, noise).
Detectors (each is `FacePipeline._detect` under `DetectorSettings`, so min_face and the upsample retry apply):
hog (HOG alone), hog+exposure (retry on an exposure-normalised copy), cnn (MMOD alone at cnn_max_side, boxes mapped to
HOG's convention), hog+exposure+cnn (`--detector hog`), retinaface-only (no retries) and retinaface (the default: with
its 2x-upscale and exposure retries). Matching: `core.faces.labels.match`.
--timing: ms per frame of each detector's detection step at 720p and 1080p.

--offsets cnn|retinaface: MMOD's or RetinaFace's boxes vs HOG's on faces both find (normal set): the median offset
(CNN_TO_HOG, RETINA_TO_HOG) and how far the 68 landmarks fitted from a mapped / raw box land from those fitted from
the HOG box (mean over points, in units of the inter-ocular distance).
--landmark-error: the 68 points fitted from HOG's, RetinaFace's raw and mapped boxes vs the labelled points of dlib's
landmark XMLs.
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
from core.faces.pipeline import DetectorSettings, FacePipeline, _box_ratio  # noqa: E402
from core.train.augment import low_light  # noqa: E402

SHARED = Path(os.environ.get("CADDM_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
BOXES = ROOT / "bench" / "data" / "face_boxes.json"

BASE = replace(DetectorSettings(), detector="hog")
RETINA = replace(DetectorSettings(), detector="retinaface")
DETECTORS = {
    "hog": replace(BASE, normalise_exposure=False, cnn_fallback=False),
    "hog+exposure": replace(BASE, normalise_exposure=True, cnn_fallback=False),
    "cnn": None,  # MMOD alone
    "hog+exposure+cnn": replace(BASE, normalise_exposure=True, cnn_fallback=True),
    "retinaface-only": replace(RETINA, retry_upsample=False, normalise_exposure=False),
    "retinaface": RETINA,  # with its retries (2x upscale, exposure)
}


#: Frames whose small background faces were left unboxed: detections there that match no true box are not counted
#: as false positives (filled by load_sets).
CROWD: set[str] = set()


def _read_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, img = cap.read()
    cap.release()
    if not ok:
        raise RuntimeError(f"{path}: frame {index} unreadable")
    return img


def faceless_tiles(frames, size: int = 256) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Faceless images: square tiles of the labelled frames (every face boxed by eye, crowd frames left out) that keep
    clear of every true box widened by half its size, upscaled to 640 px (faces would be as large as in a frame)."""
    out = []
    for n, im, b, tags in frames:
        if "crowd" in tags:
            continue
        h, w = im.shape[:2]
        grow = np.concatenate([b[:, :2] - (b[:, 2:] - b[:, :2]) / 2, b[:, 2:] + (b[:, 2:] - b[:, :2]) / 2], axis=1)
        step = size // 2
        for y in range(0, h - size + 1, step):
            for x in range(0, w - size + 1, step):
                if len(grow) and np.any((grow[:, 0] < x + size) & (grow[:, 2] > x) & (grow[:, 1] < y + size)
                                        & (grow[:, 3] > y)):
                    continue
                tile = cv2.resize(im[y:y + size, x:x + size], (640, 640), interpolation=cv2.INTER_LINEAR)
                out.append((f"{n}@{x},{y}", tile, np.zeros((0, 4))))
    return out


def patterns() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Synthetic faceless frames (640x360): noise, blurred noise, diagonal stripes at 20 scales, flat grey, a ramp."""
    out = []
    rng = np.random.default_rng(1)
    for k in range(20):
        noise = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
        out += [(f"noise{k}", noise, np.zeros((0, 4))),
                (f"blurred{k}", cv2.GaussianBlur(noise, (0, 0), 1 + k), np.zeros((0, 4))),
                (f"stripes{k}", (((np.indices((360, 640)).sum(0) // (4 + 4 * k)) % 2) * 255).astype(np.uint8)[..., None]
                 .repeat(3, 2), np.zeros((0, 4)))]
    out.append(("grey", np.full((360, 640, 3), 128, np.uint8), np.zeros((0, 4))))
    out.append(("gradient", np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (360, 1, 3)),
                np.zeros((0, 4))))
    return out


#: Frames per shared real clip in the "clips" condition.
CLIP_FRAMES = 4


def clip_frames(per_clip: int) -> list[tuple[str, np.ndarray, None]]:
    """`per_clip` evenly spaced frames of every real clip in ../shared/data/videos/real (each shows a person on camera
    throughout: a frame counts as found when it gets at least one face; boxes None)."""
    from core.media.frames import FrameSelection
    from core.media.video import VideoReader, frame_count

    out = []
    for p in sorted((DATA / "videos" / "real").iterdir()):
        if p.suffix.lower() not in (".mp4", ".avi", ".mov", ".mkv", ".webm"):
            continue
        with VideoReader(p) as reader:
            for fr in reader.frames(FrameSelection("count", per_clip).indices(frame_count(p))):
                out.append((f"{p.name}#{fr.index}", fr.image, None))
    return out


def detection_ms(names: list[str], repeats: int = 3) -> None:
    """ms per frame of each detector's detection step at 720p and 1080p: frames of the shared real clips with a face
    (the step as it runs on a detection frame; the retries only run on faceless frames)."""
    items = clip_frames(2)[::6]
    print(f"\ndetection step, ms per frame ({len(items)} clip frames scaled to each size, median of {repeats} runs)")
    for w, h in ((1280, 720), (1920, 1080)):  # each frame scaled (aspect kept) to fit, centred on a black canvas
        frames = []
        for _, im, _ in items:
            k = min(w / im.shape[1], h / im.shape[0])
            sm = cv2.resize(im, (round(im.shape[1] * k), round(im.shape[0] * k)), interpolation=cv2.INTER_AREA)
            canvas = np.zeros((h, w, 3), np.uint8)
            y, x = (h - sm.shape[0]) // 2, (w - sm.shape[1]) // 2
            canvas[y : y + sm.shape[0], x : x + sm.shape[1]] = sm
            frames.append(canvas)
        for name in names:
            det = make_detector(name)
            det(frames[0])  # warm-up (model load, session)
            runs = []
            for _ in range(repeats):
                t = time.perf_counter()
                found = sum(bool(det(f)) for f in frames)
                runs.append(1000 * (time.perf_counter() - t) / len(frames))
            print(f"  {w}x{h} {name:18s} {np.median(runs):7.1f} ms  (faces in {found}/{len(frames)})", flush=True)


def load_sets(dark: list[float], small_face: float, min_face: int) -> dict[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """condition -> [(name, image BGR, true boxes (N, 4))]; "more" holds photos known to show a face (boxes None)."""
    photos = []
    for xml in ("training.xml", "testing.xml"):
        for li in load_imglab_xml(DATA / "faces" / xml):
            photos.append((li.path.name, cv2.imread(str(li.path)), li.boxes, ()))
    frames = [(f"{li.path.name}#{li.frame}", _read_frame(li.path, li.frame), li.boxes, li.tags)
              for li in load_frame_boxes(BOXES, DATA)]
    normal = photos + [f for f in frames if "normal" in f[3]]
    CROWD.update(n for n, _, _, t in frames if "crowd" in t)
    rng = np.random.default_rng(0)
    sets = {
        "normal": [(n, im, b) for n, im, b, _ in normal],
        **{f"dark{d:g}": [(n, low_light(im, d, rng), b) for n, im, b, _ in normal] for d in dark},
        "dim": [(n, im, b) for n, im, b, t in frames if "dim" in t],
        "small": [],
        "profile": [(n, im, b) for n, im, b, t in frames if "profile" in t],
        "more": [(p.name, cv2.imread(str(p)), None) for p in sorted((DATA / "faces" / "more").iterdir())
                 if p.suffix.lower() in (".jpg", ".jpeg", ".png")],
        "clips": clip_frames(CLIP_FRAMES),
        "faceless": faceless_tiles(frames),
        "patterns": patterns(),
    }
    for n, im, b, _ in normal:
        s = min(1.0, small_face / float((b[:, 2] - b[:, 0]).max()))
        sm = cv2.resize(im, (max(1, round(im.shape[1] * s)), max(1, round(im.shape[0] * s))),
                        interpolation=cv2.INTER_AREA) if s < 1 else im
        sets["small"].append((n, sm, b * np.array([sm.shape[1] / im.shape[1], sm.shape[0] / im.shape[0]] * 2)))
    sets["small"] += [(n, im, b) for n, im, b, t in frames if "small" in t]
    for k in sets:  # the pipeline ignores faces narrower than min_face: they are not asked for
        sets[k] = [(n, im, b if b is None else b[(b[:, 2] - b[:, 0]) >= min_face]) for n, im, b in sets[k]]
    return sets


def make_detector(name: str):
    """image -> list[Detection] (frame px), as the pipeline's detection step would find them."""
    if DETECTORS[name] is None:
        cnn = CnnFaceDetector(BASE.cnn_max_side, 0, BASE.threshold)
        return lambda img: [d for d in cnn.detect(img) if d.box[2] - d.box[0] >= BASE.min_face]
    return FacePipeline(DETECTORS[name]).detect_still  # each image stands alone (no retry spacing, no CNN backoff)


def evaluate(detect, items) -> dict:
    tp = fp = fn = 0
    secs = 0.0
    for name, img, truth in items:
        t = time.perf_counter()
        dets = detect(img)
        secs += time.perf_counter() - t
        if truth is None:  # a photo known to show a face: found when there is at least one detection
            tp, fn = tp + bool(dets), fn + (not dets)
            continue
        m = match([d.box for d in dets], truth)
        tp, fp, fn = tp + m.tp, fp + (0 if name in CROWD else m.fp), fn + m.fn
    n = len(items)
    return dict(recall=tp / max(tp + fn, 1), faces=tp + fn, found=tp, fp_per_frame=fp / max(n, 1), fp=fp,
                ms=1000 * secs / max(n, 1), frames=n)


def _matched(dets, boxes, iou_min: float = 0.3):
    """For each box (N, 4): the detection (xyxy array) overlapping it most with IoU >= iou_min, or None."""
    if not dets or not len(boxes):
        return [None] * len(boxes)
    iou = iou_matrix(np.asarray(boxes, np.float64), np.array(dets))
    return [np.array(dets[int(i.argmax())]) if i.max() >= iou_min else None for i in iou]


def offsets(items, which: str) -> None:
    """`which` ("cnn" or "retinaface") -> HOG box offsets on faces both find, and what the mapping does to the 68
    landmarks fitted from the box (vs those fitted from HOG's box)."""
    from core.faces.landmarks import LandmarkPredictor
    from core.faces.retinaface import RetinaFaceDetector

    hog = FaceDetector(BASE.max_side, 1, 0.0)
    if which == "cnn":
        raw = CnnFaceDetector(BASE.cnn_max_side, 0, 0.0, map_to_hog=False)
        mapped = CnnFaceDetector(BASE.cnn_max_side, 0, 0.0)
    else:
        raw = RetinaFaceDetector(RETINA.max_side, RETINA.retina_threshold, map_to_hog=False)
        mapped = RetinaFaceDetector(RETINA.max_side, RETINA.retina_threshold)
    lmp = LandmarkPredictor()
    rel, err_raw, err_mapped, from_points = [], [], [], []
    for _, img, _ in items:
        h = [d.box for d in hog.detect(img)]
        r, m = [d.box for d in raw.detect(img)], [d.box for d in mapped.detect(img)]
        for c, hb, mb in zip(r, _matched(h, r), _matched(m, r)):
            if hb is None or mb is None:
                continue
            c = np.array(c)
            w, ht = c[2] - c[0], c[3] - c[1]
            rel.append([(hb[0] - c[0]) / w, (hb[1] - c[1]) / ht, (hb[2] - c[2]) / w, (hb[3] - c[3]) / ht])
            if which == "retinaface":  # HOG's box from the 5 points (POINTS_TO_HOG)
                p = np.array(next(d.points for d in raw.detect(img) if np.allclose(d.box, c)))
                eye, dd = p[:2].mean(0), np.linalg.norm(p[3:5].mean(0) - p[:2].mean(0))
                from_points.append([((hb[0] + hb[2]) / 2 - eye[0]) / dd, ((hb[1] + hb[3]) / 2 - eye[1]) / dd,
                                    (hb[2] - hb[0]) / dd, (hb[3] - hb[1]) / dd])
            ref = lmp.predict(img, hb)
            iod = np.linalg.norm(ref[36:42].mean(0) - ref[42:48].mean(0))
            err_raw.append(np.linalg.norm(lmp.predict(img, c) - ref, axis=1).mean() / iod)
            err_mapped.append(np.linalg.norm(lmp.predict(img, mb) - ref, axis=1).mean() / iod)
    rel = np.array(rel)
    print(f"\n{which} -> HOG box offsets on {len(rel)} faces both find (units of the {which} box; [dx0, dy0, dx1, dy1])")
    print("  median", np.round(np.median(rel, 0), 3), " IQR", np.round(np.percentile(rel, 25, 0), 3),
          np.round(np.percentile(rel, 75, 0), 3))
    if from_points:
        print("  HOG box from the 5 points (POINTS_TO_HOG: centre - eye midpoint, width, height, in units of the "
              "eye-to-mouth distance): median", np.round(np.median(from_points, 0), 3))
    print(f"  68 landmarks vs those from the HOG box, mean error / inter-ocular distance: raw {which} box "
          f"{np.median(err_raw):.3f} (median; mean {np.mean(err_raw):.3f}), mapped {np.median(err_mapped):.3f} "
          f"(mean {np.mean(err_mapped):.3f})")


def landmark_error() -> None:
    """The 68 points fitted from each detector's box vs the labelled points of dlib's landmark XMLs
    (faces/*_with_face_landmarks.xml): mean point error over the inter-ocular distance, on the faces each finds."""
    import xml.etree.ElementTree as ET

    from core.faces.landmarks import LandmarkPredictor
    from core.faces.retinaface import RetinaFaceDetector

    lmp = LandmarkPredictor()
    sources = {"hog (upsample 1)": FaceDetector(BASE.max_side, 1, 0.0),
               "retinaface raw": RetinaFaceDetector(RETINA.max_side, RETINA.retina_threshold, map_to_hog=False),
               "retinaface mapped (5 points)": RetinaFaceDetector(RETINA.max_side, RETINA.retina_threshold)}
    errors = {k: [] for k in sources}
    hog_ratios = []
    faces = 0
    for xml in ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"):
        for im_el in ET.parse(DATA / "faces" / xml).getroot().iter("image"):
            img = cv2.imread(str(DATA / "faces" / im_el.get("file")))
            truth, pts = [], []
            for b in im_el.iter("box"):
                x0, y0 = float(b.get("left")), float(b.get("top"))
                truth.append([x0, y0, x0 + float(b.get("width")), y0 + float(b.get("height"))])
                pts.append(np.array([[float(p.get("x")), float(p.get("y"))] for p in b.iter("part")]))
            faces += len(truth)
            for k, det in sources.items():
                for box, gt in zip(_matched([d.box for d in det.detect(img)], truth), pts):
                    if box is not None and len(gt) == 68:
                        iod = np.linalg.norm(gt[36:42].mean(0) - gt[42:48].mean(0))
                        fitted = lmp.predict(img, box)
                        errors[k].append(np.linalg.norm(fitted - gt, axis=1).mean() / iod)
                        if k.startswith("hog"):
                            hog_ratios.append(_box_ratio(np.asarray(box, np.float64), fitted))
    print(f"\n68-point error vs the labelled points ({faces} faces), mean error / inter-ocular distance")
    for k, e in errors.items():
        print(f"  {k:28s} faces {len(e):3d}  median {np.median(e):.3f}  mean {np.mean(e):.3f}  "
              f"over 0.1: {int(np.sum(np.array(e) > 0.1))}")
    print(f"  HOG's box around the 68 points fitted from it (HOG_BOX_RATIO), median over {len(hog_ratios)} faces:",
          np.round(np.median(hog_ratios, 0), 3))


def fp_sweep(n_frames: int, sheet: Path | None) -> None:
    """The new default on every shared real clip; the faces the CNN fallback found, for checking by eye."""
    from core.media.frames import FrameSelection
    from core.media.video import VideoReader, quick_probe

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
    ap.add_argument("--dark", default="0.5,0.75,0.9", help="low_light strengths of the dark conditions")
    ap.add_argument("--small-face", type=float, default=56.0, help="largest face width (px) in the small condition")
    ap.add_argument("--only", default=",".join(DETECTORS), help="detectors, comma-separated")
    ap.add_argument("--conditions",
                    default="normal,dark0.5,dark0.75,dark0.9,dim,small,profile,more,clips,faceless,patterns")
    ap.add_argument("--timing", action="store_true", help="ms per frame of each detector at 720p and 1080p")
    ap.add_argument("--retina-sweep", default="", metavar="T1,T2,...",
                    help="also RetinaFace (with its retries) at each of these score thresholds")
    ap.add_argument("--offsets", choices=("cnn", "retinaface"), default=None,
                    help="box offsets of this detector to HOG's convention (normal set)")
    ap.add_argument("--landmark-error", action="store_true", help="68-point error from each detector's boxes")
    ap.add_argument("--fp-sweep", type=int, default=0, metavar="N")
    ap.add_argument("--sheet", type=Path, default=None)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    sets = load_sets([float(d) for d in args.dark.split(",")], args.small_face, BASE.min_face)
    conds = args.conditions.split(",")
    print("condition   frames faces (>= min_face)")
    for c in conds:
        print(f"{c:11s} {len(sets[c]):6d} {sum(1 if b is None else len(b) for _, _, b in sets[c]):5d}")
    print(f"\n{'detector':18s} {'condition':9s} {'recall':>7s} {'found':>9s} {'FP/frame':>8s} {'ms/frame':>8s}")
    for t in filter(None, args.retina_sweep.split(",")):
        DETECTORS[f"retinaface@{t}"] = replace(RETINA, retina_threshold=float(t))
    for name in [*filter(None, args.only.split(",")), *(f"retinaface@{t}" for t in filter(None,
                                                                                         args.retina_sweep.split(",")))]:
        det = make_detector(name)
        for c in conds:
            r = evaluate(det, sets[c])
            fp = f"{1000 * r['fp_per_frame']:5.1f}/1k" if c in ("faceless", "patterns") else f"{r['fp_per_frame']:8.3f}"
            print(f"{name:18s} {c:9s} {r['recall']:7.3f} {r['found']:4d}/{r['faces']:<4d} {fp:>8s} "
                  f"{r['ms']:8.0f}", flush=True)
    if args.timing:
        detection_ms([n for n in filter(None, args.only.split(",")) if n != "cnn"])
    if args.offsets:
        offsets(sets["normal"], args.offsets)
    if args.landmark_error:
        landmark_error()
    if args.fp_sweep:
        fp_sweep(args.fp_sweep, args.sheet)


if __name__ == "__main__":
    main()
