"""The inpainter module's core: flash / glare hot-spots and a photographer in a mirror.

Hosted in-process (CLI, tests, eval) or by ``deployments/inpainter.py``. The classical
backend (OpenCV ``cv2.inpaint`` plus a dichromatic specular subtraction, see
``models.retouch``) needs no weights; a learned inpainting backend registers in
``models.backends.LEARNED_BACKENDS["inpainter"]`` and takes over under ``auto``.
"""
from __future__ import annotations

import numpy as np

from lumograph.models.backends import BackendSelection, select_backend
from lumograph.models.retouch import mirror_cleanup, remove_glare


class InpainterCore:
    """Retouch edits that fill pixels from their surroundings; ``backend`` reports what runs."""

    def __init__(self, backend: str = "auto", weights_dir: str | None = None):
        self.selection: BackendSelection = select_backend("inpainter", backend, weights_dir)

    def remove_glare(self, rgb: np.ndarray) -> dict:
        """rgb: HxWx3 uint8 RGB at full resolution (not modified).

        Returns ``{"rgb": HxWx3 uint8, "report": {...}, "applied": bool, "backend": str}``
        (see ``models.retouch.remove_glare``).
        """
        result = remove_glare(rgb)
        result["backend"] = self.selection.name
        result["report"]["backend"] = self.selection.name
        return result

    def mirror_cleanup(self, rgb: np.ndarray, mirror: dict | None) -> dict:
        """rgb: HxWx3 uint8 RGB (not modified); mirror: ``{"present", "bbox_norm",
        "confidence"}`` or None.

        Returns ``{"rgb": HxWx3 uint8, "report": {...}, "applied": bool, "backend": str}``
        (see ``models.retouch.mirror_cleanup``).
        """
        result = mirror_cleanup(rgb, mirror)
        result["backend"] = self.selection.name
        result["report"]["backend"] = self.selection.name
        return result
