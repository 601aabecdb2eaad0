"""Fixtures for the GUI tests: a tiny model (saved once per session), a short generated clip with a moving face,
an isolated QSettings file and result cache per test, and an `app` bundle (state + commands) with no window."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import isolated_cache_dir, write_face_clip
from core.common.resources import resource_path

SAMPLE = resource_path("samples", "astronaut_real.mp4")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path) -> Path:
    return tiny_model_path


def write_clip(path: Path, n: int = 24, size=(320, 240), fps: float = 12.0) -> Path:
    """A numbered clip of the astronaut's face moving across a grey background (mp4v)."""
    return write_face_clip(path, frames=n, size=size, fps=fps, numbered=True)


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "moving_face.mp4")


@pytest.fixture
def qsettings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "caddm-gui.ini"), QSettings.IniFormat)


@pytest.fixture
def result_cache(tmp_path, monkeypatch):
    from core.analysis.cache import ResultCache

    monkeypatch.setenv("CADDM_CACHE_DIR", str(isolated_cache_dir(tmp_path / "cache")))
    return ResultCache(tmp_path / "cache")


@pytest.fixture
def prefs(tiny_model):
    from caddm_gui.preferences import Preferences

    return Preferences(model_path=str(tiny_model), device="cpu", frame_mode="count", frame_value=6)


@pytest.fixture
def app(qtbot, qsettings, result_cache, prefs):
    """(state, commands) with no window; shut down cleanly after the test."""
    from caddm_gui.commands import Commands
    from caddm_gui.state import AppState

    state = AppState()
    cmds = Commands(state, prefs, qsettings, cache=result_cache)
    messages: list[tuple[str, str]] = []
    state.message.connect(lambda level, text: messages.append((level, text)))
    state.messages = messages
    yield state, cmds
    cmds.shutdown(60000)


def open_and_wait(qtbot, cmds, path, timeout=20000) -> None:
    with qtbot.waitSignal(cmds.infoReady, timeout=timeout):
        assert cmds.open_video(path)


def analyse_and_wait(qtbot, cmds, timeout=120000):
    with qtbot.waitSignal(cmds.analysisFinished, timeout=timeout) as blocker:
        assert cmds.analyse()
    return blocker.args[0]


def errors(state) -> list[str]:
    return [t for level, t in state.messages if level == "error"]


def show_window(qtbot, app, size=(1280, 800)):
    """The main window over `app`'s state and commands, shown and exposed; closing never asks."""
    from caddm_gui.main_window import MainWindow

    state, cmds = app
    w = MainWindow(state, cmds)
    w.confirm_close = lambda: True
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def win(qtbot, app):
    return show_window(qtbot, app)
