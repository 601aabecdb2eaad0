"""The reference of the claimed person: photos or videos of who the suspect video says it shows, as face descriptors
(`core.faces.identity`) that each analysed face is compared with. This module holds the data (what a result and a
report keep); reading files into it is `core.analysis.reference_scan`.

    reference = Reference([scan.file(chosen=[1])])
    for line in reference.messages(): print("warning:", line)
    result = result.with_reference(reference)                             # distances, track verdicts

Importing this module loads neither OpenCV nor dlib nor the face pipeline (results and reports read `Reference`
without them).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.faces.identity import DIM, descriptor_from_text, descriptor_to_text, quantise



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
