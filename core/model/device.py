"""Choosing the compute device: "auto" takes CUDA, then Apple MPS, then the CPU; never requires a GPU.

`DEVICE_CHOICES` is the one list of device names the CLIs and the app offer (`DEVICE_LABELS` their words for a
menu); `RUNTIME_CHOICES` the runtimes that can run the model on it (`core.model.inference.Predictor`). Torch is imported
only when a device is resolved, so argument parsers can use the names cheaply.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DEVICE_LABELS = {"auto": "Auto (GPU when present)", "cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)"}
#: "auto": ONNX Runtime on the CPU when it is installed (1.6-1.8x faster there, the same outputs within 1e-6:
#: core/model/ort_runtime.py), torch everywhere else.
RUNTIME_CHOICES = ("auto", "torch", "onnxruntime")


def is_device_name(name: str) -> bool:
    """True for one of `DEVICE_CHOICES` or "cuda:N" (any case); whether that device exists is not checked."""
    name = str(name).lower()
    return name in DEVICE_CHOICES or re.fullmatch(r"cuda:\d+", name) is not None


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """"auto" | "cpu" | "cuda" | "cuda:N" | "mps" -> torch.device. Asking for an absent GPU raises ValueError."""
    import torch

    if isinstance(name, torch.device):
        return name
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available (use --device auto or cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for but Apple MPS is not available (use --device auto or cpu)")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """Human-readable device name for status bars and reports, e.g. 'CPU (2 threads)' or 'CUDA: NVIDIA H100'."""
    import torch

    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"
