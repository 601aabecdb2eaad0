"""Preparing training/evaluation data: videos -> face images + 68 landmarks -> `DIR/index.json`.

For each video: N evenly spaced frames (`FrameSelection("count", N)`), the largest face found by the chosen
detector (`FaceFinder`, as analysis finds it; recorded in the index), its 68
landmarks, and a generous cut of the frame around the face (half-side `MARGIN` x the landmarks' extent, scaled
down so the landmarks span at most `max_face` px) saved as PNG or JPEG q95, with the landmarks and the face box in
that image's pixels (`core.train.dataset.FrameRecord`).

Layouts (`*_tasks` functions): FaceForensics++ (originals + manipulated methods, official split JSONs or a seeded
split by video id; each fake frame paired with the frame of the same index of its target original), a folder of
videos or images with one label, Celeb-DF (`List_of_testing_videos.txt`) and DFDC (`metadata.json`) test sets.

Work runs per video, in processes (`workers`), and is resumable: each finished video leaves
`DIR/videos/<key>.json` (its records, or why it was skipped); a rerun skips those. The index is rebuilt from all of
them, so several `prepare` runs into one DIR add up (e.g. a real folder, then a fake folder).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from core.common.atomic import atomic_write_bytes, atomic_write_text
from core.media.evidence import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, find_videos
from core.train.dataset import SPLITS, DatasetError, FrameRecord, write_index
from core.faces.detector_choice import DEFAULT_DETECTOR, DETECTORS, LEGACY_DETECTOR
from core.media.frames import FrameSelection

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
MARGIN = 1.6  # half-side of the saved cut, in landmark extents (random alignment reaches about 1.56)
SEEDED_FRACTIONS = (0.72, 0.14, 0.14)  # train/val/test, FF++'s 720/140/140


@dataclass
class VideoTask:
    """One video (or still image) to prepare. `key` = dataset/method/video, unique; `source_key` = the key of a
    fake's source (target original) video, whose frames of the same index pair with this video's."""

    path: str
    key: str
    dataset: str
    method: str
    label: int
    split: str
    frames: int = 32
    source_key: str | None = None
    image_format: str = "png"
    max_face: int = 192
    indices: tuple[int, ...] | None = None  # explicit frame indices (set by `pair_frame_indices`); None: `frames`

    @property
    def stem(self) -> str:
        return self.key.replace("/", "__")


# ------------------------------------------------------------------------------------------------ face finding
class FaceFinder:
    """The largest face an analysis would find in a still image, and its 68 landmarks:
    `__call__(image) -> (box xyxy frame px, landmarks (68, 2) frame px) | None`.

    `detector`: `core.faces.detector_choice.DETECTORS` (the analysis's `FacePipeline.detect_still`, retries
    included, so training and analysis crop alike); the landmarks come from dlib's 68-point predictor on the box in
    HOG's convention, as in analysis."""

    def __init__(self, detector: str = DEFAULT_DETECTOR, max_side: int = 640):
        if detector not in DETECTORS:
            raise DatasetError(None, f"face detector: choose from {', '.join(DETECTORS)}, not {detector!r}")
        self.detector, self.max_side = detector, max_side
        self._pipeline = None

    def __call__(self, image: np.ndarray):
        if self._pipeline is None:
            from core.faces.pipeline import DetectorSettings, FacePipeline
            self._pipeline = FacePipeline(DetectorSettings(detector=self.detector, max_side=self.max_side))
        dets = self._pipeline.detect_still(image)
        if not dets:
            return None
        d = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return np.asarray(d.box, np.float64), np.asarray(self._pipeline.landmarks.predict(image, d.box), np.float64)

    def __getstate__(self):  # the detector objects are made again in each worker process
        return {"detector": self.detector, "max_side": self.max_side}

    def __setstate__(self, state):
        self.__init__(**state)


