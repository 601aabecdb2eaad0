"""The current frame with what the model found on it: face boxes (track, P(fake)), artifact boxes drawn as the
quadrilaterals from `Artifact.corners` with their confidence, and optionally the 68 landmarks. Colours follow the
score as in the reports (`core.reports.figures.score_colour_bgr`: green below the threshold, orange to red above).

Wheel: zoom at the cursor; drag: pan; double-click: fit the frame to the view. All coordinates are frame pixels
(the pixmap sits at the scene origin, one scene unit per pixel).
"""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen, QPixmap, \
    QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from core.common.formatting import fmt_score
from core.reports.figures import ARTIFACT_BGR, score_colour_bgr
from core.analysis.frame_results import FrameResult

from .state import AppState


def bgr_qcolor(bgr: tuple[int, int, int]) -> QColor:
    b, g, r = bgr
    return QColor(r, g, b)


def score_qcolor(score: float, threshold: float) -> QColor:
    return bgr_qcolor(score_colour_bgr(score, threshold))


def bgr_to_qimage(img: np.ndarray) -> QImage:
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class Label(QGraphicsItem):
    """A text tag with a coloured background that keeps its size on screen whatever the zoom."""

    def __init__(self, text: str, colour: QColor, point_size: float = 9.0, parent=None):
        super().__init__(parent)
        self.text, self.colour = text, colour
        self.font = QFont()
        self.font.setPointSizeF(point_size)
        self.font.setBold(True)
        fm = QFontMetricsF(self.font)
        self._rect = QRectF(0, -fm.height() - 2, fm.horizontalAdvance(text) + 8, fm.height() + 2)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.fillRect(self._rect, self.colour)
        light = 0.299 * self.colour.red() + 0.587 * self.colour.green() + 0.114 * self.colour.blue() > 150
        painter.setPen(QColor(0, 0, 0) if light else QColor(255, 255, 255))
        painter.setFont(self.font)
        painter.drawText(self._rect.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter, self.text)


