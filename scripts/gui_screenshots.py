"""Screenshots of the GUI for the docs: open a video, analyse it, seek to the highest-scoring frame and grab the
window at a few sizes.

    QT_QPA_PLATFORM=offscreen python scripts/gui_screenshots.py VIDEO --model CKPT --out docs/screenshots
    ... VIDEO --reference PHOTO_OR_VIDEO... --prefix identity_swapped --sizes 1280x800
(or under xvfb-run for a real X server). Uses a temporary settings file and result cache. With `--reference` the
files are read into the Reference tab before the analysis, the window shows that tab, and no example note is
written; files are named PREFIX_WxH.png (default prefix "inspector", which also grabs the Evidence tab).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--model", default="", help="checkpoint (default: the bundled model)")
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--sizes", default="1280x800,1920x1080")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--reference", nargs="+", metavar="PATH", default=None,
                    help="photos or videos of the claimed person, read into the Reference tab")
    ap.add_argument("--prefix", default="inspector", help="file name prefix of the screenshots")
    ap.add_argument("--colours", type=int, default=0,
                    help="save a palette PNG of at most this many colours (median cut, Pillow): about a third of "
                         "the size; 0: full colour")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="caddm-shots-")
    os.environ["CADDM_CACHE_DIR"] = os.path.join(tmp, "cache")
    from core.threads import configure_threads
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
        image = win.grab().toImage()
        if not args.colours:
            image.save(str(path))
            return
        from PIL import Image
        from PySide6.QtCore import QBuffer, QIODevice

        buf = QBuffer()
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buf, "PNG")
        im = Image.open(io.BytesIO(bytes(buf.data()))).convert("RGB")
        im.quantize(min(256, args.colours), method=Image.Quantize.MEDIANCUT).save(path, optimize=True)

    def settle(ms=400):
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    cmds.open_video(args.video)
    wait(cmds.infoReady)
    if args.reference:
        refs = win.reference.refs
        refs.add_files(args.reference)
        while refs.busy:
            wait(refs.changed)
        win.tabs.setCurrentWidget(win.reference)
    cmds.analyse()
    wait(cmds.analysisFinished)
    if args.threshold is not None:
        cmds.set_threshold(args.threshold)
    best = max((f for f in state.frames if f.score is not None), key=lambda f: f.score, default=None)
    if best is not None:
        cmds.seek(best.index)
        if not args.reference:
            cmds.set_flag(best.index, True)
            cmds.set_note(best.index, "Blending seam along the left cheek; compare with the previous frames.")
    settle(3000)  # the people's face thumbnails are cut in a worker
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
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


if __name__ == "__main__":
    sys.exit(main())
