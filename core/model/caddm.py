"""The CADDM detector: backbone -> (optional 1x1 projection) -> global feature + ADM -> classifier.

`logits = fc(global_feat + adm_final_feat)`, P(fake) = softmax(logits)[:, 1]. The forward returns everything in
train and in eval mode: {"logits" (B, 2), "prob" (B,), "loc" (B, 168, 4), "conf" (B, 168, 2)}.
Input: (B, 3, 224, 224) float already in the model's `InputConvention` (see `core.model.preprocess.to_model_input`,
which turns BGR uint8 crops into that).
"""
from __future__ import annotations

import torch
from torch import nn

from core.model.adm import ArtifactDetectionModule
from core.model.backbones import build_backbone
from core.model.anchors import INPUT_SIZE
from core.model.config import ModelConfig
from core.model.preprocess import InputConvention


class CADDM(nn.Module):
    """CADDM with its ADM. `config` (a resolved ModelConfig) and `metadata` (dict) travel with checkpoints."""

    def __init__(self, config: ModelConfig | None = None, backbone_weights=None, pretrained: bool = False):
        super().__init__()
        config = (config or ModelConfig()).resolved()
        if config.input_size != INPUT_SIZE:
            raise ValueError(f"CADDM supports only {INPUT_SIZE}x{INPUT_SIZE} input, not {config.input_size}")
        self.config = config
        self.metadata: dict = {}  # the model card
        self.info = None  # core.model.checkpoints.CheckpointInfo when loaded from a file (load_model)
        self.backbone, spec = build_backbone(config.backbone, weights=backbone_weights, pretrained=pretrained)
        width = config.adm_width
        self.proj = None
        if width != spec.channels:  # narrow ADM over a wide backbone: 1x1 projection first
            self.proj = nn.Sequential(nn.Conv2d(spec.channels, width, 1, bias=False), nn.BatchNorm2d(width),
                                      nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()
        self.adm = ArtifactDetectionModule(width)
        self.fc = nn.Linear(width, 2)

    @property
    def convention(self) -> InputConvention:
        return self.config.convention

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 224, 224) model input -> (B, adm_width, 7, 7) backbone features (after the projection)."""
        feat = self.backbone.forward_features(x)
        return feat if self.proj is None else self.proj(feat)

    @staticmethod
    def pool(feat: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, C) global average: the global feature the classifier sees (before dropout)."""
        return torch.flatten(nn.functional.adaptive_avg_pool2d(feat, 1), 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feat = self.feature_map(x)
        global_feat = self.dropout(self.pool(feat))
        loc, conf, final = self.adm(feat)
        logits = self.fc(global_feat + torch.flatten(final, 1))
        return {"logits": logits, "prob": logits.softmax(dim=1)[:, 1], "loc": loc, "conf": conf}
