"""Where the real evaluation photos are, and what a test does when they are absent.

The photos live outside the repository (their licences forbid copying them in). Tests
find them at ``$LUMOGRAPH_EVAL_DIR`` (default: ``../shared/eval`` beside the checkout).
Absent, a test that needs them is skipped with a message naming the path, unless
``LUMOGRAPH_REQUIRE_EVAL=1`` (``.ci/run`` sets it): then it fails, so CI can never go
green by silently skipping the real-photo checks.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = Path(os.environ.get("LUMOGRAPH_EVAL_DIR") or ROOT.parent / "shared" / "eval")


def eval_required() -> bool:
    return os.environ.get("LUMOGRAPH_REQUIRE_EVAL", "") == "1"


def require_eval(*parts: str) -> Path:
    """``EVAL_DIR / parts`` when it exists; else skip (or fail when required)."""
    path = EVAL_DIR.joinpath(*parts)
    if not path.exists():
        message = f"eval data not found at {path} (set LUMOGRAPH_EVAL_DIR to the eval folder)"
        if eval_required():
            pytest.fail(message + "; LUMOGRAPH_REQUIRE_EVAL=1 says it must be there", pytrace=False)
        pytest.skip(message)
    return path
