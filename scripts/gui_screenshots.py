"""Screenshots of the GUI for the docs: open a video, analyse it, seek to the highest-scoring frame and grab the
window at a few sizes. `--case` instead builds a case (docs/CASES.md) with VIDEO and `--case-video` (default: the
other bundled sample), analyses and reviews both, and grabs the Case tab and two pages of item 1's report (the PDF
pages drawn with the report's own figure code: nothing here renders HTML offscreen).

    QT_QPA_PLATFORM=offscreen python scripts/gui_screenshots.py VIDEO --model CKPT --out docs/screenshots [--case]
    ... VIDEO --reference PHOTO_OR_VIDEO... --prefix identity_swapped --sizes 1280x800
(or under xvfb-run for a real X server). Uses a temporary settings file, result cache and case file. PNGs larger
than --max-kb are stored with a 256-colour palette. With `--reference` the files are read into the Reference tab
before the analysis, the window shows that tab, and no example note is written; files are named PREFIX_WxH.png
(default prefix "inspector", which also grabs the Evidence tab).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def save_png(image, path: Path, max_kb: int) -> Path:
    """A QImage or a PIL image as PNG; a palette of 256 colours when it would be larger than `max_kb`."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        from PySide6.QtCore import QBuffer, QIODevice

        buf = QBuffer()
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buf, "PNG")
        image = Image.open(io.BytesIO(bytes(buf.data()))).convert("RGB")
    data = io.BytesIO()
    image.save(data, "PNG", optimize=True)
    if data.tell() > max_kb * 1024:
        data = io.BytesIO()
        image.quantize(256, method=Image.Quantize.FASTOCTREE).save(data, "PNG", optimize=True)
    path.write_bytes(data.getvalue())
    print(f"{path} ({data.tell() // 1024} KB)")
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--model", default="", help="checkpoint (default: the bundled model)")
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--sizes", default="1280x800,1920x1080")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--case", action="store_true", help="the case screenshots instead (Case tab, report pages)")
    ap.add_argument("--case-video", help="the case's second evidence video (default: the other bundled sample)")
    ap.add_argument("--max-kb", type=int, default=290)
    ap.add_argument("--reference", nargs="+", metavar="PATH", default=None,
                    help="photos or videos of the claimed person, read into the Reference tab")
    ap.add_argument("--prefix", default="inspector", help="file name prefix of the screenshots")
    ap.add_argument("--preview", type=int, default=None, metavar="FRAME",
                    help="a long-GOP VIDEO: wait for its seek-preview proxy, seek to the analysed frame nearest FRAME and grab the window while "
                         "the preview stands in for the exact frame (seek_preview_1280x800.png)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="caddm-shots-")
    os.environ["CADDM_CACHE_DIR"] = os.path.join(tmp, "cache")
    from core.common.threads import configure_threads
    configure_threads()  # before anything loads torch

    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from caddm_gui.app import create_app
    from caddm_gui.commands import Commands
    from caddm_gui.main_window import MainWindow
    from caddm_gui.preferences import Preferences
    from caddm_gui.state import AppState

    app = create_app()
    settings = QSettings(os.path.join(tmp, "gui.ini"), QSettings.IniFormat)
    prefs = Preferences(model_path=args.model, device="auto", frame_mode="count", frame_value=args.frames)
    state = AppState()
    cmds = Commands(state, prefs, settings)
    win = MainWindow(state, cmds)
    win.show()

    def wait(signal, ms=300000):
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def save(path):
        save_png(win.grab().toImage(), path, args.max_kb)

    def settle(ms=400):
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def analyse_and_flag(note: str, second_note: str | None = None):
        cmds.analyse()
        wait(cmds.analysisFinished)
        if args.threshold is not None:
            cmds.set_threshold(args.threshold)
        scored = sorted((f for f in state.frames if f.score is not None), key=lambda f: f.score)
        if scored:
            best = scored[-1]
            cmds.seek(best.index)
            cmds.set_flag(best.index, True)
            cmds.set_note(best.index, note)
            if second_note and len(scored) > 1:
                cmds.set_note(scored[0].index, second_note)
            return best.index
        return None

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.case:
        case_shots(args, tmp, out, state, cmds, win, wait, settle, analyse_and_flag)
        cmds.shutdown()
        return 0

    problems = []
    state.message.connect(lambda level, text: problems.append(text) if level == "error" else None)
    if not cmds.open_video(args.video):                 # instead of waiting for a probe that never starts
        print("; ".join(problems) or f"cannot open {args.video}", file=sys.stderr)
        cmds.shutdown()
        return 1
    wait(cmds.infoReady)
    if args.preview is not None:
        preview_shot(args, out, state, cmds, win, settle, analyse_and_flag)
        cmds.shutdown()
        return 0
    if args.reference:
        refs = win.reference.refs
        refs.add_files(args.reference)
        while refs.busy:
            wait(refs.changed)
        win.tabs.setCurrentWidget(win.reference)
        cmds.analyse()
        wait(cmds.analysisFinished)
        best = max((f for f in state.frames if f.score is not None), key=lambda f: f.score, default=None)
        if best is not None:
            cmds.seek(best.index)
    else:
        analyse_and_flag("Blending seam along the left cheek; compare with the previous frames.")
    settle(3000)  # the people's face thumbnails are cut in a worker
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        win.resize(w, h)
        settle(800)
        path = out / f"{args.prefix}_{w}x{h}.png"
        save(path)
        print(path)
    if args.prefix == "inspector":
        win.tabs.setCurrentWidget(win.evidence)
        win.resize(1280, 800)
        settle(800)
        path = out / "inspector_evidence_1280x800.png"
        save(path)
        print(path)
    cmds.shutdown()
    return 0


def preview_shot(args, out, state, cmds, win, settle, analyse_and_flag) -> None:
    """Analyse, wait for the proxy to cover FRAME, seek to the analysed frame nearest FRAME and grab the window as
    soon as the preview shows."""
    import time

    analyse_and_flag("Blending seam along the left cheek; compare with the previous frames.")
    deadline = time.monotonic() + 900
    while cmds.loader.preview_frames <= args.preview and time.monotonic() < deadline:
        settle(500)
    target = min((f.index for f in state.frames if f.index != state.frame_index), key=lambda i: abs(i - args.preview),
                 default=args.preview)
    win.resize(1280, 800)
    settle(800)
    cmds.seek(target)
    deadline = time.monotonic() + 2
    while not win.view.preview and state.image_index != target and time.monotonic() < deadline:
        settle(5)
    print(f"preview shown: {win.view.preview}")
    save_png(win.grab().toImage(), out / "seek_preview_1280x800.png", args.max_kb)


def case_shots(args, tmp, out, state, cmds, win, wait, settle, analyse_and_flag) -> None:
    """A case with two analysed and reviewed items: the Case tab, and pages 1 and the reviewed frames of item 1's
    report as the case exports it."""
    from PIL import Image
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from core.reports.content import build_content
    from core.reports.pdf_report import pdf_pages
    from core.common.resources import sample_videos
    from core.media.video import VideoReader

    video = os.path.abspath(args.video)
    second = args.case_video or next(str(p) for p in sample_videos() if not os.path.samefile(p, video))
    cmds.cases.new_case(os.path.join(tmp, "2026-117.caddmcase"), "2026-117", "J. Doe",
                        "Two clips from the seized phone")
    cmds.cases.add_videos([video, second])
    wait(cmds.cases.videosAdded)
    cmds.cases.open_item(2)
    wait(cmds.infoReady)
    analyse_and_flag("Lighting on the forehead is consistent across the clip.")
    cmds.cases.open_item(1)
    wait(cmds.infoReady)
    best = analyse_and_flag("Blending seam along the left cheek; compare with the previous frames.",
                            "Lowest score of the clip: the face turns away.")
    # opened again from the case: its analysis and review come back without re-running
    cmds.cases.open_item(1)
    wait(cmds.infoReady)
    if best is not None:
        cmds.seek(best)
    win.tabs.setCurrentWidget(win.case_panel)
    win.resize(1280, 800)
    settle(1000)
    save_png(win.grab().toImage(), out / "case_panel_1280x800.png", args.max_kb)

    # the report of item 1 as the case exports it (written too, and recorded, to check it carries the review)
    report_dir = Path(tmp) / "report"
    cmds.export_report(report_dir, ["html", "json"])
    wait(cmds.exportFinished)
    html = (report_dir / "report.html").read_text()
    print(f"report.html: case 2026-117 {'present' if '2026-117' in html else 'MISSING'}, note "
          f"{'present' if 'Blending seam' in html else 'MISSING'}")
    result = state.case.as_report(state.result.with_threshold(state.threshold), state.case_item)
    with VideoReader(state.video_path) as reader:
        pages = pdf_pages(result, build_content(result, reader.read_frame, 6))
    reviewed = next((p for p in pages if any("Blending seam" in t.get_text() for t in p.texts)), pages[-1])
    images = []
    for fig in (pages[0], reviewed):
        canvas = FigureCanvasAgg(fig)
        fig.set_dpi(88)
        canvas.draw()
        images.append(Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB"))
    w, h = sum(i.width for i in images) + 30, max(i.height for i in images) + 20
    sheet = Image.new("RGB", (w, h), (70, 72, 78))
    x = 10
    for img in images:
        sheet.paste(img, (x, 10))
        x += img.width + 10
    save_png(sheet, out / "case_report_pages.png", args.max_kb)


if __name__ == "__main__":
    sys.exit(main())
