"""Where caches live: ``$CADDM_CACHE_DIR``, else ``~/.cache/caddm-inspector``. The result cache, the ONNX exports
(`onnx/`) and the seek previews (`proxies/`) are folders under it."""
from __future__ import annotations

import os
from pathlib import Path


def default_root() -> Path:
    """The cache root (not created here)."""
    env = os.environ.get("CADDM_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "caddm-inspector"
