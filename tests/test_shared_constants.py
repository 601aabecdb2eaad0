"""Each list the CLIs, the app and the reports share has one home, and every user takes it from there: device
names (`core.model.device`), video extensions (`core.media.evidence`), frame selection modes (`core.media.frames`) and
report formats (`core.reports`)."""
from __future__ import annotations

import argparse

import pytest
from PySide6.QtCore import Qt

from core.model.device import DEVICE_CHOICES, DEVICE_LABELS, is_device_name
from gui_fixtures import qsettings  # noqa: F401


def _option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    for action in parser._actions:
        if flag in action.option_strings:
            return action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                try:
                    return _option(sub, flag)
                except LookupError:
                    pass
    raise LookupError(flag)


def _subparser(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    for name in names:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


# ---------------------------------------------------------------------------------------------------- devices
def test_device_choices_are_shared_by_both_clis_and_the_app():
    from caddm_gui.app import build_parser as gui_parser
    from core.cli.analyze import build_parser as analyze_parser
    from core.cli.train import build_parser as train_parser

    assert DEVICE_CHOICES == ("auto", "cpu", "cuda", "mps")
    assert set(DEVICE_LABELS) == set(DEVICE_CHOICES)
    assert tuple(_option(analyze_parser(), "--device").choices) == DEVICE_CHOICES
    assert tuple(_option(gui_parser(), "--device").choices) == DEVICE_CHOICES
    ev = _subparser(train_parser(), "eval")
    for name in DEVICE_CHOICES + ("cuda:1", "CPU"):
        args = ev.parse_args(["--model", "m", "--index", "i", "--out", "o", "--device", name])
        assert args.device == name.lower()
    with pytest.raises(SystemExit):
        ev.parse_args(["--model", "m", "--index", "i", "--out", "o", "--device", "gpu"])
    assert not is_device_name("cuda:") and not is_device_name("tpu") and is_device_name("cuda:0")


def test_every_device_survives_preferences_and_settings_ok(qtbot, qsettings):
    from PySide6.QtWidgets import QDialog, QDialogButtonBox

    from caddm_gui.preferences import Preferences
    from caddm_gui.settings_dialog import SettingsDialog

    for device in DEVICE_CHOICES:
        Preferences(device=device).save(qsettings)
        prefs = Preferences.load(qsettings)
        assert prefs.device == device
        dlg = SettingsDialog(prefs)
        qtbot.addWidget(dlg)
        assert [dlg.device.itemData(i) for i in range(dlg.device.count())] == list(DEVICE_CHOICES)
        dlg.show()
        qtbot.waitExposed(dlg)
        ok = dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
        assert dlg.result() == QDialog.DialogCode.Accepted
        assert dlg.result_prefs().device == device  # "mps" used to come back as "auto"



# ---------------------------------------------------------------------------------------------- video extensions
def test_video_extensions_are_shared_by_cli_file_dialog_and_preparation(tmp_path):
    import caddm_gui.commands
    import caddm_gui.main_window
    from core.cli.analyze import collect_videos
    from core.media.evidence import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, video_file_filter
    from core.train.prepare import _videos_in

    videos_part, all_part = video_file_filter().split(";;")
    assert all_part == "All files (*)"
    patterns = videos_part[videos_part.index("(") + 1:videos_part.index(")")].split()
    assert sorted(patterns) == sorted(f"*{e}" for e in VIDEO_EXTENSIONS)
    assert caddm_gui.main_window.VIDEO_FILTER is caddm_gui.commands.VIDEO_FILTER == video_file_filter()

    (tmp_path / "sub").mkdir()
    names = ["a.webm", "sub/b.ts", "C.MKV", "d.m2ts", "notes.txt", "photo.png", "e.mp4.part"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    videos = [tmp_path / n for n in ("C.MKV", "a.webm", "d.m2ts", "sub/b.ts")]
    found, problems = collect_videos([str(tmp_path)])
    assert found == videos and problems == []
    assert _videos_in(tmp_path) == videos
    assert _videos_in(tmp_path, images=True) == sorted(videos + [tmp_path / "photo.png"])
    assert ".png" in IMAGE_EXTENSIONS and not IMAGE_EXTENSIONS & VIDEO_EXTENSIONS


# ------------------------------------------------------------------------------------ frame modes, report formats
def test_frame_modes_and_report_formats_are_shared(qtbot, capsys):
    import core.cli.analyze as analyze
    from caddm_gui.export_dialog import ExportDialog
    from caddm_gui.preferences import Preferences
    from caddm_gui.settings_dialog import SettingsDialog
    from core.media.frames import MODE_LABELS, MODES, FrameSelection
    from core.reports import FORMAT_LABELS, FORMATS

    assert set(MODE_LABELS) == set(MODES)
    for mode in MODES:
        dlg = SettingsDialog(Preferences(frame_mode=mode, frame_value=7))
        qtbot.addWidget(dlg)
        assert [dlg.frame_mode.itemData(i) for i in range(dlg.frame_mode.count())] == list(MODE_LABELS)
        assert [dlg.frame_mode.itemText(i) for i in range(dlg.frame_mode.count())] == list(MODE_LABELS.values())
        assert dlg.result_prefs().frame_selection() == FrameSelection(mode, 7)

    assert set(FORMAT_LABELS) == set(FORMATS)
    assert analyze.FORMATS is FORMATS
    dlg = ExportDialog("/tmp/out")
    qtbot.addWidget(dlg)
    assert list(dlg.formats) == list(FORMAT_LABELS) and dlg.chosen_formats() == list(FORMATS)
    with pytest.raises(SystemExit):
        analyze.main(["x.mp4", "--out", "o", "--format", "docx"])
    assert "choose from " + ", ".join(FORMATS) in capsys.readouterr().err


def test_cli_parsers_import_no_torch_or_matplotlib():
    """The lists live in light modules: `caddm-analyze --help` stays instant."""
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys, core.cli.analyze, core.cli.train, caddm_gui.app; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
