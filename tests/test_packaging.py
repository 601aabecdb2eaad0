"""The bundled files are found (source checkout and installed package) and ship in the sdist and the wheel.
scripts/check_wheel.sh goes further: it installs the wheel into a fresh venv and runs the commands."""
from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile

import pytest

from core.common import resources
from core.model.registry import default_model_path
from tests.conftest import ROOT

SHIPPED = ["models/caddm_lite_demo.safetensors", "models/README.md", "samples/astronaut_fake.mp4",
           "samples/astronaut_real.mp4"]


def test_checkout_uses_its_own_resources():
    assert resources.resources_root() == ROOT / "resources"
    assert default_model_path() == ROOT / "resources" / "models" / "caddm_lite_demo.safetensors"
    assert [p.name for p in resources.sample_videos()] == ["astronaut_fake.mp4", "astronaut_real.mp4"]
    assert all(p.is_file() for p in resources.sample_videos())


def test_outside_a_checkout_the_installed_package_is_used(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    (site / "caddm_resources" / "samples").mkdir(parents=True)
    (site / "caddm_resources" / "__init__.py").write_text("")
    (site / "caddm_resources" / "samples" / "clip.mp4").write_bytes(b"")
    monkeypatch.setattr(resources, "_CHECKOUT", site)  # no pyproject.toml there: not a checkout
    monkeypatch.delitem(sys.modules, resources.PACKAGE, raising=False)
    monkeypatch.syspath_prepend(str(site))
    assert resources.resources_root() == site / "caddm_resources"
    assert resources.sample_videos() == [site / "caddm_resources" / "samples" / "clip.mp4"]


def test_nothing_found_gives_missing_files_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "_CHECKOUT", tmp_path)
    monkeypatch.setattr(resources, "PACKAGE", "caddm_resources_not_installed")
    assert resources.sample_videos() == []
    assert not resources.resource_path("models", "caddm_lite_demo.safetensors").exists()


def test_package_list_matches_the_tree():
    """pyproject.toml lists the packages (find cannot map resources/ to caddm_resources): a new sub-package must be
    added there, or the wheel would lack it."""
    tomllib = pytest.importorskip("tomllib")
    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = find_packages(str(ROOT), include=["core", "core.*", "caddm_gui", "caddm_gui.*"])
    assert sorted(config["packages"]) == sorted(on_disk + [resources.PACKAGE])
    assert config["package-dir"][resources.PACKAGE] == "resources"


@pytest.mark.slow
def test_sdist_and_wheel_ship_the_model_and_samples(tmp_path):
    """python -m build: the sdist, then the wheel built from it (about 5 s)."""
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,), (sdist,) = tmp_path.glob("*.whl"), tmp_path.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for part in SHIPPED:
        assert f"caddm_resources/{part}" in names
    assert {"core/common/resources.py", "core/model/registry.py", "caddm_gui/app.py", "train_cli.py"} <= names
    assert not any("/recipe/" in n for n in names), "the training recipe stays in the source tree"
    with tarfile.open(sdist) as t:
        top = t.getnames()[0].split("/")[0]
        sdist_names = set(t.getnames())
    for part in SHIPPED + ["models/recipe/lite0.yaml", "source/astronaut.png"]:
        assert f"{top}/resources/{part}" in sdist_names
