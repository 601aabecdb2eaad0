"""The reference of the claimed person: photos or videos of who the suspect video says it shows, as face descriptors
(`core.faces.identity`) that each analysed face is compared with.

    reference = load_reference(["claimed_person.jpg", "interview.mp4"])     # never raises for a bad file
    scan = scan_reference("group.jpg", thumb_side=96)                       # every face, for the analyst to pick
    reference = Reference([scan.file(chosen=[1])])
    for line in reference.messages(): print("warning:", line)
    result = result.with_reference(reference)                             # distances, track verdicts

Each file is opened read-only and hashed (SHA-256): a photo is read once, hashed and decoded from the same bytes; a
video is hashed, then N evenly spaced frames are read (default 16). Every face found is described
(`scan_reference`); what is used (`ReferenceScan.file`): the largest face of a photo, and of a video the person
(its faces grouped by `core.faces.identity.cluster`) who is the largest face in the most frames, unless the
analyst chooses other faces (the app shows each candidate as a thumbnail). A file that cannot be read, or in which
no face is found, gives a note naming it and no descriptor; a file with several faces or people gives a note
saying which was used. Loading never fails because of one file: the analysis runs whatever the reference holds,
and without any descriptor the comparison is skipped (the report says why).

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
# scanning a file, choosing its faces


@dataclass(eq=False)
class ReferenceFace:
    """A face the analyst can choose in a reference file: one face of a photo, or one person across the frames read
    from a video (its faces grouped by `core.faces.identity.cluster`). descriptors (K, 128) float32, one per face;
    frame (0 for a photo) and box (xyxy px) of its largest face; largest: in how many of the images it was the
    largest face; thumbnail: a BGR uint8 crop around that face (None unless the scan was asked for them)."""

    descriptors: np.ndarray
    frame: int
    box: tuple[float, float, float, float]
    largest: int = 0
    thumbnail: np.ndarray | None = None


@dataclass(eq=False)
class ReferenceScan:
    """One reference file read and its faces described, before a choice is made (`scan_reference`). faces: the
    candidates, a photo's faces largest first, a video's people by how many faces they have (most first);
    several: images with more than one face; notes: problems reading the file. `file(chosen)` makes the
    `ReferenceFile` a comparison uses."""

    path: str
    sha256: str | None
    kind: str
    frames_read: int = 0
    faces_found: int = 0
    faces: list[ReferenceFace] = field(default_factory=list)
    several: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def default(self) -> list[int]:
        """What is used unless the analyst chooses: the largest face of a photo; in a video, the person who is the
        largest face in the most frames (all of that person's faces)."""
        if not self.faces:
            return []
        return [max(range(len(self.faces)), key=lambda k: (self.faces[k].largest, -k))]

    def file(self, chosen=None) -> ReferenceFile:
        """The reference file with the faces `chosen` (indices into `faces`; None: `default`), its notes saying
        what was used."""
        by_analyst = chosen is not None
        chosen = sorted({int(k) for k in (self.default if chosen is None else chosen)})
        if any(not 0 <= k < len(self.faces) for k in chosen):
            raise ValueError(f"{self.path}: no face {chosen} among its {len(self.faces)}")
        notes = list(self.notes)
        n, what = len(self.faces), "face" if self.kind == "photo" else "person"
        picked = ", ".join(str(k + 1) for k in chosen)
        descriptors = [d for k in chosen for d in self.faces[k].descriptors]
        if by_analyst and n:
            if not chosen:
                notes.append(f"no {what} chosen by the analyst; not used")
            elif self.kind == "photo":
                notes.append(f"{n} face{'s' if n > 1 else ''} found; face {picked} chosen by the analyst "
                             f"(faces numbered largest first)")
            else:
                notes.append(f"{n} {'people' if n > 1 else 'person'} in the {self.frames_read} frames read; "
                             f"person {picked} chosen by the analyst ({len(descriptors)} faces; people numbered "
                             f"by how many faces they have)")
        elif self.kind == "photo" and n > 1:
            notes.append(f"{n} faces found; the largest was used")
        elif self.kind == "video" and n > 1:
            notes.append(f"{n} people in the {self.frames_read} frames read; the one that is the largest face in "
                         f"most frames was used ({len(descriptors)} faces)")
        elif self.kind == "video" and self.several:
            notes.append(f"several faces in {self.several} of the {self.frames_read} frames read, all of one "
                         f"person; all were used")
        return ReferenceFile(self.path, self.sha256, self.kind, frames_read=self.frames_read,
                             faces_found=self.faces_found, descriptors=descriptors, notes=notes)


def _area(face) -> float:
    """A face's size: the area of its 68 landmarks' bounds (finer than the detector's box, whose sizes come in
    steps of its image pyramid)."""
    lm = np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2)
    return float(np.prod(lm.max(axis=0) - lm.min(axis=0)))


