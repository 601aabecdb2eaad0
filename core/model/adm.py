"""The Artifact Detection Module (ADM): extra layers 7 -> 7 -> 5 -> 3 -> 1 over the backbone map, and multi-scale
loc/conf heads, one per level, giving 168 anchors' box offsets and artifact/background logits.

Input (B, C, 7, 7). Outputs: loc (B, 168, 4), conf (B, 168, 2) (channels-last, levels concatenated in anchor order,
see `core.model.anchors`), and the final (B, C, 1, 1) feature that the classifier adds to the global feature.
"""
from __future__ import annotations

import torch
from torch import nn

from core.model.anchors import ANCHORS_PER_CELL, FEATURE_MAPS


class ResidualBlock(nn.Module):
    """conv1 (k x k, bias, pad 0) + BN + ReLU -> conv2 (3x3, pad 1) + BN, plus a k x k conv + BN shortcut, ReLU.

    k = 1 keeps the map size (level 0); k = 3 shrinks it by 2 (levels 1, 2).
    """

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel, padding=0, bias=True)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential(nn.Conv2d(channels, channels, kernel, bias=False), nn.BatchNorm2d(channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class EndBlock(nn.Module):
    """3x3 conv (bias) -> ReLU -> 1x1 conv (bias), plus a 3x3 conv shortcut, ReLU; no BN. 3x3 -> 1x1 map."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, bias=True)
        self.conv2 = nn.Conv2d(channels, channels, 1, bias=True)
        self.shortcut = nn.Conv2d(channels, channels, 3, bias=True)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.conv1(x)))
        return self.relu(out + self.shortcut(x))


class ArtifactDetectionModule(nn.Module):
    """ADM at width C: `forward(feat (B,C,7,7)) -> (loc (B,168,4), conf (B,168,2), final (B,C,1,1))`."""

    def __init__(self, channels: int):
        super().__init__()
        self.blocks = nn.ModuleList([ResidualBlock(channels, 1), ResidualBlock(channels, 3),
                                     ResidualBlock(channels, 3), EndBlock(channels)])
        a = ANCHORS_PER_CELL
        kernels = [3 if f > 1 else 1 for f in FEATURE_MAPS]
        self.loc_heads = nn.ModuleList(nn.Conv2d(channels, a * 4, k, padding=k // 2) for k in kernels)
        self.conf_heads = nn.ModuleList(nn.Conv2d(channels, a * 2, k, padding=k // 2) for k in kernels)

    def forward(self, feat: torch.Tensor):
        locs, confs = [], []
        x = feat
        for block, loc_head, conf_head in zip(self.blocks, self.loc_heads, self.conf_heads):
            x = block(x)
            locs.append(loc_head(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4))
            confs.append(conf_head(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 2))
        return torch.cat(locs, dim=1), torch.cat(confs, dim=1), x
