"""Known models, by name (after timm's registry): the bundled default and the authors' released architectures.

`resolve_model("name" | "path")` gives the file to load. Nothing here downloads: an entry without a bundled file
says where its weights come from, and the user passes the file with `--model PATH`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.common.errors import CheckpointError
from core.common.resources import resources_root

RESOURCES = resources_root()
MODELS_DIR = RESOURCES / "models"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    backbone: str
    description: str
    file: str | None = None  # relative to resources/models when bundled
    origin: str = ""
    licence: str = ""

    @property
    def path(self) -> Path | None:
        return MODELS_DIR / self.file if self.file else None

    @property
    def available(self) -> bool:
        return self.path is not None and self.path.is_file()


DEFAULT_MODEL = "caddm-lite-demo"

REGISTRY: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(DEFAULT_MODEL, "efficientnet-lite0",
                   "Bundled CPU demo model: ImageNet-pretrained EfficientNet-Lite0 + narrow ADM, trained with MFS on "
                   "the project's small real material (see resources/models/README.md for its card and limits).",
                   file="caddm_lite_demo.safetensors", origin="trained by this project", licence="Apache-2.0"),
        ModelEntry("authors-resnet34", "resnet34",
                   "The paper's ResNet-34 CADDM trained on FaceForensics++ (released by the authors; pass the .pkl "
                   "with --model).", origin="megvii-research/CADDM release", licence="see the authors' release"),
        ModelEntry("authors-efficientnet-b3", "efficientnet-b3", "The paper's EfficientNet-b3 CADDM (authors' release).",
                   origin="megvii-research/CADDM release", licence="see the authors' release"),
        ModelEntry("authors-efficientnet-b4", "efficientnet-b4", "The paper's EfficientNet-b4 CADDM (authors' release).",
                   origin="megvii-research/CADDM release", licence="see the authors' release"),
    )
}

HOW_TO_GET_A_MODEL = (
    "no model chosen and no bundled default model found: choose a checkpoint (caddm-analyze --model PATH; in the "
    "app: Settings > Model), either the authors' released CADDM .pkl (loads as it is) or one trained with "
    "`caddm-train fit` (README: Models)."
)


def default_model_path() -> Path | None:
    entry = REGISTRY[DEFAULT_MODEL]
    return entry.path if entry.available else None


def resolve_model(name_or_path: str | None) -> Path:
    """A registry name or a file path -> the checkpoint file. None -> the bundled default. Raises CheckpointError."""
    if name_or_path is None:
        path = default_model_path()
        if path is None:
            raise CheckpointError(None, HOW_TO_GET_A_MODEL)
        return path
    if name_or_path in REGISTRY:
        entry = REGISTRY[name_or_path]
        if entry.available:
            return entry.path
        raise CheckpointError(None, f"model {name_or_path!r} is not bundled: {entry.description}")
    return Path(name_or_path)


def model_default_threshold(name_or_path: str | None) -> float:
    """The P(fake) threshold the model `name_or_path` (None: the bundled default) is used at unless the analyst
    chooses one: its card's calibrated threshold, else 0.5; 0.5 too when there is no usable model (analysis says
    why). Reads our checkpoint's header only; never loads a model or opens a pickle."""
    from core.model.checkpoints import DEFAULT_THRESHOLD, default_threshold

    try:
        return default_threshold(resolve_model(name_or_path))
    except CheckpointError:
        return DEFAULT_THRESHOLD
