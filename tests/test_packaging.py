"""The repository's root folders install as the ``lumograph`` package: every folder with
an ``__init__.py`` is listed in pyproject, a built wheel holds every module and the
shipped configs, and no bare top-level ``models`` / ``serve`` package is installed."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
ROOTS = SETUPTOOLS["package-dir"]  # "lumograph.serve" -> "serve", ...


def _source_packages() -> dict[str, Path]:
    """Every package the checkout holds under the mapped root folders."""
    found = {}
    for package, folder in ROOTS.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            found[".".join([package, *rel.parts])] = init.parent
    return found


def test_every_folder_with_an_init_is_a_listed_package():
    listed = set(SETUPTOOLS["packages"])
    assert set(_source_packages()) == listed
    assert all(p.startswith("lumograph.") for p in listed)


def test_no_bare_top_level_package_is_installed():
    assert set(ROOTS) <= set(SETUPTOOLS["packages"])
    assert not [p for p in SETUPTOOLS["packages"] if not p.startswith("lumograph.")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    # Built from a copy: setuptools leaves a build/ folder in the tree it builds.
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ROOTS.values():
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
                   check=True, timeout=300)
    (path,) = out.glob("lumograph-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_every_module_and_the_configs(wheel):
    names = set(wheel.namelist())
    for package, folder in _source_packages().items():
        for module in folder.glob("*.py"):
            assert f"{package.replace('.', '/')}/{module.name}" in names
    for config in ("local.yaml", "gpu.yaml", "kuberay/rayservice.yaml"):
        assert f"lumograph/configs/{config}" in names
    assert not [n for n in names if n.split("/")[0] in ("models", "serve", "graphs", "bench", "tests")]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = wheel.read(entry_points).decode()
    assert "lumograph = lumograph.serve.cli:main" in text
    assert "[lumograph.commands]" in text and "bench = lumograph.bench.cli:register" in text


def test_the_installed_package_finds_its_configs_outside_the_checkout(tmp_path):
    code = ("from lumograph.configs import config_path; from lumograph.serve.cluster import resolve_config;"
            "p = config_path('gpu.yaml'); assert p.is_file(), p;"
            "assert resolve_config('configs/local.yaml').name == 'local.yaml'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, timeout=60)
