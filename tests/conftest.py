"""Shared test fixtures. Tests that read ../shared skip cleanly when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]


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