def _pen(colour: QColor, width: float, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(colour, width, style)
    pen.setCosmetic(True)   # constant width on screen
    return pen


class FrameView(QGraphicsView):
    def __init__(self, state: AppState, parent=None):
        super().__init__(parent)
        self.state = state
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QBrush(QColor(24, 24, 26)))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setMinimumSize(320, 200)
        self.pixmap = QGraphicsPixmapItem()
        self.pixmap.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.pixmap)
        self.overlay_items: list[QGraphicsItem] = []
        self.shown_index = -1
        self._fit = True
        self.preview = False    # a core.media.proxy preview stands in for the exact frame
        state.imageChanged.connect(self._on_image)
        state.previewChanged.connect(self._on_preview)
        state.videoOpened.connect(self._on_video)
        for sig in (state.overlaysChanged, state.thresholdChanged, state.framesReset):
            sig.connect(self.redraw_overlays)
        state.frameScored.connect(lambda fr: fr.index == self.shown_index and self.redraw_overlays())

    # -- image ---------------------------------------------------------------------------------------------------
    def _on_video(self, _path: str) -> None:
        self.preview = False
        self.pixmap.setPixmap(QPixmap())
        self._clear_overlays()
        self.shown_index = -1
        self._fit = True

    def _on_image(self, index: int, image: np.ndarray) -> None:
        self._show(index, image, 1.0)
        self.preview = False

    def _on_preview(self, index: int, image: np.ndarray) -> None:
        """A smaller stand-in for frame `index`, scaled to the frame's size (scene coordinates stay frame pixels,
        so the boxes fit) and marked as a preview until the exact frame replaces it."""
        w = self.state.size[0] if self.state.size[0] > 0 else image.shape[1]
        self._show(index, image, w / image.shape[1])
        self.preview = True

    def _show(self, index: int, image: np.ndarray, scale: float) -> None:
        first = self.pixmap.pixmap().isNull()
        self.pixmap.setPixmap(QPixmap.fromImage(bgr_to_qimage(image)))
        self.pixmap.setScale(scale)
        self.shown_index = index
        self.scene().setSceneRect(QRectF(0, 0, image.shape[1] * scale, image.shape[0] * scale))
        if first or self._fit:
            self.fit()
        self.redraw_overlays()
        self.viewport().update()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """'Preview' in the view's corner while a preview stands in for the exact frame."""
        if not self.preview:
            return
        painter.save()
        painter.resetTransform()
        text = "Preview: decoding the exact frame..."
        fm = painter.fontMetrics()
        box = QRectF(8, 8, fm.horizontalAdvance(text) + 12, fm.height() + 6)
        painter.fillRect(box, QColor(0, 0, 0, 170))
        painter.setPen(QColor(255, 220, 120))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    # -- overlays --------------------------------------------------------------------------------------------------
    def _clear_overlays(self) -> None:
        for item in self.overlay_items:
            self.scene().removeItem(item)
        self.overlay_items = []

    def _add(self, item: QGraphicsItem) -> QGraphicsItem:
        self.scene().addItem(item)
        self.overlay_items.append(item)
        return item

    def redraw_overlays(self, *_args) -> None:
        self._clear_overlays()
        fr = self.state.frame_result(self.shown_index) if self.shown_index >= 0 else None
        if fr is not None:
            self.draw(fr)

    def draw(self, fr: FrameResult) -> None:
        ov, t = self.state.overlays, self.state.threshold
        for face in fr.faces:
            colour = score_qcolor(face.score, t)
            x0, y0, x1, y1 = face.box
            if ov.get("artifacts", True):
                for art in face.artifacts_at(t):
                    c = bgr_qcolor(ARTIFACT_BGR)
                    poly = QPolygonF([QPointF(x, y) for x, y in art.corners])
                    path = QPainterPath()
                    path.addPolygon(poly)
                    path.closeSubpath()
                    item = self._add(QGraphicsPathItem(path))
                    item.setPen(_pen(c, 1.6))
                    fill = QColor(c)
                    fill.setAlpha(28)
                    item.setBrush(fill)
                    item.setToolTip(f"artifact box: the detection module's P(artifact) {fmt_score(art.score)} "
                                    f"for this region")
                    if ov.get("labels", True):
                        lab = self._add(Label(f"P(artifact) {art.score:.2f}", c, 7.5))
                        lab.setPos(QPointF(*art.corners[3]))
            if ov.get("landmarks", False) and face.landmarks is not None:
                path = QPainterPath()
                for x, y in face.landmarks:
                    path.addEllipse(QPointF(x, y), 1.2, 1.2)
                item = self._add(QGraphicsPathItem(path))
                item.setPen(_pen(QColor(0, 220, 255), 1.0))
                item.setBrush(QColor(0, 220, 255))
            if ov.get("faces", True):
                rect = QPainterPath()
                rect.addRect(QRectF(x0, y0, x1 - x0, y1 - y0))
                item = self._add(QGraphicsPathItem(rect))
                item.setPen(_pen(colour, 2.5))
                item.setToolTip(f"face track {face.track}: P(fake) {fmt_score(face.score)}")
                if ov.get("labels", True):
                    lab = self._add(Label(f"T{face.track}  P(fake) {fmt_score(face.score)}", colour, 9.5))
                    lab.setPos(QPointF(x0, y0))

    # -- zoom and pan -----------------------------------------------------------------------------------------------
    def fit(self) -> None:
        if not self.pixmap.pixmap().isNull():
            self.fitInView(self.pixmap, Qt.AspectRatioMode.KeepAspectRatio)
        self._fit = True

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = min(max(factor, 0.05 / current), 40.0 / current)
        self.scale(factor, factor)
        self._fit = False

    def zoom_level(self) -> float:
        return self.transform().m11()

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom(1.0015 ** delta)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        self.fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()