def face_cut(frame: np.ndarray, landmarks: np.ndarray, max_face: int = 192):
    """(image, origin (x, y) frame px, scale) of the saved cut; saved px = (frame px - origin) * scale."""
    h, w = frame.shape[:2]
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    size = float(max(hi - lo).clip(min=1.0))
    c = (lo + hi) / 2
    half = MARGIN * size
    x0, y0 = int(max(0, np.floor(c[0] - half))), int(max(0, np.floor(c[1] - half)))
    x1, y1 = int(min(w, np.ceil(c[0] + half))), int(min(h, np.ceil(c[1] + half)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    img = frame[y0:y1, x0:x1]
    scale = min(1.0, max_face / size)
    if scale < 1.0:
        nw, nh = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img), (float(x0), float(y0)), float(scale)


def _frames_of(task: VideoTask):
    """(frame index, image) pairs of the task's selected frames; a still image is frame 0."""
    if Path(task.path).suffix.lower() in IMAGE_EXTENSIONS:
        img = cv2.imread(task.path, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError("unreadable image")
        yield 0, img
        return
    from core.media.video import VideoReader, frame_count
    count = frame_count(task.path)  # no hash: preparation only picks frames
    if task.indices is not None:
        indices = [i for i in task.indices if 0 <= i < count]
    else:
        indices = FrameSelection("count", task.frames).indices(count)
    with VideoReader(task.path) as reader:
        for fr in reader.frames(indices):
            yield fr.index, fr.image


def _encode(img: np.ndarray, fmt: str) -> bytes:
    ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95]) if fmt in ("jpg", "jpeg") else (".png", [])
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise ValueError(f"cannot encode {ext}")
    return buf.tobytes()


def process_video(task: VideoTask, out: str | os.PathLike, finder: Callable | None = None) -> dict:
    """Prepare one video; returns {"key", "records" [dict], "skipped" reason | None, "frames_without_face"}."""
    out = Path(out)
    finder = finder or FaceFinder()
    ext = "jpg" if task.image_format in ("jpg", "jpeg") else "png"
    records, no_face = [], 0
    try:
        for index, frame in _frames_of(task):
            found = finder(frame)
            if found is None:
                no_face += 1
                continue
            box, lm = found
            cut = face_cut(frame, lm, task.max_face)
            if cut is None:
                no_face += 1
                continue
            img, origin, scale = cut
            rel = f"frames/{task.key}/{index:05d}.{ext}"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(out / rel, _encode(img, ext))
            o = np.asarray(origin)
            records.append(FrameRecord(
                id=f"{task.key}/{index:05d}", path=rel, label=int(task.label), dataset=task.dataset,
                method=task.method, video=task.key, frame=int(index), split=task.split,
                landmarks=np.round((lm - o) * scale, 3).tolist(),
                box=np.round((np.asarray(box).reshape(2, 2) - o) * scale, 3).reshape(-1).tolist(),
                crop_origin=list(origin), crop_scale=scale,
                source=f"{task.source_key}/{index:05d}" if task.source_key else None).to_dict())
    except Exception as e:  # noqa: BLE001 - an unreadable video is reported, not fatal
        msg = getattr(e, "problem", None) or f"{type(e).__name__}: {e}"
        return {"key": task.key, "path": task.path, "records": [], "skipped": f"unreadable ({msg})",
                "frames_without_face": no_face, "detector": getattr(finder, "detector", None)}
    skipped = None if records else "no face found"
    return {"key": task.key, "path": task.path, "records": records, "skipped": skipped,
            "frames_without_face": no_face, "detector": getattr(finder, "detector", None)}


def _worker(args):
    task, out, finder = args
    result = process_video(task, out, finder)
    atomic_write_text(Path(out) / "videos" / f"{task.stem}.json", json.dumps(result))
    return result


