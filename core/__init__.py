"""CADDM Inspector core: everything without Qt (model, anchors and boxes, faces, MFS, data, training, analysis,
reports). Nothing under `core` imports PySide6 or pyqtgraph."""

__version__ = "0.1.0"
