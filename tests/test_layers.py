"""The layer rules of docs/ARCHITECTURE.md, read off every module's imports: imports point
downward only."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: folder -> module prefixes its code must never import (lazily or not).
FORBIDDEN = {
    "models": ("ray", "fastapi", "starlette", "lumograph.serve", "lumograph.graphs", "lumograph.jobs",
               "lumograph.deployments", "lumograph.bench"),
    "graphs": ("ray", "fastapi", "lumograph.serve", "lumograph.jobs", "lumograph.deployments", "lumograph.bench"),
    "jobs": ("fastapi", "starlette", "ray.serve", "lumograph.serve", "lumograph.deployments", "lumograph.bench"),
    "access": ("fastapi", "starlette", "ray", "lumograph.serve", "lumograph.deployments", "lumograph.graphs",
               "lumograph.bench"),
    "deployments": ("lumograph.serve", "lumograph.bench", "lumograph.jobs", "lumograph.access"),
    "serve": ("lumograph.bench",),
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_point_downward_only(folder):
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[folder]):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)