class Progress:
    """A one-line progress bar on a stream (carriage return on a terminal, a line every 5% otherwise)."""

    def __init__(self, total: int, label: str = "prepare", stream=None):
        self.total, self.label, self.stream = total, label, stream or sys.stderr
        self.done = self.skipped = 0
        self.t0 = time.monotonic()
        self._last_pct = -1
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, skipped: bool = False) -> None:
        self.done += 1
        self.skipped += int(skipped)
        rate = self.done / max(time.monotonic() - self.t0, 1e-6)
        eta = (self.total - self.done) / rate if rate > 0 else 0
        pct = int(100 * self.done / max(self.total, 1))
        bar = "#" * (pct // 5) + "." * (20 - pct // 5)
        line = (f"{self.label} [{bar}] {self.done}/{self.total} videos, {self.skipped} skipped, "
                f"{rate:.2f} videos/s, ETA {eta:.0f} s")
        if self.tty:
            print("\r" + line, end="" if self.done < self.total else "\n", file=self.stream, flush=True)
        elif pct // 5 != self._last_pct // 5 or self.done == self.total:
            print(line, file=self.stream, flush=True)
        self._last_pct = pct


def _frame_count(path: str) -> int | None:
    if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
        return None
    from core.media.video import frame_count
    try:
        return frame_count(path)
    except Exception:  # noqa: BLE001 - an unreadable video is reported when it is prepared
        return None


def pair_frame_indices(tasks: list[VideoTask], frame_count: Callable[[str], int | None] = _frame_count
                       ) -> list[VideoTask]:
    """Give each fake with a source, and each source, explicit frame indices so that every fake frame has the
    source frame of the same index. A fake's N frames are spread over min(fake length, source length) (FF++ fakes
    and their target originals often differ by tens or hundreds of frames); a source takes its own N frames plus
    every index its fakes chose. Tasks without a pairing are returned unchanged."""
    by_key = {t.key: t for t in tasks}
    fakes = [t for t in tasks if t.source_key and t.source_key in by_key and t.indices is None]
    if not fakes:
        return tasks
    counts = {}

    def count(t):
        if t.key not in counts:
            counts[t.key] = frame_count(t.path)
        return counts[t.key]

    extra: dict[str, set[int]] = {}
    new = {}
    for f in fakes:
        src = by_key[f.source_key]
        n_f, n_s = count(f), count(src)
        if n_f is None or n_s is None:
            continue
        idx = FrameSelection("count", f.frames).indices(min(n_f, n_s))
        new[f.key] = dataclasses.replace(f, indices=tuple(idx))
        extra.setdefault(src.key, set()).update(idx)
    for key, idx in extra.items():
        src = by_key[key]
        own = FrameSelection("count", src.frames).indices(count(src))
        new[key] = dataclasses.replace(src, indices=tuple(sorted(set(own) | idx)))
    return [new.get(t.key, t) for t in tasks]


def run_tasks(tasks: list[VideoTask], out: str | os.PathLike, workers: int = 1, finder: Callable | None = None,
              progress: bool = True, stream=None) -> dict:
    """Prepare every task not done yet (in `workers` processes), then rebuild DIR/index.json.
    Returns a summary: {"videos", "done_before", "prepared", "skipped": {key: reason}, "records", "index"}."""
    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise DatasetError(out, f"two inputs map to the same video key {dup!r}")
    finder = finder or FaceFinder()
    wanted = getattr(finder, "detector", None)
    before = prepared_detectors(out)
    if wanted is not None and before - {wanted}:
        raise DatasetError(out, f"was prepared with the {', '.join(sorted(before))} face detector; prepare into a new "
                                f"folder, or with --detector {sorted(before)[0]} (one index, one detector's crops)")
    todo = [t for t in pair_frame_indices(tasks) if not (out / "videos" / f"{t.stem}.json").exists()]
    bar = Progress(len(todo), stream=stream) if progress and todo else None
    if workers <= 1 or len(todo) <= 1:
        for t in todo:
            r = _worker((t, str(out), finder))
            if bar:
                bar.update(bool(r["skipped"]))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_worker, (t, str(out), finder)) for t in todo]
            for f in as_completed(futures):
                r = f.result()
                if bar:
                    bar.update(bool(r["skipped"]))
    summary = build_index(out)
    summary.update(videos=len(tasks), done_before=len(tasks) - len(todo), prepared=len(todo))
    return summary


def _video_results(out: Path) -> list[dict]:
    results = []
    for p in sorted((out / "videos").glob("*.json")):
        try:
            results.append(json.loads(p.read_text(encoding="utf-8")))
        except ValueError:
            continue  # a damaged result file: that video is prepared again next time once removed
    return results


def _detector_of(result: dict) -> str:
    """The face detector a video's result was prepared with (results made before the choice existed: HOG)."""
    return result.get("detector") or LEGACY_DETECTOR


def prepared_detectors(out: str | os.PathLike) -> set[str]:
    """The face detectors the videos already prepared in DIR were prepared with (empty for a new DIR)."""
    return {_detector_of(r) for r in _video_results(Path(out))}


