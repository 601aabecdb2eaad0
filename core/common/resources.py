"""Where the bundled files are: the default model (`models/`) and the sample videos (`samples/`).

In the source tree they lie in the top-level `resources/` folder; an installed wheel ships that folder as the
package `caddm_resources` (pyproject.toml maps the name onto the folder). The folder beside the running code wins:
a source checkout (its root holds pyproject.toml) uses its own `resources/` even when another checkout's editable
install is on the path; otherwise the installed package is found with `importlib.resources`.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = "caddm_resources"
_CHECKOUT = Path(__file__).resolve().parents[2]


def resources_root() -> Path:
    """The folder holding models/ and samples/. When neither place has it: the checkout's `resources/` path, which
    does not exist, so callers see missing files (the registry then says how to choose a model)."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "resources").is_dir():
        return _CHECKOUT / "resources"
    try:
        root = files(PACKAGE)
    except ModuleNotFoundError:
        return _CHECKOUT / "resources"
    # pip unpacks wheels, so this is a folder; a zip import would give no real files for OpenCV and safetensors
    return root if isinstance(root, Path) else _CHECKOUT / "resources"


def resource_path(*parts: str) -> Path:
    """`resource_path("models", "x.safetensors")` -> the bundled file's path (it may not exist)."""
    return resources_root().joinpath(*parts)


def sample_videos() -> list[Path]:
    """The bundled sample clips, sorted by name."""
    return sorted(resource_path("samples").glob("*.mp4"))
