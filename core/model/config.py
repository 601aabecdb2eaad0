"""What it takes to rebuild a CADDM model, as data: `ModelConfig` (backbone name, ADM width, input convention,
input size). No torch: a checkpoint's header is read into one (`core.model.checkpoints.read_checkpoint_info`) and
the ONNX Runtime path runs from it without building the network. `resolved()` fills what a config leaves to its
backbone (that looks the backbone up in `core.model.backbones`, which loads timm).
"""
from __future__ import annotations

from dataclasses import dataclass

from core.model.anchors import INPUT_SIZE
from core.model.preprocess import InputConvention


@dataclass
class ModelConfig:
    """What it takes to rebuild a model: backbone name, ADM width (None = backbone width), input convention."""

    backbone: str = "resnet34"
    adm_width: int | None = None
    convention: InputConvention | None = None  # None: the backbone's own
    input_size: int = INPUT_SIZE

    @property
    def is_resolved(self) -> bool:
        """True when nothing is left to the backbone's defaults (a checkpoint's stored config always is)."""
        return self.adm_width is not None and self.convention is not None

    def resolved(self) -> "ModelConfig":
        if self.is_resolved:
            return ModelConfig(self.backbone, self.adm_width, self.convention, self.input_size)
        from core.model.backbones import get_spec

        spec = get_spec(self.backbone)
        width = self.adm_width if self.adm_width is not None else (spec.adm_width or spec.channels)
        return ModelConfig(self.backbone, width, self.convention or spec.convention, self.input_size)

    def to_dict(self) -> dict:
        r = self.resolved()
        return {"backbone": r.backbone, "adm_width": r.adm_width, "convention": r.convention.to_dict(),
                "input_size": r.input_size}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        conv = d.get("convention")
        return cls(backbone=d["backbone"], adm_width=d.get("adm_width"),
                   convention=InputConvention.from_dict(conv) if conv else None,
                   input_size=int(d.get("input_size", INPUT_SIZE)))
