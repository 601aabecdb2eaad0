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

The face pipeline and the descriptor are imported when a file is read.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np

from core.media.evidence import IMAGE_EXTENSIONS
from core.analysis.reference import Reference, ReferenceFace, ReferenceScan

#: Evenly spaced frames read from a reference video.
REFERENCE_FRAMES = 16


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
        from core.faces.thumbnail import face_thumbnail

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
    from core.common.errors import VideoError
    from core.media.frames import FrameSelection
    from core.common.hashing import sha256_file
    from core.media.video import VideoReader, quick_probe

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
    from core.faces.embedder import FaceEmbedder
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
    from core.faces.embedder import FaceEmbedder
    from core.faces.pipeline import FacePipeline

    pipeline = pipeline or FacePipeline()
    embedder = embedder or FaceEmbedder()
    return Reference([scan_reference(p, frames, pipeline, embedder).file() for p in paths])