def build_index(out: str | os.PathLike) -> dict:
    """Rebuild DIR/index.json from DIR/videos/*.json; pair fakes with their source frames when present. The index
    records the face detector its crops came from (`face_detector`; "mixed" if folders were merged by hand)."""
    out = Path(out)
    results = _video_results(out)
    records = [FrameRecord.from_dict(r) for res in results for r in res["records"]]
    ids = {r.id for r in records}
    unpaired = 0
    for r in records:
        if r.source and r.source not in ids:
            r.source, unpaired = None, unpaired + 1
    skipped = {res["key"]: res["skipped"] for res in results if res.get("skipped")}
    atomic_write_text(out / "skipped.json", json.dumps(skipped, indent=1, sort_keys=True))
    detectors = sorted({_detector_of(r) for r in results})
    detector = detectors[0] if len(detectors) == 1 else "mixed" if detectors else None
    path = write_index(out, records, face_detector=detector)
    counts = {s: sum(r.split == s for r in records) for s in SPLITS}
    return {"index": str(path), "records": len(records), "skipped": skipped, "fakes_without_source": unpaired,
            "face_detector": detector,
            "by_split": counts, "real": sum(r.label == 0 for r in records), "fake": sum(r.label == 1 for r in records)}


# ------------------------------------------------------------------------------------------------- layouts
def seeded_split(video_id: str, seed: int = 0, fractions=SEEDED_FRACTIONS) -> str:
    """A stable split of a video id: train/val/test with `fractions`, from a hash of (seed, id)."""
    u = int(hashlib.sha1(f"{seed}:{video_id}".encode()).hexdigest()[:12], 16) / float(16 ** 12)
    return "train" if u < fractions[0] else "val" if u < fractions[0] + fractions[1] else "test"


def _videos_in(folder: Path, images: bool = False) -> list[Path]:
    return find_videos(folder, VIDEO_EXTENSIONS | IMAGE_EXTENSIONS if images else VIDEO_EXTENSIONS)


def read_ffpp_splits(splits_dir: str | os.PathLike) -> dict[str, list[tuple[str, str]]]:
    """FF++ official split files DIR/{train,val,test}.json: lists of [target, source] id pairs."""
    out = {}
    for s in SPLITS:
        p = Path(splits_dir) / f"{s}.json"
        if not p.exists():
            raise DatasetError(p, "FF++ split file not found (expected train.json, val.json, test.json)")
        try:
            pairs = json.loads(p.read_text())
            out[s] = [(str(a), str(b)) for a, b in pairs]
        except (ValueError, TypeError) as e:
            raise DatasetError(p, f"is not an FF++ split file (a JSON list of id pairs): {e}") from None
    return out


def ffpp_tasks(root: str | os.PathLike, frames: int = 32, split: str = "train", splits_dir=None,
               methods=FFPP_METHODS, compression: str = "c23", seed: int = 0, **kw) -> list[VideoTask]:
    """Tasks for FaceForensics++: originals (`original_sequences/youtube/<c>/videos/<id>.mp4`) and fakes
    (`manipulated_sequences/<method>/<c>/videos/<target>_<source>.mp4`) of the chosen split(s). A fake's frames
    pair with its target original's (the frame the face was swapped into). Without official splits a video's split
    is `seeded_split(target id)`."""
    root = Path(root)
    orig_dir = root / "original_sequences" / "youtube" / compression / "videos"
    if not orig_dir.is_dir():
        raise DatasetError(orig_dir, "FF++ originals folder not found (expected ROOT/original_sequences/youtube/"
                                     f"{compression}/videos)")
    wanted = SPLITS if split == "all" else (split,)
    if splits_dir:
        sp = read_ffpp_splits(splits_dir)
        id_split = {i: s for s in SPLITS for pair in sp[s] for i in pair}
        pair_split = {f"{a}_{b}": s for s in SPLITS for a, b in sp[s]}
        pair_split.update({f"{b}_{a}": s for s in SPLITS for a, b in sp[s]})
    else:
        id_split = pair_split = None
    tasks = []
    for p in _videos_in(orig_dir):
        vid = p.stem
        s = id_split.get(vid) if id_split is not None else seeded_split(vid, seed)
        if s in wanted:
            tasks.append(VideoTask(str(p), f"ffpp/original/{vid}", "ffpp", "original", 0, s, frames, **kw))
    for m in methods:
        mdir = root / "manipulated_sequences" / m / compression / "videos"
        if not mdir.is_dir():
            continue
        for p in _videos_in(mdir):
            vid = p.stem
            target = vid.split("_")[0]
            s = pair_split.get(vid) if pair_split is not None else seeded_split(target, seed)
            if s in wanted:
                tasks.append(VideoTask(str(p), f"ffpp/{m}/{vid}", "ffpp", m, 1, s, frames,
                                       source_key=f"ffpp/original/{target}", **kw))
    if not tasks:
        raise DatasetError(root, f"no FF++ videos found for split {split!r}")
    return tasks


