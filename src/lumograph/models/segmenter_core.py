"""The segmenter module's core: cut the jewelry piece out at working resolution, and
the soft sky matte of a listing exterior.

Returns the matte (crop, alpha, geometry) plus the alpha projected onto the proxy the
other modules work on, so no other module needs the full-resolution image.
"""
from __future__ import annotations

import cv2
import numpy as np

from lumograph.models.backends import BackendSelection, select_backend
from lumograph.models.errors import SubjectNotFound
from lumograph.models.qa_cutout import count_pieces
from lumograph.models.segmentation import Matte, segment_jewelry
from lumograph.models.sky import segment_sky


class SegmenterCore:
    def __init__(self, backend: str = "auto", weights_dir: str | None = None, target_long_side: int = 2048):
        self.selection: BackendSelection = select_backend("segmenter", backend, weights_dir)
        self.target_long_side = int(target_long_side)

    def segment_jewelry(self, rgb: np.ndarray, proxy_hw: tuple[int, int], target_long_side: int | None = None) -> dict:
        """Cut the subject out of ``rgb``.

        rgb: HxWx3 uint8 RGB at source resolution. proxy_hw: (h, w) of the proxy the
        caller holds. Returns ``{"matte": Matte, "proxy_alpha": hxw float32 [0,1] on the
        proxy grid, "backend": str}``.
        """
        matte = segment_jewelry(rgb, target_long_side=int(target_long_side or self.target_long_side))
        proxy_alpha = project_alpha(matte, rgb.shape[:2], proxy_hw)
        return {"matte": matte, "proxy_alpha": proxy_alpha, "pieces": count_pieces(matte.alpha),
                "backend": self.selection.name}

    def sky_matte(self, proxy_rgb: np.ndarray, scene: str | None = None) -> dict:
        """Soft sky matte and sky condition of a listing photo.

        proxy_rgb: HxWx3 uint8 RGB (~1024 px). scene: "exterior" / "interior" when the
        classifier (or the client's label) already decided, so the matte trusts it;
        None to let the sky model weigh the scene itself. Returns ``{"matte": HxW
        float32 [0,1] on the proxy grid, "fraction", "condition":
        clear|overcast|grey|none, "needs_replacement", "measures", "backend"}``.
        """
        return {**segment_sky(proxy_rgb, scene=scene), "backend": self.selection.name}

    def locate_jewelry(self, proxy_rgb: np.ndarray) -> dict:
        """Cheap coarse localisation on the proxy, for the classifier and the input floor.

        proxy_rgb: HxWx3 uint8 (~1024 px). Returns ``{"mask": HxW float32 [0,1],
        "bbox": [x0, y0, x1, y1]}``; an empty mask when nothing stands out.
        """
        try:
            return _locate(proxy_rgb)
        except SubjectNotFound:
            h, w = proxy_rgb.shape[:2]
            return {"mask": np.zeros((h, w), np.float32), "bbox": None}


def project_alpha(matte: Matte, source_hw: tuple[int, int], target_hw: tuple[int, int]) -> np.ndarray:
    """Place the matte's alpha on a ``target_hw`` grid that spans the whole source frame.

    Returns HxW float32 in [0, 1] (zero outside the crop). Used to hand other modules a
    subject mask on the proxy without re-segmenting.
    """
    th, tw = target_hw
    sh, sw = source_hw
    sx, sy = tw / sw, th / sh
    x0, y0, x1, y1 = matte.bbox
    tx0, ty0 = int(round(x0 * sx)), int(round(y0 * sy))
    tx1, ty1 = max(tx0 + 1, int(round(x1 * sx))), max(ty0 + 1, int(round(y1 * sy)))
    tx1, ty1 = min(tx1, tw), min(ty1, th)
    out = np.zeros((th, tw), np.float32)
    patch = cv2.resize(matte.alpha, (tx1 - tx0, ty1 - ty0), interpolation=cv2.INTER_AREA)
    out[ty0:ty1, tx0:tx1] = np.clip(patch, 0.0, 1.0)
    return out


def _locate(rgb: np.ndarray) -> dict:
    from lumograph.models.segmentation import locate_subject

    mask, bbox = locate_subject(rgb)
    return {"mask": mask.astype(np.float32, copy=False), "bbox": [int(v) for v in bbox]}
