"""dlib's face descriptor network run by ONNX Runtime (`core.faces.descriptor_net` reads it and exports it): the
descriptors dlib computes (largest difference 3e-7 on real faces), about 15x faster on this project's CPU (5 vs 72-92
ms a face on one idle thread) and without holding Python's lock while it runs.

`OrtDescriptor(path, reference)(chips: (B, 150, 150, 3) uint8 RGB, dlib's aligned chips) -> (B, 128) float32`. The
export is cached in the cache root's `onnx/` folder by the model file's SHA-256 with dlib's descriptor of a fixed
check chip stored in it; every load compares the session with that (`core.model.onnx.checked_session`), so a cached
export loads without torch and without dlib's network.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: How much a session's descriptors may differ from dlib's on the check chip before it is refused.
PARITY_TOL = 1e-4
#: Part of a cached export's name: bump when what is exported changes.
EXPORT_VERSION = 2


def to_input(chips_rgb: np.ndarray) -> np.ndarray:
    """(B, 150, 150, 3) uint8 RGB chips -> (B, 3, 150, 150) float32, the network's input."""
    return np.ascontiguousarray(np.asarray(chips_rgb, dtype=np.float32).transpose(0, 3, 1, 2))


def _export(path: str) -> bytes:
    from core.faces.descriptor_net import export_onnx, read_weights

    return export_onnx(read_weights(path))


def check_chip() -> np.ndarray:
    """The fixed chip every export is checked on: (1, 150, 150, 3) uint8 RGB noise, seed 0."""
    return np.random.default_rng(0).integers(0, 256, (1, 150, 150, 3), dtype=np.uint8)


class OrtDescriptor:
    """See the module docstring. `reference() -> (chip (150, 150, 3) RGB -> (128,))`: dlib's own descriptor, asked
    for only when the network is exported; its descriptor of the check chip is stored in the export and every load
    compares the session with it (a gap larger than PARITY_TOL raises RuntimeError, or exports a cached file
    afresh: `core.model.onnx.checked_session`). Thread-safe; one thread per call."""

    def __init__(self, path: str | os.PathLike, reference, cache_root: str | os.PathLike | None = None):
        from core.common.hashing import sha256_file_memo
        from core.model.onnx import checked_session, torch_tag

        path = os.fspath(path)
        name = f"dlib-descriptor-{sha256_file_memo(path)}-torch{torch_tag()}-v{EXPORT_VERSION}.onnx"
        chip = check_chip()

        def dlib_descriptor(_x):
            return np.asarray(reference()(chip[0]), dtype=np.float32)[None]

        # one chip at a time: weights not re-laid out (resident memory +50 instead of +88 MB, 4.9 vs 5.0 ms a chip)
        self._session = checked_session(name, lambda: _export(path), dlib_descriptor, to_input(chip),
                                        PARITY_TOL, "the face descriptor model", "dlib",
                                        None if cache_root is None else Path(cache_root), prepack=False)

    def __call__(self, chips_rgb: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"x": to_input(chips_rgb)})[0].astype(np.float32)
