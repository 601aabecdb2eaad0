"""Face descriptors and the distances between them: who a face is, independently of whether it looks manipulated.

A face swap replaces the claimed person's inner face with someone else's; a face-recognition descriptor of the swapped
face then lies far from descriptors of the claimed person. Expression re-enactment (Face2Face, NeuralTextures) keeps
the person's identity and is not seen by this check. This is a second line of evidence, never mixed into CADDM's
P(fake).

Computing a descriptor (dlib's face-recognition network): `core.faces.embedder`.

Pure functions (numpy only; no dlib, no OpenCV at import): `distances`, `identity_verdict`, `track_consistency`,
`consistency_jumps`, `cluster` (how many people: groups of descriptors, e.g. of the tracks' median descriptors),
`quantise`, `descriptor_to_text` / `descriptor_from_text` (base64 of little-endian float16,
the result files' compact form).

Thresholds on a track's median distance to the reference (`bench/identity_bench.py`, docs/IDENTITY.md). On
FaceForensics++ pairs with the first 30% of each original as the reference, real rests and re-enactments of the same
person gave medians 0.20-0.42, face swaps 0.50-0.80, real videos of the other person of a pair 0.69-0.85:
    SAME_MAX        0.45: at or below, "same person" (above every real and re-enacted video, below every swap)
    DIFFERENT_MIN   0.60: at or above, "different person": dlib's published operating point, kept because it was
                    set across recordings of a person, where real references here came from the same recording;
                    3 of 30 swaps (0.50-0.57) stay "inconclusive" rather than risk calling a genuine video's person
                    someone else
    in between, or with fewer than MIN_FACES (3) described faces: "inconclusive"
    Clusters (`cluster`): two groups are merged while their average-linkage distance is at most SAME_MAX (the
                    same person); groups left between SAME_MAX and DIFFERENT_MIN apart may still be one person
                    (the report names the nearest other group and its distance); at DIFFERENT_MIN or more apart,
                    distinct people
    JUMP_DISTANCE   0.60: a face farther than this from its track's median descriptor is listed as a jump (one
                    that dlib would call another person). On 62 tracks of 58 real clips the per-track maximum was
                    0.29 (median) and 0.42 (90th percentile); above 0.6 were a track of a film clip, low-resolution
                    faces under hair, and a clip whose face visibly changes
"""
from __future__ import annotations

import base64

import numpy as np

from core.faces.identity_thresholds import DIFFERENT_MIN, JUMP_DISTANCE, MIN_FACES, SAME_MAX  # noqa: F401 (re-exported)

DIM = 128

VERDICTS = ("same person", "different person", "inconclusive")


# ----------------------------------------------------------------------------------------------------------------
# pure functions


def quantise(descriptor) -> np.ndarray:
    """(128,) float32 holding exactly the values the compact form stores (float16): a descriptor kept in a result
    gives the same distances before and after a JSON round trip."""
    d = np.asarray(descriptor, dtype=np.float32).reshape(-1)
    if d.shape != (DIM,):
        raise ValueError(f"a face descriptor has {DIM} values, not {d.size}")
    if not np.isfinite(d).all():
        raise ValueError("a face descriptor must be finite")
    return d.astype("<f2").astype(np.float32)


def descriptor_to_text(descriptor) -> str:
    """Base64 (ASCII) of the descriptor as 128 little-endian float16: 344 characters."""
    return base64.b64encode(quantise(descriptor).astype("<f2").tobytes()).decode("ascii")


def descriptor_from_text(text: str) -> np.ndarray:
    """The (128,) float32 descriptor of `descriptor_to_text`; ValueError for anything else."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != 2 * DIM:
        raise ValueError(f"a face descriptor is {2 * DIM} bytes, not {len(raw)}")
    return quantise(np.frombuffer(raw, dtype="<f2"))


def distances(descriptors, reference) -> np.ndarray:
    """(N,) float64: each descriptor's Euclidean distance to the nearest of the reference descriptors.

    descriptors (N, 128), reference (M, 128) with M >= 1 (ValueError otherwise)."""
    a = np.asarray(descriptors, dtype=np.float64).reshape(-1, DIM)
    b = np.asarray(reference, dtype=np.float64).reshape(-1, DIM)
    if len(b) == 0:
        raise ValueError("no reference descriptor to compare with")
    if len(a) == 0:
        return np.zeros(0)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(d2, 0.0, None).min(axis=1))


def identity_verdict(dists) -> str:
    """"same person" when the median distance is at most SAME_MAX, "different person" when at least
    DIFFERENT_MIN, else "inconclusive"; always "inconclusive" with fewer than MIN_FACES finite distances."""
    d = np.asarray(dists, dtype=np.float64).reshape(-1)
    d = d[np.isfinite(d)]
    if len(d) < MIN_FACES:
        return "inconclusive"
    m = float(np.median(d))
    if m <= SAME_MAX:
        return "same person"
    if m >= DIFFERENT_MIN:
        return "different person"
    return "inconclusive"


def track_consistency(descriptors) -> np.ndarray:
    """(N,) float64: each descriptor's distance to the element-wise median of the N descriptors of one track (no
    reference needed). A steady identity stays low throughout; a face that changes identity mid-track jumps."""
    a = np.asarray(descriptors, dtype=np.float64).reshape(-1, DIM)
    if len(a) == 0:
        return np.zeros(0)
    return np.linalg.norm(a - np.median(a, axis=0), axis=1)


def consistency_jumps(consistency, frame_indices) -> list[int]:
    """The frame indices whose consistency distance exceeds JUMP_DISTANCE."""
    c = np.asarray(consistency, dtype=np.float64).reshape(-1)
    return [int(i) for i, v in zip(frame_indices, c) if v > JUMP_DISTANCE]


def cluster(descriptors) -> tuple[list[list[int]], np.ndarray]:
    """How many people: average-linkage agglomerative clustering of descriptors (N, 128), e.g. one median
    descriptor per face track. The two groups with the smallest mean pairwise distance are merged while that
    distance is at most SAME_MAX; groups that stay apart are distinct at DIFFERENT_MIN or more and undecided in
    between (the caller reports the nearest group and its distance).

    Returns (groups, linkage): groups of row indices (each ascending; groups ordered by their first row) and
    linkage (G, G) float64, the average-linkage distance between the final groups (0 on the diagonal)."""
    a = np.asarray(descriptors, dtype=np.float64).reshape(-1, DIM)
    n = len(a)
    if n == 0:
        return [], np.zeros((0, 0))
    d2 = (a * a).sum(1)[:, None] + (a * a).sum(1)[None, :] - 2.0 * a @ a.T
    link = np.sqrt(np.clip(d2, 0.0, None))
    np.fill_diagonal(link, np.inf)
    groups: list[list[int] | None] = [[i] for i in range(n)]
    while True:
        k = int(np.argmin(link))
        i, j = divmod(k, n)
        if not link[i, j] <= SAME_MAX:  # also stops on inf (one group left)
            break
        i, j = min(i, j), max(i, j)
        ni, nj = len(groups[i]), len(groups[j])
        merged = (ni * link[i] + nj * link[j]) / (ni + nj)  # Lance-Williams update for average linkage
        link[i, :] = link[:, i] = merged
        link[i, i] = np.inf
        link[j, :] = link[:, j] = np.inf
        groups[i] = sorted(groups[i] + groups[j])
        groups[j] = None
    keep = sorted((g[0], r) for r, g in enumerate(groups) if g is not None)
    rows = [r for _, r in keep]
    out = link[np.ix_(rows, rows)]
    np.fill_diagonal(out, 0.0)
    return [groups[r] for r in rows], out
