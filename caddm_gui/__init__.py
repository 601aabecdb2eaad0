"""CADDM Inspector desktop app (PySide6 + pyqtgraph): a thin view over `core`."""

import core as _core  # noqa: F401  (first: `core` sets the OpenMP wait policy before anything loads torch)
