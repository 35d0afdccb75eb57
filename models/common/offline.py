"""Nothing downloads at run time: the offline switches every learned backend sets before
it imports its library (transformers, diffusers, huggingface_hub, ultralytics).

Call ``ensure_offline()`` first thing in a loader, before the ``import`` of the library:
several of them read these variables once, at import.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Variable -> value. Existing values set by an operator are kept.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DISABLE_TELEMETRY": "1",
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "false",
    "YOLO_VERBOSE": "false",
}


def ensure_offline() -> None:
    """Set the offline variables (keeping any already set) and give ultralytics a
    writable settings folder of its own, so it never writes to (or syncs from) a user's
    home."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    if "YOLO_CONFIG_DIR" not in os.environ:
        folder = Path(tempfile.gettempdir()) / "lumograph-ultralytics"
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(folder)
