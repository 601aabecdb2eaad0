"""Import hygiene: thread set-up is an explicit call at the entry points (never an import-time effect), and the
layers load only what they need."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT


def _run(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "HF_HUB_OFFLINE")}
    return subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_importing_core_changes_nothing_in_the_process():
    r = _run("import os, core, core.model.backbones, core.analysis.engine, core.analysis.runner; "
             "print('OMP_WAIT_POLICY' in os.environ, 'HF_HUB_OFFLINE' in os.environ)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_configure_before_torch_makes_openmp_wait_passively():
    r = _run("import os; from core.common.threads import configure_threads, omp_passive; ok = configure_threads(); "
             "import torch; print(ok, omp_passive(), os.environ['OMP_WAIT_POLICY'])")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True", "PASSIVE"]
    assert "RuntimeWarning" not in r.stderr


def test_configure_after_torch_warns_and_analysis_keeps_a_core_free():
    r = _run("import torch; from core.common.threads import configure_threads, omp_passive; "
             "print(configure_threads(), omp_passive())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]
    assert "RuntimeWarning" in r.stderr and "configure_threads" in r.stderr


def test_entry_points_configure_threads_first():
    """caddm-analyze, caddm-train and caddm-gui set passive waiting before their first torch import."""
    for module in ("core.cli.analyze", "core.cli.train", "caddm_gui.app"):
        code = (f"import sys; import {module} as m; assert 'torch' not in sys.modules, 'torch loaded on import'; "
                "import core.common.threads as t; orig = t.configure_threads; seen = []; "
                "m.configure_threads = lambda: seen.append('torch' in sys.modules) or orig(); "
                "exec('try:\\n    m.main([\"--help\"])\\nexcept SystemExit:\\n    pass'); print(seen)")
        r = _run(code)
        assert r.returncode == 0, (module, r.stderr)
        assert r.stdout.strip().splitlines()[-1] == "[False]", (module, r.stdout)


def test_layering_analysis_never_loads_training_and_results_need_no_decoder():
    r = _run("import sys, core.analysis.results, core.analysis.cache, core.media.evidence; print('cv2' in sys.modules); "
             "import core.analysis.runner, core.cli.analyze; print(any(m.startswith('core.train') for m in sys.modules))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_the_analysis_path_imports_no_torch():
    """The CPU analysis runs from cached ONNX exports: none of its modules imports torch (nor timm) when loaded, and
    "auto" is the CPU without asking torch on a machine without any GPU driver."""
    r = _run("import sys, core.analysis.runner, core.analysis.engine, core.faces.pipeline, core.faces.embedder, "
             "core.model.inference, core.model.artifacts, core.model.checkpoints, core.reports, core.cli.analyze; "
             "from core.model import device; "
             "print('torch' in sys.modules, 'timm' in sys.modules, device.device_name('cpu'), "
             "device._no_gpu_possible() and device.device_name('auto'), 'torch' in sys.modules)")
    assert r.returncode == 0, r.stderr
    torch_on_import, timm, cpu, auto, torch_after = r.stdout.split()
    assert (torch_on_import, timm, cpu) == ("False", "False", "cpu")
    assert auto in ("cpu", "False") and torch_after == "False"
