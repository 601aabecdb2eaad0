"""The reference of the claimed person: photos or videos of who the suspect video says it shows, as face descriptors
(`core.faces.identity`) that each analysed face is compared with.

    reference = load_reference(["claimed_person.jpg", "interview.mp4"])     # never raises for a bad file
    for line in reference.messages(): print("warning:", line)
    result = result.with_reference(reference)                             # distances, track verdicts

Each file is opened read-only and hashed (SHA-256): a photo is read once, hashed and decoded from the same bytes; a
video is hashed, then N evenly spaced frames are read (default 16). From each photo or frame the largest face is
described. A file that cannot be read, or in which no face is found, gives a note naming it and no descriptor; a
photo or frame with several faces gives a note saying the largest was used. Loading never fails because of one
file: the analysis runs whatever the reference holds, and without any descriptor the comparison is skipped (the
report says why).

Importing this module loads neither OpenCV nor dlib (results and reports read `Reference` without them).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np

from core.evidence import IMAGE_EXTENSIONS
from core.faces.identity import DIM, descriptor_from_text, descriptor_to_text, quantise

#: Evenly spaced frames read from a reference video.
REFERENCE_FRAMES = 16


@dataclass(eq=False)
class ReferenceFile:
    """One reference file: path, SHA-256 (None when it could not be read), kind ("photo" or "video"), how many
    images were read from it (1 for a photo), how many faces were found in them (all faces, before keeping the
    largest of each image), its descriptors ((K, 128) float32, one per image with a face) and notes (one line
    each: a problem or what was chosen)."""

    path: str
    sha256: str | None
    kind: str
    frames_read: int = 0
    faces_found: int = 0
    descriptors: np.ndarray = field(default_factory=lambda: np.zeros((0, DIM), np.float32))
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        d = np.asarray(self.descriptors, dtype=np.float32).reshape(-1, DIM)
        self.descriptors = np.stack([quantise(x) for x in d]) if len(d) else np.zeros((0, DIM), np.float32)
        self.frames_read, self.faces_found = int(self.frames_read), int(self.faces_found)
        self.notes = [str(n) for n in self.notes]

    @property
    def faces_used(self) -> int:
        return len(self.descriptors)

    def to_dict(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "kind": self.kind, "frames_read": self.frames_read,
                "faces_found": self.faces_found, "faces_used": self.faces_used, "notes": list(self.notes),
                "descriptors": [descriptor_to_text(d) for d in self.descriptors]}

    @classmethod
    def from_dict(cls, d: dict) -> "ReferenceFile":
        return cls(path=d["path"], sha256=d.get("sha256"), kind=d.get("kind", "photo"),
                   frames_read=d.get("frames_read", 0), faces_found=d.get("faces_found", 0),
                   descriptors=[descriptor_from_text(t) for t in d.get("descriptors", [])],
                   notes=d.get("notes", []))

    def __eq__(self, other):
        return self.to_dict() == other.to_dict() if isinstance(other, ReferenceFile) else NotImplemented


@dataclass
class Reference:
    """The claimed person's reference: its files in the order given (absolute paths). `descriptors` (M, 128)
    joins theirs."""

    files: list[ReferenceFile] = field(default_factory=list)

    def __post_init__(self):
        self.files = [f if isinstance(f, ReferenceFile) else ReferenceFile.from_dict(f) for f in self.files]

    @property
    def descriptors(self) -> np.ndarray:
        parts = [f.descriptors for f in self.files if f.faces_used]
        return np.concatenate(parts) if parts else np.zeros((0, DIM), np.float32)

    def messages(self) -> list[str]:
        """Every note, as "path: note", and one line when no file gave a face."""
        out = [f"{f.path}: {n}" for f in self.files for n in f.notes]
        if not len(self.descriptors):
            out.append("reference: no face found in any reference file; identity distances are not computed")
        return out

    def to_dict(self) -> dict:
        return {"files": [f.to_dict() for f in self.files], "faces_used": len(self.descriptors)}

    @classmethod
    def from_dict(cls, d: dict) -> "Reference":
        return cls(files=[ReferenceFile.from_dict(f) for f in d.get("files", [])])


# ----------------------------------------------------------------------------------------------------------------
# loading


def _largest(faces):
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def _photo(path: str, pipeline, embedder) -> ReferenceFile:
    import cv2

    with open(path, "rb") as f:  # read once: the hash and the decoded image come from the same bytes
        data = f.read()
    sha = hashlib.sha256(data).hexdigest()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        return ReferenceFile(path, sha, "photo", notes=["not a readable image; not used"])
    pipeline.reset()
    faces = pipeline.process(0, image)
    if not faces:
        return ReferenceFile(path, sha, "photo", frames_read=1, notes=["no face found; not used"])
    notes = [f"{len(faces)} faces found; the largest was used"] if len(faces) > 1 else []
    return ReferenceFile(path, sha, "photo", frames_read=1, faces_found=len(faces),
                         descriptors=[embedder.describe(image, _largest(faces).landmarks)], notes=notes)


def _video(path: str, n_frames: int, pipeline, embedder) -> ReferenceFile:
    from core.errors import VideoError
    from core.frames import FrameSelection
    from core.hashing import sha256_file
    from core.video import VideoReader, quick_probe

    sha = sha256_file(path)
    read = found = several = 0
    descriptors, notes = [], []
    try:
        count, _, _ = quick_probe(path)
        indices = FrameSelection("count", n_frames).indices(count)
        pipeline.reset(frame_step=max((b - a for a, b in zip(indices, indices[1:])), default=1))
        with VideoReader(path) as reader:
            for frame in reader.frames(indices):
                read += 1
                faces = pipeline.process(frame.index, frame.image)
                found += len(faces)
                several += len(faces) > 1
                if faces:
                    descriptors.append(embedder.describe(frame.image, _largest(faces).landmarks))
    except VideoError as e:  # not a video, or damaged part-way: what was read before still counts
        notes.append(e.problem if read else f"{e.problem}; not used")
    if read and not descriptors:
        notes.append(f"no face found in any of the {read} frames read; not used")
    elif several:
        notes.append(f"several faces in {several} of the {read} frames read; the largest of each was used")
    return ReferenceFile(path, sha, "video", frames_read=read, faces_found=found, descriptors=descriptors,
                         notes=notes)


def load_reference(paths, frames: int = REFERENCE_FRAMES, pipeline=None, embedder=None) -> Reference:
    """Describe the claimed person from photos and/or videos (see the module docstring). `frames`: how many evenly
    spaced frames of each video are read. Raises only when the face models themselves cannot be loaded
    (CheckpointError naming the model file)."""
    from core.faces.identity import FaceEmbedder
    from core.faces.pipeline import FacePipeline

    pipeline = pipeline or FacePipeline()
    embedder = embedder or FaceEmbedder()
    out = []
    for p in paths:
        path = os.path.abspath(os.fspath(p))
        kind = "photo" if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS else "video"
        if not os.path.isfile(path):
            out.append(ReferenceFile(path, None, kind,
                                     notes=["no such file; not used" if not os.path.exists(path) else "not a file; not used"]))
            continue
        try:
            out.append(_photo(path, pipeline, embedder) if kind == "photo"
                       else _video(path, frames, pipeline, embedder))
        except OSError as e:
            out.append(ReferenceFile(path, None, kind, notes=[f"cannot be read ({e.strerror or e}); not used"]))
    return Reference(out)
