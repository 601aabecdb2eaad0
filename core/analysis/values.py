"""How a result's numbers are normalised when an object is built: plain Python ints/floats/tuples (numpy accepted
on input), rounded so that files stay small and round-trip exactly: scores and thresholds to 6 significant digits,
pixels to 2 decimals, times to microseconds. Non-finite values raise ValueError."""
from __future__ import annotations

import math


def round_score(x) -> float:
    """6 significant digits (scores, thresholds, shares)."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"score must be finite, not {x}")
    return float(f"{x:.6g}")


def opt_score(x) -> float | None:
    return None if x is None else round_score(x)


def round_px(x) -> float:
    """2 decimals (pixels)."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"pixel coordinate must be finite, not {x}")
    return round(x, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def round_time(x) -> float:
    return round(float(x), 6) + 0.0


def as_box(b, what: str) -> tuple[float, float, float, float]:
    vals = [round_px(v) for v in as_flat(b)]
    if len(vals) != 4:
        raise ValueError(f"{what} must be [x0, y0, x1, y1], got {len(vals)} values")
    return tuple(vals)  # type: ignore[return-value]


def as_points(p, n: tuple[int, ...], what: str) -> tuple[tuple[float, float], ...]:
    raw = as_flat(p)
    if len(raw) not in n or any(len(q) != 2 for q in raw):
        raise ValueError(f"{what} must be {' or '.join(map(str, n))} [x, y] points")
    return tuple((round_px(q[0]), round_px(q[1])) for q in raw)


def as_flat(b) -> list:
    return list(b.tolist() if hasattr(b, "tolist") else b)
