"""What a fitting command (``bench/fit_*.py``) writes and prints: the whole result as JSON,
and a summary on stdout without the per-fold rows (and, when asked, only a few keys of the
fitted parameters)."""
from __future__ import annotations

import json
from pathlib import Path


def emit_fit(result: dict, json_out: Path | None, params_keys: tuple[str, ...] | None = None) -> None:
    """Write ``result`` to ``json_out`` (when given) and print its summary: ``kfold`` without
    ``per_fold``, ``params`` cut to ``params_keys`` when given."""
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2))
    short = dict(result)
    if "kfold" in short:
        short["kfold"] = {k: v for k, v in result["kfold"].items() if k != "per_fold"}
    if params_keys is not None and "params" in short:
        short["params"] = {k: result["params"].get(k) for k in params_keys}
    print(json.dumps(short, indent=2))
