"""Shared test fixtures. Tests that read ../shared skip cleanly when it is absent."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# What a run leaves in the cache root (results, ONNX exports, seek previews) goes to a scratch folder, not ~/.cache;
# tests that use the cache set their own.
os.environ.setdefault("CADDM_CACHE_DIR", tempfile.mkdtemp(prefix="caddm-tests-cache-"))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()  # as the entry points do, before any test loads torch

ROOT = Path(__file__).resolve().parents[1]
#: The ONNX exports of this test process (keyed by the exported file's SHA-256 and the runtime versions, so sharing
#: them changes no result): tests that isolate their cache root still reuse them, and each network is exported once.
SHARED_ONNX = Path(os.environ["CADDM_CACHE_DIR"]) / "onnx"


def isolated_cache_dir(path: Path) -> Path:
    """A fresh, empty cache root at `path` (results, seek previews) whose `onnx/` folder is this process's shared
    one (`SHARED_ONNX`). Tests that count exports use a plain empty folder instead."""
    path.mkdir(parents=True, exist_ok=True)
    SHARED_ONNX.mkdir(parents=True, exist_ok=True)
    (path / "onnx").symlink_to(SHARED_ONNX, target_is_directory=True)
    return path


def _find_shared() -> Path:
    """$CADDM_SHARED, else the first `shared/` beside the checkout or beside one of its parents."""
    if os.environ.get("CADDM_SHARED"):
        return Path(os.environ["CADDM_SHARED"])
    for parent in ROOT.parents:
        if (parent / "shared" / "DESIGN.md").exists():
            return parent / "shared"
    return ROOT.parent / "shared"


SHARED = _find_shared()
SHARED_DATA = SHARED / "data"
REFERENCE = SHARED / "fixtures" / "caddm_reference"


def need(path: Path) -> Path:
    """Skip the calling test when `path` (under ../shared) is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared not available)")
    return path


@pytest.fixture
def shared_data() -> Path:
    return need(SHARED_DATA)


@pytest.fixture
def reference_dir() -> Path:
    return need(REFERENCE)


# ------------------------------------------------------------------ small real-looking inputs that need no ../shared
DATA = ROOT / "tests" / "data"
TINY_CONFIG = dict(backbone="timm:resnet18", adm_width=32)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A small CADDM checkpoint in our format (random weights: for plumbing, not accuracy)."""
    import torch

    from core.model.checkpoints import save_model
    from core.model.caddm import CADDM
    from core.model.config import ModelConfig

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_model(CADDM(ModelConfig(**TINY_CONFIG)).eval(), path, name="tiny-test")
    return path


def face_square(i: int, frames: int, size=(360, 300)) -> tuple[int, int, int]:
    """(x, y, side) in frame pixels of the pasted face in frame i of `write_face_clip`: it drifts left to right."""
    w, h = size
    side = int(h * 0.8)
    return int((w - side) * i / max(1, frames - 1)), (h - side) // 2, side


def write_face_clip(path: Path, frames: int = 20, size=(360, 300), fps: float = 10.0, numbered: bool = False,
                    gain: float = 1.0) -> Path:
    """A clip (mp4v) of the public-domain astronaut face (tests/data) drifting across a grey frame; `numbered`
    prints the frame number in a corner; `gain` < 1 darkens every frame (0.12: a dim clip on which HOG alone misses
    most faces and the exposure-normalised retry finds them)."""
    import cv2
    import numpy as np

    face = cv2.imread(str(DATA / "astronaut_face.jpg"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        x, y, side = face_square(i, frames, size)
        canvas = np.full((size[1], size[0], 3), 90, np.uint8)
        canvas[y : y + side, x : x + side] = cv2.resize(face, (side, side))
        if numbered:
            cv2.putText(canvas, str(i), (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        if gain != 1.0:
            canvas = np.clip(np.rint(canvas * float(gain)), 0, 255).astype(np.uint8)
        writer.write(canvas)
    writer.release()
    return path


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory) -> Path:
    return write_face_clip(tmp_path_factory.mktemp("clips") / "face_clip.mp4")


@pytest.fixture(scope="session")
def dim_face_clip(tmp_path_factory) -> Path:
    return write_face_clip(tmp_path_factory.mktemp("clips") / "dim_face_clip.mp4", gain=0.12)


def pytest_collection_modifyitems(config, items):
    """The `long` tests first (stable otherwise): under pytest-xdist the workers then finish together instead of
    one running a long test while the other waits."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
