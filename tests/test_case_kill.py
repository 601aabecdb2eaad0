"""kill -9 of the app and of `caddm-analyze` at random moments while they analyse into a case and review in it:
each time the case opens, SQLite finds it intact, the audit chain verifies, and nothing acknowledged is lost.

10 kills by default (beside the 24 of core writers in test_case.py; `CADDM_KILLS=20` for more): two in five of
`caddm-analyze --case` (two videos, killed at any moment from start-up to the end, or while it analyses the second
video), three in five of the app (offscreen, driven through its commands: open the case, open a video, analyse it
when the case has no analysis of it, then flag and note frames; killed at any moment, or during the review). What
counts as acknowledged: a verdict line printed by `caddm-analyze` (its analysis and reports are recorded), a review
action the app's commands returned from (printed by the driver)."""
from __future__ import annotations

import pytest

import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from conftest import isolated_cache_dir, write_face_clip
from core.case import Case

pytestmark = pytest.mark.long  # tens of seconds: started first (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[1]
#: caddm-analyze's line per video: HEADLINE  SCORE  PATH  (evidence...) -> REPORT DIR (core.cli.analyze.headline_line)
HEADLINE_LINE = re.compile(r"^(?P<headline>[A-Z +]+)  (?P<score>\S+)  (?P<path>.+?)  \(")

APP = textwrap.dedent("""
    import os, sys
    from core.common.threads import configure_threads
    configure_threads()
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from caddm_gui.commands import Commands
    from caddm_gui.preferences import Preferences
    from caddm_gui.state import AppState

    case_path, video, model, seed, tmp = sys.argv[1:6]
    app = QApplication([])
    state = AppState()
    prefs = Preferences(model_path=model, device="cpu", frame_mode="count", frame_value=6)
    cmds = Commands(state, prefs, QSettings(os.path.join(tmp, f"gui{seed}.ini"), QSettings.IniFormat))

    def wait(signal, ms=120000):
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    assert cmds.cases.open_case(case_path), "case not opened"
    assert state.case.writable, "case opened read-only"
    print("open", flush=True)
    cmds.open_video(video)
    wait(cmds.infoReady)
    if state.result is None:
        cmds.analyse()
        wait(cmds.analysisFinished)
    assert state.result is not None and state.result.complete
    print("analysed", flush=True)
    frames = [f.index for f in state.frames]
    n = 0
    while True:
        n += 1
        index = frames[n % len(frames)]
        if n % 2:
            on = index not in state.review.flags
            cmds.set_flag(index, on)
            print(f"ack flag {index} {int(on)}", flush=True)
        else:
            text = f"note {seed}-{n}"
            cmds.set_note(index, text)
            print(f"ack note {index} {text}", flush=True)
""")


def _check_case(path: Path) -> Case:
    case = Case.open(path, "w")  # the next writer takes over the dead one's lock
    assert case.integrity() == "ok"
    check = case.check_audit()
    assert check.ok, check.problems
    return case


def test_app_and_analyze_killed_at_random_moments_lose_nothing_acknowledged(tmp_path, tiny_model_path):
    kills = int(os.environ.get("CADDM_KILLS", "10"))
    videos = [write_face_clip(tmp_path / f"v{k}.mp4", frames=12 + k, size=(320, 240)) for k in range(2)]  # two items
    case_path = tmp_path / "kill.caddmcase"
    with Case.open(case_path, "c", case_id="KILL"):
        pass
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen",
           "CADDM_CACHE_DIR": str(isolated_cache_dir(tmp_path / "cache"))}
    rnd = random.Random(20261202)
    acked_reviews: Counter = Counter()
    acked_analyses: set[str] = set()
    started, by_kind = time.monotonic(), Counter()
    for i in range(kills):
        if i % 5 in (0, 3):  # caddm-analyze, killed anywhere from start-up on
            out_dir = tmp_path / f"out{i}"
            cmd = [sys.executable, "-m", "core.cli.analyze", *map(str, videos), "--out", str(out_dir), "--case",
                   str(case_path), "--model", str(tiny_model_path), "--frames", "4", "--device", "cpu", "--quiet",
                   "--no-cache"]
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            early = []
            if i % 10 == 3:  # once the first video is recorded: during the second one
                early.append(proc.stdout.readline())
                time.sleep(rnd.uniform(0.0, 2.0))
            else:
                time.sleep(rnd.uniform(0.5, 12.0))
            kind = "analyze"
        else:  # the app: anywhere (every 3rd), else during the review
            early = []
            proc = subprocess.Popen([sys.executable, "-c", APP, str(case_path), str(videos[i % 2]),
                                     str(tiny_model_path), str(i), str(tmp_path)],
                                    cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if i % 3 == 0:
                time.sleep(rnd.uniform(0.5, 10.0))
            else:
                for line in proc.stdout:
                    if line.strip() == "analysed":
                        break
                else:
                    raise AssertionError(proc.stderr.read())
                time.sleep(rnd.uniform(0.0, 1.5))
            kind = "app"
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            by_kind[kind] += 1
        out, err = proc.communicate()
        if proc.returncode not in (0, -signal.SIGKILL):
            raise AssertionError(f"run {i} ({kind}) failed: {err}")
        for line in early + out.splitlines():
            if line.startswith("ack "):
                _, what, index, value = line.split(" ", 3)
                acked_reviews[(what, int(index), value)] += 1
            elif " -> " in line and "frames with a face" in line:  # a headline line: analysed and recorded
                acked_analyses.add(HEADLINE_LINE.match(line).group("path"))
        if kind == "analyze":  # reports are whole files or absent, never half written
            for report in (out_dir.glob("*/report.json") if out_dir.exists() else []):
                json.loads(report.read_text())
        with _check_case(case_path) as case:
            history = Counter()
            for item in case.items():
                for a in case.review_history(item.item):
                    value = ("1" if a.value else "0") if a.kind == "flag" else a.value
                    history[(a.kind, a.index, value)] += 1
            missing = acked_reviews - history
            assert not missing, (i, kind, missing)
            analysed = {item.path for item in case.items() if case.latest_analysis(item.item) is not None}
            analysed |= {item.abs_path for item in case.items() if case.latest_analysis(item.item) is not None}
            assert acked_analyses <= analysed, (i, acked_analyses - analysed)
    with Case.open(case_path) as case:
        assert case.verify(files=True).ok
    assert sum(by_kind.values()) >= kills * 0.75, by_kind  # most runs were really killed, not finished
    assert sum(acked_reviews.values()) > 10 and acked_analyses
    print(f"kill test: {dict(by_kind)} kills, {sum(acked_reviews.values())} acknowledged review actions, "
          f"{len(acked_analyses)} acknowledged analyses, {time.monotonic() - started:.1f} s")
