"""Loading and saving CADDM checkpoints, safely.

Two formats load:
- **ours**: one safetensors file; its header metadata holds `caddm` = JSON with the model config (backbone, ADM width,
  input convention, input size), and the model card (name, training data and command, metrics, licence, date, ...).
  Tensors may be stored fp16 (the bundled model) and are loaded as float32.
- **the authors'** released CADDM checkpoints: a torch pickle `{'network': state_dict}` (with or without DataParallel
  `module.` prefixes) for resnet34, efficientnet-b3 and efficientnet-b4, mapped onto our modules. Read with
  `torch.load(weights_only=True)` only: a pickle that holds code is refused, never executed.

A checkpoint's identity travels with it as a `CheckpointInfo` (like timm's pretrained cfg): name, backbone, format,
path, SHA-256, model card and calibrated threshold. `read_checkpoint_info(path)` reads it without building the
model (our format: the safetensors header only); `load_model(path).info` is the same record.

Every failure is a `CheckpointError` naming the file and the problem.
"""
from __future__ import annotations

import json
import os
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core import __version__
from core.common.atomic import atomic_write_bytes
from core.common.errors import CheckpointError
from core.common.formatting import utc_now
from core.common.hashing import sha256_file_memo
from core.model.config import ModelConfig

if TYPE_CHECKING:
    import torch

    from core.model.caddm import CADDM

FORMAT = "caddm-inspector/checkpoint@1"
METADATA_KEY = "caddm"
OURS, AUTHORS = "caddm-inspector", "authors"  # CheckpointInfo.format
DEFAULT_THRESHOLD = 0.5  # P(fake) threshold of a model whose card holds no calibration


@dataclass(frozen=True)
class CheckpointInfo:
    """Who a checkpoint is. `path` absolute; `sha256` of the file (hex); `format` OURS or AUTHORS; `card` the model
    card (JSON-serialisable: description, data, metrics, licence, calibration, ...); `threshold` the calibrated
    P(fake) threshold from the card's `calibration`, None when the card has none (then 0.5 is the usual default)."""

    name: str
    backbone: str
    format: str
    path: str
    sha256: str
    card: dict = field(default_factory=dict)
    input_size: int = 224

    @property
    def threshold(self) -> float | None:
        return calibrated_threshold(self.card)

    @property
    def default_threshold(self) -> float:
        """The threshold the model is used at unless the user chooses one (calibrated, else DEFAULT_THRESHOLD)."""
        t = self.threshold
        return DEFAULT_THRESHOLD if t is None else t

    def describe(self) -> str:
        """Lines for a person: identity first, then the card's entries (long values cut)."""
        lines = [f"name: {self.name}", f"backbone: {self.backbone}", f"format: {self.format}",
                 f"sha256: {self.sha256}", f"path: {self.path}"]
        if self.threshold is not None:
            lines.append(f"calibrated threshold: {self.threshold:.3f}")
        for k, v in self.card.items():
            if k != "name":
                lines.append(f"{k}: {v if isinstance(v, (str, int, float)) else json.dumps(v)[:200]}")
        return "\n".join(lines)


def calibrated_threshold(card: dict) -> float | None:
    """`card["calibration"]["threshold"]` when it is a number in [0, 1], else None."""
    cal = card.get("calibration")
    t = cal.get("threshold") if isinstance(cal, dict) else None
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) and 0.0 <= t <= 1.0 else None


