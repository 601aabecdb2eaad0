"""The ADM's 168 multi-scale anchors at the 224x224 input, in the authors' order.

Feature maps f = 7, 5, 3, 1 with steps 32, 45, 75, 224 px and sizes (40, 80), (80, 120), (120, 160), (224, 224) px.
Cells go row i then column j; each cell has two anchors: [cx, cy, min/224, max/224] then [cx, cy, max/224, min/224]
(w, h). Values are normalised crop units ([0, 1] = crop pixels / 224), clipped to [0, 1] as centre-size values.
"""
from __future__ import annotations

import numpy as np

INPUT_SIZE = 224
FEATURE_MAPS = (7, 5, 3, 1)
STEPS = (32, 45, 75, 224)
SIZES = ((40, 80), (80, 120), (120, 160), (224, 224))
ANCHORS_PER_CELL = 2
NUM_ANCHORS = sum(f * f for f in FEATURE_MAPS) * ANCHORS_PER_CELL  # 168


def make_anchors(input_size: int = INPUT_SIZE) -> np.ndarray:
    """Anchors (168, 4) float32 as [cx, cy, w, h] normalised, matching the heads' output order (a new array each
    call)."""
    rows = []
    for f, step, (smin, smax) in zip(FEATURE_MAPS, STEPS, SIZES):
        for i in range(f):
            for j in range(f):
                cx = (j + 0.5) * step / input_size
                cy = (i + 0.5) * step / input_size
                rows.append([cx, cy, smin / input_size, smax / input_size])
                rows.append([cx, cy, smax / input_size, smin / input_size])
    return np.asarray(rows, dtype=np.float32).clip(0.0, 1.0)