class _Found:
    """The faces of the images read from one file: (image index, face, descriptor, thumbnail, largest?)."""

    def __init__(self, embedder, thumb_side):
        self.embedder, self.thumb_side = embedder, thumb_side
        self.faces: list[tuple[int, object, np.ndarray, np.ndarray | None, bool]] = []
        self.several = 0

    def add(self, index: int, image, faces) -> None:
        from core.reports.figures import face_thumbnail

        big = max(faces, key=_area) if faces else None
        self.several += len(faces) > 1
        for f in faces:
            thumb = face_thumbnail(image, f.box, self.thumb_side) if self.thumb_side else None
            self.faces.append((index, f, self.embedder.describe(image, f.landmarks), thumb, f is big))

    def candidates(self, per_face: bool) -> list[ReferenceFace]:
        """per_face: one candidate per face (a photo), largest first; else one per person (a video)."""
        from core.faces.identity import cluster

        if not self.faces:
            return []
        if per_face:
            groups = [[k] for k in sorted(range(len(self.faces)), key=lambda k: -_area(self.faces[k][1]))]
        else:
            groups, _ = cluster(np.stack([d for _, _, d, _, _ in self.faces]))
            groups.sort(key=lambda g: (-len(g), g[0]))
        out = []
        for g in groups:
            rep = max(g, key=lambda k: (_area(self.faces[k][1]), -k))
            index, face, _, thumb, _ = self.faces[rep]
            out.append(ReferenceFace(descriptors=np.stack([self.faces[k][2] for k in g]), frame=index,
                                     box=tuple(float(v) for v in face.box),
                                     largest=sum(self.faces[k][4] for k in g), thumbnail=thumb))
        return out


def _photo(path: str, pipeline, embedder, thumb_side) -> ReferenceScan:
    import cv2

    with open(path, "rb") as f:  # read once: the hash and the decoded image come from the same bytes
        data = f.read()
    sha = hashlib.sha256(data).hexdigest()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        return ReferenceScan(path, sha, "photo", notes=["not a readable image; not used"])
    pipeline.reset()
    found = _Found(embedder, thumb_side)
    found.add(0, image, pipeline.process(0, image))
    notes = [] if found.faces else ["no face found; not used"]
    return ReferenceScan(path, sha, "photo", frames_read=1, faces_found=len(found.faces),
                         faces=found.candidates(per_face=True), several=found.several, notes=notes)


def _video(path: str, n_frames: int, pipeline, embedder, thumb_side) -> ReferenceScan:
    from core.errors import VideoError
    from core.frames import FrameSelection
    from core.hashing import sha256_file
    from core.video import VideoReader, quick_probe

    sha = sha256_file(path)
    read = 0
    found = _Found(embedder, thumb_side)
    notes = []
    try:
        count, _, _ = quick_probe(path)
        indices = FrameSelection("count", n_frames).indices(count)
        with VideoReader(path) as reader:
            for frame in reader.frames(indices):
                read += 1
                pipeline.reset()  # the detector on every frame read: faces are not followed across far frames
                found.add(frame.index, frame.image, pipeline.process(frame.index, frame.image))
    except VideoError as e:  # not a video, or damaged part-way: what was read before still counts
        notes.append(e.problem if read else f"{e.problem}; not used")
    if read and not found.faces:
        notes.append(f"no face found in any of the {read} frames read; not used")
    return ReferenceScan(path, sha, "video", frames_read=read, faces_found=len(found.faces),
                         faces=found.candidates(per_face=False), several=found.several, notes=notes)


def scan_reference(path, frames: int = REFERENCE_FRAMES, pipeline=None, embedder=None,
                   thumb_side: int | None = None) -> ReferenceScan:
    """Read one reference file (read-only, hashed) and describe every face in it: a photo, or `frames` evenly
    spaced frames of a video (see the module docstring). Never raises for the file itself (its notes say what
    went wrong); CheckpointError naming the model file when the face models cannot be loaded. `thumb_side`: also
    keep a thumbnail (longer side in px) of each candidate face, for the app."""
    from core.faces.identity import FaceEmbedder
    from core.faces.pipeline import FacePipeline

    pipeline = pipeline or FacePipeline()
    embedder = embedder or FaceEmbedder()
    path = os.path.abspath(os.fspath(path))
    kind = "photo" if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS else "video"
    if not os.path.isfile(path):
        return ReferenceScan(path, None, kind,
                             notes=["no such file; not used" if not os.path.exists(path) else "not a file; not used"])
    try:
        return (_photo(path, pipeline, embedder, thumb_side) if kind == "photo"
                else _video(path, frames, pipeline, embedder, thumb_side))
    except OSError as e:
        return ReferenceScan(path, None, kind, notes=[f"cannot be read ({e.strerror or e}); not used"])


def load_reference(paths, frames: int = REFERENCE_FRAMES, pipeline=None, embedder=None) -> Reference:
    """Describe the claimed person from photos and/or videos (see the module docstring), each file with its
    default choice (`ReferenceScan.default`). `frames`: how many evenly spaced frames of each video are read.
    Raises only when the face models themselves cannot be loaded (CheckpointError naming the model file)."""
    from core.faces.identity import FaceEmbedder
    from core.faces.pipeline import FacePipeline

    pipeline = pipeline or FacePipeline()
    embedder = embedder or FaceEmbedder()
    return Reference([scan_reference(p, frames, pipeline, embedder).file() for p in paths])
