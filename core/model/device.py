"""Choosing the compute device: "auto" takes CUDA, then Apple MPS, then the CPU; never requires a GPU.

`DEVICE_CHOICES` is the one list of device names the CLIs and the app offer (`DEVICE_LABELS` their words for a
menu); `RUNTIME_CHOICES` the runtimes that can run the model on it (`core.model.inference.Predictor`). Torch is imported
only when a device is resolved, so argument parsers can use the names cheaply; `device_name` does not import it
where the answer is known without it (no GPU driver on the system: no GPU to find).
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DEVICE_LABELS = {"auto": "Auto (GPU when present)", "cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)"}
#: "auto": ONNX Runtime on the CPU when it is installed (1.6-1.8x faster there, the same outputs within 1e-6:
#: core/model/ort_runtime.py), torch everywhere else. "onnx-int8": ONNX Runtime on the CPU with the model quantized
#: to int8 (core/model/int8.py: faster, scores within the figures bench/int8_gate.py measures).
RUNTIME_CHOICES = ("auto", "torch", "onnxruntime", "onnx-int8")


def is_device_name(name: str) -> bool:
    """True for one of `DEVICE_CHOICES` or "cuda:N" (any case); whether that device exists is not checked."""
    name = str(name).lower()
    return name in DEVICE_CHOICES or re.fullmatch(r"cuda:\d+", name) is not None


#: Device files of the GPU drivers torch can use on Linux (NVIDIA; WSL2's GPU; AMD ROCm): without any of them no
#: GPU can be reached, whatever torch build is installed.
_GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia", "/dev/dxg", "/dev/kfd")


def _no_gpu_possible() -> bool:
    """True when no GPU can be used here and torch need not be imported to know it: torch is not installed, or
    this is Linux without any GPU driver's device file. (macOS may have MPS, other systems are asked.)"""
    if "torch" in sys.modules:
        return False  # loaded already: asking it costs nothing
    if importlib.util.find_spec("torch") is None:
        return True
    return sys.platform.startswith("linux") and not any(os.path.exists(p) for p in _GPU_DEVICE_FILES)


def device_name(name: str | torch.device = "auto") -> str:
    """`resolve_device(name)` as a name ("cpu", "cuda", "cuda:1", "mps"), without importing torch for "cpu", nor
    for "auto" where no GPU can be there (`_no_gpu_possible`)."""
    key = (name or "auto").lower() if isinstance(name, str) else None
    if key == "cpu" or (key == "auto" and _no_gpu_possible()):
        return "cpu"
    return str(resolve_device(name))


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


def describe_device(device: str | torch.device, threads: int | None = None) -> str:
    """Human-readable device name for status bars and reports, e.g. 'CPU (2 threads)' or 'CUDA: NVIDIA H100';
    `threads`: the CPU threads the model uses (default: torch's thread count when torch is loaded, else the cores)."""
    kind = str(device).split(":")[0]
    if kind == "cuda":
        import torch

        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if kind == "mps":
        return "Apple MPS"
    if threads is None:
        from core.common.threads import cpu_threads

        threads = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else cpu_threads()
    return f"CPU ({threads} threads)"