def folder_tasks(folder: str | os.PathLike, label: str, frames: int = 32, split: str = "auto", source_of=None,
                 dataset: str | None = None, seed: int = 0, **kw) -> list[VideoTask]:
    """Tasks for a folder of videos (and still images) with one label ("real" or "fake").

    `source_of` (fake folders): a folder of the fakes' source videos; a fake `X.mp4` or `T_S.mp4` pairs with the
    source `X.*` or `T.*` there (FF++ naming), and the source videos are prepared too (as real). `split`: train,
    val, test, or auto (a seeded split by video name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, "folder not found")
    if label not in ("real", "fake"):
        raise DatasetError(None, f"--label must be real or fake, not {label!r}")
    dataset = dataset or folder.name
    files = _videos_in(folder, images=True)
    if not files:
        raise DatasetError(folder, "contains no videos or images")
    tasks, sources = [], {}
    if source_of:
        sdir = Path(source_of)
        if not sdir.is_dir():
            raise DatasetError(sdir, "source folder not found")
        for p in _videos_in(sdir, images=True):
            sources[p.stem] = p

    def split_of(name):
        return seeded_split(name, seed) if split == "auto" else split

    method = "real" if label == "real" else "fake"
    for p in files:
        rel = p.relative_to(folder).with_suffix("").as_posix()
        src_key = None
        if sources:
            src = sources.get(p.stem) or sources.get(p.stem.split("_")[0])
            if src is not None:
                src_key = f"{Path(source_of).name}/real/{src.stem}"
        sp = split_of(p.stem.split("_")[0] if src_key else rel)
        tasks.append(VideoTask(str(p), f"{dataset}/{method}/{rel}", dataset, method, int(label == "fake"), sp,
                               frames, source_key=src_key, **kw))
    used = {t.source_key for t in tasks if t.source_key}
    for stem, p in sources.items():
        key = f"{Path(source_of).name}/real/{stem}"
        if key in used:
            sp = split_of(stem)
            tasks.append(VideoTask(str(p), key, Path(source_of).name, "real", 0, sp, frames, **kw))
    return tasks


def celebdf_tasks(root: str | os.PathLike, frames: int = 32, **kw) -> list[VideoTask]:
    """Celeb-DF (v1/v2) test set: ROOT/List_of_testing_videos.txt lines "<1 real | 0 fake> <folder>/<name>.mp4"."""
    root = Path(root)
    lst = root / "List_of_testing_videos.txt"
    if not lst.exists():
        raise DatasetError(lst, "Celeb-DF test list not found")
    tasks = []
    for n, line in enumerate(lst.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            flag, rel = line.split(maxsplit=1)
            real = int(flag) == 1
        except ValueError:
            raise DatasetError(lst, f"line {n} is not '<0|1> <path>': {line!r}") from None
        rel = rel.strip()
        method = Path(rel).parent.as_posix() or ("real" if real else "fake")
        tasks.append(VideoTask(str(root / rel), f"celebdf/{method}/{Path(rel).stem}", "celebdf", method,
                               0 if real else 1, "test", frames, **kw))
    return tasks


def dfdc_tasks(root: str | os.PathLike, frames: int = 32, **kw) -> list[VideoTask]:
    """DFDC: ROOT/metadata.json {"name.mp4": {"label": "FAKE"|"REAL"} or {"is_fake": 0|1}, ...} with the
    videos beside it (or in ROOT/videos). All go to split "test"."""
    root = Path(root)
    meta_p = root / "metadata.json"
    if not meta_p.exists():
        raise DatasetError(meta_p, "DFDC metadata.json not found")
    try:
        meta = json.loads(meta_p.read_text())
    except ValueError as e:
        raise DatasetError(meta_p, f"is not JSON ({e})") from None
    tasks = []
    for name, info in sorted(meta.items()):
        if "label" in info:
            fake = str(info["label"]).upper() == "FAKE"
        elif "is_fake" in info:
            fake = bool(int(info["is_fake"]))
        else:
            raise DatasetError(meta_p, f"entry {name!r} has neither 'label' nor 'is_fake'")
        path = root / name if (root / name).exists() else root / "videos" / name
        method = "fake" if fake else "real"
        tasks.append(VideoTask(str(path), f"dfdc/{method}/{Path(name).stem}", "dfdc", method, int(fake), "test",
                               frames, **kw))
    return tasks
