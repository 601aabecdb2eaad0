"""CADDM Inspector desktop app (PySide6 + pyqtgraph): a thin view over `core`."""
