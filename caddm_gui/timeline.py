"""The score timeline (pyqtgraph): P(fake) per analysed frame for each face track (frames where a track has no face
are gaps), analysed frames with no face as grey ticks at the bottom, the threshold as a draggable horizontal line,
spans where the frame score is at or above it shaded red, flagged frames as orange marks on top, and a cursor at the
current frame. Click or drag with the left button to seek; the wheel zooms the frame axis; right-drag zooms too
(pyqtgraph's default), the small "A" button resets.

Identity (`core.analysis.identities.identity_series`, never part of P(fake)): one dashed curve per track over its
described faces, on the same 0-1 scale (right axis): the distance to the reference when one is loaded, else to the
track's median descriptor (consistency); the dotted cyan line is DIFFERENT_MIN ("different person" at or above it).
Shown with the "identity" overlay (View menu, Settings).
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.faces.identity import DIFFERENT_MIN
from core.reports.figures import TRACK_COLOURS
from core.analysis.identities import identity_series
from core.analysis.summary import track_series

from .state import AppState

pg.setConfigOptions(antialias=True)

BACKGROUND = "#1b1c1f"
FOREGROUND = "#c8c8c8"
IDENTITY_COLOUR = "#4dd0e1"
IDENTITY_LABELS = {"reference": "identity: distance to the reference",
                   "consistency": "identity: distance to the track's median"}


class SeekViewBox(pg.ViewBox):
    """Left click and left drag seek (instead of panning); other buttons and the wheel behave as usual."""

    def __init__(self, seek, **kw):
        super().__init__(**kw)
        self._seek = seek

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._seek(self.mapSceneToView(ev.scenePos()).x())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._seek(self.mapSceneToView(ev.scenePos()).x())
        else:
            super().mouseDragEvent(ev, axis)


class Timeline(QWidget):
    def __init__(self, state: AppState, commands, parent=None):
        super().__init__(parent)
        self.state, self.commands = state, commands
        self.viewbox = SeekViewBox(self.seek_to_x, enableMenu=False)
        self.viewbox.setMouseEnabled(x=True, y=False)
        self.plot = pg.PlotWidget(viewBox=self.viewbox, background=BACKGROUND)
        self.plot.setMinimumHeight(140)
        pi = self.plot.getPlotItem()
        pi.setLabel("left", "P(fake)", color=FOREGROUND)
        pi.setLabel("bottom", "frame", color=FOREGROUND)
        pi.showAxis("right")
        pi.setLabel("right", "identity distance", color=IDENTITY_COLOUR)
        for ax in ("left", "bottom", "right"):
            pi.getAxis(ax).setTextPen(FOREGROUND)
            pi.getAxis(ax).setPen("#6a6a6a")
        pi.showGrid(x=False, y=True, alpha=0.15)
        self.viewbox.setYRange(-0.04, 1.06, padding=0)
        self.viewbox.setLimits(yMin=-0.1, yMax=1.15)
        self.legend = pi.addLegend(offset=(-8, 6), labelTextColor=FOREGROUND, brush=(30, 30, 34, 200))

        self.shade = pg.PlotDataItem(stepMode="center", fillLevel=-0.04, pen=None, brush=(214, 39, 40, 40))
        self.shade.setZValue(-10)
        pi.addItem(self.shade)
        self.noface = pg.ScatterPlotItem(symbol="s", size=5, pen=None, brush="#8a8a8a")
        pi.addItem(self.noface)
        self.flags = pg.ScatterPlotItem(symbol="t", size=11, pen=pg.mkPen("#1b1c1f"), brush="#ffb000")
        self.flags.setZValue(20)
        pi.addItem(self.flags)
        self.curves: dict[int, pg.PlotDataItem] = {}
        self.id_curves: dict[int, pg.PlotDataItem] = {}   # identity distance per track (dashed)
        self.identity_kind: str | None = None             # "reference", "consistency", or None (nothing drawn)
        self._id_legend = pg.PlotDataItem(pen=pg.mkPen(FOREGROUND, width=2, style=Qt.PenStyle.DashLine),
                                          symbol="d", symbolSize=7, symbolBrush=None, symbolPen=FOREGROUND)
        self.id_line = pg.InfiniteLine(pos=DIFFERENT_MIN, angle=0, movable=False,
                                       pen=pg.mkPen(IDENTITY_COLOUR, width=1.2, style=Qt.PenStyle.DotLine),
                                       label=f"different person \u2265 {DIFFERENT_MIN:.2f}",
                                       labelOpts={"position": 0.04, "color": IDENTITY_COLOUR,
                                                  "anchors": [(0, 1), (0, 1)]})  # as the threshold's label
        self.id_line.setZValue(25)
        self.id_line.hide()
        pi.addItem(self.id_line)

        self.threshold = pg.InfiniteLine(pos=state.threshold, angle=0, movable=True, bounds=(0.0, 1.0),
                                         pen=pg.mkPen("#ff5252", width=1.5, style=Qt.PenStyle.DashLine),
                                         hoverPen=pg.mkPen("#ff8080", width=3),
                                         label="threshold {value:.2f}",
                                         labelOpts={"position": 0.04, "color": "#ff8080", "anchors": [(0, 1), (0, 1)]})
        self.threshold.setZValue(30)
        self.threshold.sigPositionChanged.connect(self._threshold_dragged)
        pi.addItem(self.threshold)
        self.cursor = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=pg.mkPen("#f0f0f0", width=1.5),
                                      hoverPen=pg.mkPen("#ffffff", width=3))
        self.cursor.setZValue(40)
        self.cursor.sigDragged.connect(lambda line: self.seek_to_x(line.value()))
        pi.addItem(self.cursor)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

        self._refresh = QTimer(self)       # batches redraws while frames stream in
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(120)
        self._refresh.timeout.connect(self.rebuild)
        state.videoOpened.connect(self._on_video)
        state.infoChanged.connect(lambda _info: self._set_range())
        state.framesReset.connect(self.rebuild)
        state.frameScored.connect(lambda _fr: self._refresh.isActive() or self._refresh.start())
        state.thresholdChanged.connect(self._on_threshold)
        state.frameChanged.connect(self._on_frame)
        state.reviewChanged.connect(lambda _i: self._draw_flags())
        state.overlaysChanged.connect(self._draw_identity)

    # -- seeking ---------------------------------------------------------------------------------------------------
    def seek_to_x(self, x: float) -> None:
        if self.state.frame_count > 0 and math.isfinite(x):
            self.commands.seek(int(round(x)))

    def _on_frame(self, index: int) -> None:
        if abs(self.cursor.value() - index) > 1e-6:
            self.cursor.blockSignals(True)
            self.cursor.setValue(index)
            self.cursor.blockSignals(False)

    # -- threshold -------------------------------------------------------------------------------------------------
    def _threshold_dragged(self, line) -> None:
        v = round(float(line.value()), 3)
        if abs(v - self.state.threshold) > 1e-9:
            self.commands.set_threshold(v)

    def _on_threshold(self, t: float) -> None:
        if abs(self.threshold.value() - t) > 1e-6:
            self.threshold.blockSignals(True)
            self.threshold.setValue(t)
            self.threshold.blockSignals(False)
            self.threshold.label.valueChanged()
        self._draw_shade()

    # -- data ------------------------------------------------------------------------------------------------------
    def _on_video(self, _path: str) -> None:
        self._set_range()
        self._on_frame(0)
        self.rebuild()

    def _set_range(self) -> None:
        n = max(1, self.state.frame_count)
        self.viewbox.setLimits(xMin=-0.02 * n - 1, xMax=n * 1.02 + 1)
        self.viewbox.setXRange(0, n - 1, padding=0.02)

    def rebuild(self) -> None:
        frames = self.state.frames
        series = track_series(frames)
        for t in list(self.curves):
            if t not in series:
                self.plot.getPlotItem().removeItem(self.curves.pop(t))
                self.legend.removeItem(f"track {t}")
        dense = len(frames) > 150
        for k, (t, (_, indices, ys)) in enumerate(series.items()):
            colour = TRACK_COLOURS[k % len(TRACK_COLOURS)]
            if t not in self.curves:
                curve = pg.PlotDataItem(connect="finite", name=f"track {t}")
                self.curves[t] = curve
                self.plot.getPlotItem().addItem(curve)
            c = self.curves[t]
            c.setPen(pg.mkPen(colour, width=2))
            if dense:
                c.setSymbol(None)
            else:
                c.setSymbol("o")
                c.setSymbolSize(6)
                c.setSymbolBrush(colour)
                c.setSymbolPen(pg.mkPen(BACKGROUND))
            c.setData(indices.astype(float), ys)
        empty = sorted(f.index for f in frames if f.score is None)
        self.noface.setData(empty, [-0.02] * len(empty))
        self._draw_shade()
        self._draw_flags()
        self._draw_identity()

    def _draw_identity(self) -> None:
        """The identity curves and their threshold line, when the overlay is on and a face has a descriptor."""
        frames = self.state.frames
        kind, series = identity_series(frames) if self.state.overlays.get("identity", True) else (None, {})
        pi = self.plot.getPlotItem()
        for t in list(self.id_curves):
            if t not in series:
                pi.removeItem(self.id_curves.pop(t))
        order = {t: k for k, t in enumerate(sorted({f.track for fr in frames for f in fr.faces}))}
        for t, (indices, dists) in series.items():
            colour = TRACK_COLOURS[order[t] % len(TRACK_COLOURS)]
            if t not in self.id_curves:
                self.id_curves[t] = pg.PlotDataItem(symbol="d", symbolSize=7)
                self.id_curves[t].setZValue(5)
                pi.addItem(self.id_curves[t])
            c = self.id_curves[t]
            c.setPen(pg.mkPen(colour, width=1.6, style=Qt.PenStyle.DashLine))
            c.setSymbolBrush(BACKGROUND)
            c.setSymbolPen(pg.mkPen(colour, width=1.4))
            c.setData(indices.astype(float), dists)
        if kind != self.identity_kind:
            if self.identity_kind is not None:
                self.legend.removeItem(IDENTITY_LABELS[self.identity_kind])
            if kind is not None:
                self.legend.addItem(self._id_legend, IDENTITY_LABELS[kind])
            self.identity_kind = kind
        self.id_line.setVisible(kind is not None)

    def _draw_shade(self) -> None:
        frames = sorted(self.state.frames, key=lambda f: f.index)
        if not frames:
            self.shade.setData([], [])
            return
        xs = np.array([f.index for f in frames], dtype=float)
        edges = np.empty(len(xs) + 1)
        if len(xs) > 1:
            mids = (xs[1:] + xs[:-1]) / 2
            edges[1:-1] = mids
            edges[0] = xs[0] - (mids[0] - xs[0])
            edges[-1] = xs[-1] + (xs[-1] - mids[-1])
        else:
            edges[:] = [xs[0] - 0.5, xs[0] + 0.5]
        above = np.array([1.06 if self.state.above(f) else -0.04 for f in frames])
        self.shade.setData(edges, above)

    def _draw_flags(self) -> None:
        flags = sorted(self.state.review.flags)
        self.flags.setData(flags, [1.02] * len(flags))
