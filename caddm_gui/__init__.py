"""CADDM Inspector desktop app (PySide6 + pyqtgraph): a thin view over `core`. The entry point is
`caddm_gui.app:main`, which sets up threads (`core.common.threads.configure_threads`) before anything loads torch."""
