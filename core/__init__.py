"""CADDM Inspector core: everything without Qt (model, anchors and boxes, faces, MFS, data, training, analysis,
reports). Nothing under `core` imports PySide6 or pyqtgraph."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# Idle OpenMP threads sleep instead of spinning. With a decode/face thread busy beside a torch forward, spinning
# workers made a 2-thread forward collapse (21 -> 0.3 img/s); passive waiting keeps both cores useful (analysis of a
# 720p clip: 11 -> 18 frames/s). It only takes effect when set before torch loads its OpenMP runtime.
TORCH_LOADED_FIRST = "torch" in _sys.modules
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
OMP_PASSIVE = _os.environ["OMP_WAIT_POLICY"].upper() == "PASSIVE" and not TORCH_LOADED_FIRST
