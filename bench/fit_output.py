"""What a fitting or eval command (``bench/fit_*.py``, ``bench/eval_*.py``) writes and
prints: the whole result as JSON, and a summary on stdout without the per-fold rows (and,
when asked, only a few keys of the fitted parameters, or without the per-photo keys)."""
from __future__ import annotations

import json
from pathlib import Path


def emit_fit(result: dict, json_out: Path | None, params_keys: tuple[str, ...] | None = None,
             drop: tuple[str, ...] = ()) -> None:
    """Write ``result`` to ``json_out`` (when given) and print its summary: ``kfold`` without
    ``per_fold``, ``params`` cut to ``params_keys`` when given, the keys ``drop`` left out."""
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2))
    short = {k: v for k, v in result.items() if k not in drop}
    if "kfold" in short:
        short["kfold"] = {k: v for k, v in result["kfold"].items() if k != "per_fold"}
    if params_keys is not None and "params" in short:
        short["params"] = {k: result["params"].get(k) for k in params_keys}
    print(json.dumps(short, indent=2))
