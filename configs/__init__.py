"""Serve configurations shipped inside the package (read with ``importlib.resources``):
``local.yaml`` (CPU laptop, classical backends), ``gpu.yaml`` (fractional GPUs) and
``kuberay/rayservice.yaml``."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def config_path(name: str = "local.yaml") -> Path:
    """Path of a shipped config (``local.yaml``, ``gpu.yaml``, ``kuberay/rayservice.yaml``);
    works from a checkout, an editable install and an installed wheel."""
    path = Path(str(files(__name__).joinpath(name)))
    if not path.is_file():
        shipped = sorted(p.name for p in Path(str(files(__name__))).glob("*.yaml"))
        raise FileNotFoundError(f"no shipped config {name!r}; shipped: {shipped}")
    return path
