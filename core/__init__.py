"""CADDM Inspector core: everything without Qt (model, anchors and boxes, faces, analysis, reports; training in
`core.train`). Nothing under `core` imports PySide6 or pyqtgraph, and importing `core` changes nothing in the
process: entry points call `core.common.threads.configure_threads()` first."""

__version__ = "0.1.0"
