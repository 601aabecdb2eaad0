"""`caddm-gui [VIDEO] [--model PATH] [--device auto|cpu|cuda|mps]`: the CADDM Inspector desktop app."""
from __future__ import annotations

import argparse
import sys
from core.common.threads import configure_threads

from core.model.device import DEVICE_CHOICES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="caddm-gui",
        description="CADDM Inspector: open a suspect video, see per-frame P(fake) and artifact boxes, review, and "
                    "export an evidence report.")
    p.add_argument("video", nargs="?", metavar="VIDEO", help="video to open")
    p.add_argument("--model", metavar="PATH", help="checkpoint to use (ours .safetensors or the authors' .pkl); "
                                                   "remembered in the settings")
    p.add_argument("--device", choices=DEVICE_CHOICES, help="compute device (remembered)")
    p.add_argument("--analyse", action="store_true", help="start the analysis once the video is open")
    return p


def dark_palette():
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    base, window, text, mid = QColor(30, 31, 34), QColor(40, 42, 46), QColor(222, 222, 222), QColor(90, 92, 98)
    roles = {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text, QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(36, 37, 41), QPalette.ColorRole.ToolTipBase: QColor(50, 52, 56),
        QPalette.ColorRole.ToolTipText: text, QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text, QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Highlight: QColor(52, 101, 164), QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(110, 170, 255), QPalette.ColorRole.Mid: mid,
        QPalette.ColorRole.PlaceholderText: QColor(130, 132, 138),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 124))
    return p


def create_app(argv=None):
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("CADDM Inspector")
    app.setOrganizationName("caddm-inspector")
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    return app


def main(argv: list[str] | None = None) -> int:
    configure_threads()  # before anything loads torch
    args = build_parser().parse_args(argv)
    app = create_app()

    from .commands import Commands
    from .main_window import MainWindow
    from .preferences import Preferences, app_settings
    from .state import AppState

    settings = app_settings()
    prefs = Preferences.load(settings)
    if args.model:
        prefs.model_path = args.model
    if args.device:
        prefs.device = args.device
    state = AppState()
    commands = Commands(state, prefs, settings)
    commands.save_prefs()
    win = MainWindow(state, commands)
    win.resize(1440, 900)
    win.show()
    if args.video:
        if args.analyse:
            def analyse_once():
                commands.infoReady.disconnect(analyse_once)
                if state.result is None and not state.busy:
                    commands.analyse()
            commands.infoReady.connect(analyse_once)
        commands.open_video(args.video)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