def default_threshold(path: str | os.PathLike) -> float:
    """The P(fake) threshold a model is used at unless the user chooses one: its card's calibrated threshold, else
    DEFAULT_THRESHOLD. Reads our header only; the authors' pickles (no calibration) are not opened."""
    path = Path(path)
    try:
        if path.is_file() and _is_safetensors(path):
            t = calibrated_threshold(_read_header(path).get("card", {}))
            if t is not None:
                return t
    except (CheckpointError, OSError):
        pass
    return DEFAULT_THRESHOLD


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(path, "model file not found")
    if path.is_dir():
        raise CheckpointError(path, "is a folder, not a model file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "is empty")


def _info(path: Path, config: ModelConfig, card: dict, fmt: str) -> CheckpointInfo:
    card = dict(card)
    name = str(card.get("name") or path.stem)
    card["name"] = name
    return CheckpointInfo(name=name, backbone=config.backbone, format=fmt, path=str(path.resolve()),
                          sha256=sha256_file_memo(path), card=card, input_size=config.input_size)


def _authors_card(config: ModelConfig) -> dict:
    return {"name": f"authors-{config.backbone}", "licence": "see the authors' release (Apache-2.0 code)"}


def read_checkpoint_info(path: str | os.PathLike) -> CheckpointInfo:
    """The identity of a checkpoint without building its model: for our format only the safetensors header is
    read; the authors' pickles are read (weights only) to tell their backbone. CheckpointError when unreadable."""
    return read_checkpoint_header(path)[0]


def read_checkpoint_header(path: str | os.PathLike) -> tuple[CheckpointInfo, ModelConfig]:
    """(identity, model config) of a checkpoint without building its model, as `read_checkpoint_info`: for our
    format without torch (the ONNX Runtime path runs from these two and a cached export)."""
    path = Path(path)
    _check_file(path)
    if _is_safetensors(path):
        header = _read_header(path)
        config = ModelConfig.from_dict(header["config"])
        return _info(path, config, header.get("card", {}), OURS), config
    config, _ = _read_authors(path)
    return _info(path, config, _authors_card(config), AUTHORS), config


# --------------------------------------------------------------------------------------------------- our format
def save_model(model: CADDM, path: str | os.PathLike, *, half: bool = False, **metadata) -> Path:
    """Write `model` to `path` (safetensors, atomic). `metadata` (JSON-serialisable) joins `model.metadata`:
    name, training data and command, metrics, licence, ... `half=True` stores weight tensors (2-D and more) as fp16;
    1-D tensors (BatchNorm statistics, biases: a tiny share of the size, and the ones fp16 hurts) stay fp32."""
    from safetensors.torch import save

    path = Path(path)
    meta = {**getattr(model, "metadata", {}), **metadata}
    meta.setdefault("created_utc", utc_now())
    meta.setdefault("software", f"caddm-inspector {__version__}")
    header = {"format": FORMAT, "config": model.config.to_dict(), "card": meta}
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu").contiguous()
        if half and v.is_floating_point() and v.ndim > 1:
            v = v.half()
        tensors[k] = v
    data = save(tensors, metadata={METADATA_KEY: json.dumps(header, sort_keys=True)})
    atomic_write_bytes(path, data)
    return path


def _is_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n < 100_000_000 and head[8:9] == b"{"


def _parse_header(raw: str | None, path: Path) -> dict:
    if raw is None:
        raise CheckpointError(path, "is a safetensors file but not a CADDM Inspector checkpoint (no 'caddm' metadata)")
    try:
        header = json.loads(raw)
        assert header.get("format") == FORMAT, f"unknown format {header.get('format')!r}"
        ModelConfig.from_dict(header["config"])
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(path, f"has unreadable CADDM metadata ({e})") from None
    return header


def _read_header(path: Path) -> dict:
    """Our header (format, config, card) from the safetensors JSON header alone (no tensor is read)."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 100_000_000:
                raise ValueError(f"header of {n} bytes")
            st_header = json.loads(f.read(n))
        raw = (st_header.get("__metadata__") or {}).get(METADATA_KEY)
        end = max((int(v["data_offsets"][1]) for k, v in st_header.items() if k != "__metadata__"), default=0)
        if 8 + n + end != path.stat().st_size:
            raise ValueError(f"the header describes {8 + n + end} bytes, the file has {path.stat().st_size}")
    except (OSError, ValueError, KeyError, TypeError, IndexError, struct.error) as e:
        raise CheckpointError(path, f"corrupt or truncated safetensors file ({e})") from None
    return _parse_header(raw, path)


def _read_ours(path: Path) -> tuple[dict, dict]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(METADATA_KEY)
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(path, f"corrupt or truncated safetensors file ({e})") from None
    return _parse_header(raw, path), state


# --------------------------------------------------------------------------------------------- authors' format
_ADM_RULES = [
    (re.compile(r"^adm\.adm_extra_layers\.([012])\.0\.downsample\.(\d)\."), r"adm.blocks.\1.shortcut.\2."),
    (re.compile(r"^adm\.adm_extra_layers\.([012])\.0\."), r"adm.blocks.\1."),
    (re.compile(r"^adm\.adm_extra_layers\.3\.downsample\."), r"adm.blocks.3.shortcut."),
    (re.compile(r"^adm\.adm_extra_layers\.3\."), r"adm.blocks.3."),
    (re.compile(r"^adm\.multi_scale_detection_module\.ms_dets\."), r"adm.loc_heads."),
    (re.compile(r"^adm\.multi_scale_detection_module\.ms_cls\."), r"adm.conf_heads."),
]


def _authors_backbone(state: dict, path: Path) -> str:
    if "base_model.layer4.0.conv1.weight" in state:
        n_layer3 = len({k.split(".")[2] for k in state if k.startswith("base_model.layer3.")})
        if n_layer3 == 6 and state["base_model.layer4.0.conv1.weight"].shape[0] == 512:
            return "resnet34"
        raise CheckpointError(path, "has a ResNet backbone other than ResNet-34; the authors released resnet34 only")
    head = state.get("base_model._conv_head.weight")
    if head is not None:
        by_width = {1536: "efficientnet-b3", 1792: "efficientnet-b4"}
        if head.shape[0] in by_width:
            return by_width[head.shape[0]]
        raise CheckpointError(path, f"has an EfficientNet head of width {head.shape[0]}: not b3 (1536) or b4 (1792)")
    raise CheckpointError(path, "is not a CADDM checkpoint (no base_model backbone tensors)")


def convert_authors_state(state: dict, path: Path) -> tuple[ModelConfig, dict]:
    """The authors' state_dict (prefixes stripped) -> (our ModelConfig, our state_dict)."""
    from core.model.caddm import CADDM

    backbone = _authors_backbone(state, path)
    model = CADDM(ModelConfig(backbone))
    out = {}
    backbone_src = {k[len("base_model."):]: v for k, v in state.items() if k.startswith("base_model.")}
    if backbone == "resnet34":
        own = model.backbone.state_dict()
        backbone_dst = {k: v for k, v in backbone_src.items() if k in own}
    else:
        from core.model.backbones import map_state_by_order
        backbone_dst = map_state_by_order(backbone_src, model.backbone, source=str(path),
                                          skip=lambda k: k.startswith("_fc."))
    out.update({f"backbone.{k}": v for k, v in backbone_dst.items()})
    for k, v in state.items():
        if k.startswith("adm."):
            for pattern, repl in _ADM_RULES:
                if pattern.match(k):
                    out[pattern.sub(repl, k, count=1)] = v
                    break
        elif k.startswith("fc."):
            out[k] = v
    return model.config, out


def _read_authors(path: Path) -> tuple[ModelConfig, dict]:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        text = str(e)
        if "Weights only load failed" in text or "Unsupported global" in text or "UnpicklingError" in type(e).__name__:
            raise CheckpointError(path, "refused: the pickle holds objects other than tensors (possibly code); "
                                        "only plain weight files are loaded") from None
        if isinstance(e, (zipfile.BadZipFile, EOFError, RuntimeError)):
            raise CheckpointError(path, "is corrupt or truncated (cannot be read as a torch checkpoint)") from None
        raise CheckpointError(path, f"is not a model checkpoint ({type(e).__name__})") from None
    state = obj.get("network", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(path, "is not a CADDM checkpoint (expected {'network': state_dict} of tensors)")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    return convert_authors_state(state, path)


# ------------------------------------------------------------------------------------------------- public API
def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> CADDM:
    """Load a checkpoint of either format; the model is in eval mode on `device` ("auto" allowed).

    `model.info` is its `CheckpointInfo`; `model.metadata` its model card (a dict, name included).
    """
    from core.model.caddm import CADDM
    from core.model.device import resolve_device

    path = Path(path)
    _check_file(path)
    if _is_safetensors(path):
        header, state = _read_ours(path)
        config = ModelConfig.from_dict(header["config"])
        card, fmt = dict(header.get("card", {})), OURS
    else:
        config, state = _read_authors(path)
        card, fmt = _authors_card(config), AUTHORS
    try:
        model = CADDM(config)
    except ValueError as e:
        raise CheckpointError(path, f"describes a model that cannot be built ({e})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        what = f"lacks {len(missing)} tensors (first: {missing[0]})" if missing else \
            f"has {len(unexpected)} unknown tensors (first: {unexpected[0]})"
        raise CheckpointError(path, f"does not match its {config.backbone} architecture: {what}")
    model.info = _info(path, config, card, fmt)
    model.metadata = dict(model.info.card)
    return model.to(resolve_device(device)).eval()
