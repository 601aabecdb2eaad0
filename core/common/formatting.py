"""How times, sizes, scores and shares read, in the app and in the reports alike (plain strings, no Qt), and the
one clock of records (`utc_now`)."""
from __future__ import annotations

from datetime import datetime, timezone

DASH = "\u2014"
_SIZE_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


def fmt_time(seconds: float) -> str:
    """A time in the video, seconds -> "m:ss.mmm" (minutes not capped: 75.5 -> "1:15.500"); below 0 reads 0."""
    m, s = divmod(max(0.0, float(seconds)), 60.0)
    text = f"{s:06.3f}"
    if text.startswith("60"):  # 59.9996 s rounds to the next minute, not to "0:60.000"
        m, text = m + 1, "00.000"
    return f"{int(m)}:{text}"


def fmt_size(n_bytes: int) -> str:
    """A file size: exact bytes, then binary units: 512 -> "512 bytes", 1234567 -> "1,234,567 bytes (1.2 MiB)"."""
    v, u = float(n_bytes), 0
    while v >= 1024 and u < len(_SIZE_UNITS) - 1:
        v, u = v / 1024, u + 1
    return f"{n_bytes:,} bytes" if u == 0 else f"{n_bytes:,} bytes ({v:.1f} {_SIZE_UNITS[u]})"


def fmt_score(x: float | None, missing: str = DASH) -> str:
    """A P(fake) in [0, 1] to 3 decimals ("0.732"); `missing` when there is none (no face)."""
    return missing if x is None else f"{x:.3f}"


def fmt_share(x: float | None, decimals: int = 1, missing: str = DASH) -> str:
    """A fraction in [0, 1] as a percentage: 0.4167 -> "41.7 %"; `missing` when there is none."""
    return missing if x is None else f"{100 * x:.{decimals}f} %"


def utc_now(milliseconds: bool = False) -> str:
    """The current UTC time, ISO 8601 with a Z: to the second ("2026-12-02T03:41:07Z") for results, reports and
    model cards; with milliseconds ("2026-12-02T03:41:07.512Z") for a case's audit log, where order matters."""
    now = datetime.now(timezone.utc)
    if milliseconds:
        return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return now.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
