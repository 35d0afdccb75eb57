"""The segmenter module's core: cut the jewelry piece out at working resolution, and
the soft sky matte of a listing exterior.

Returns the matte (crop, alpha, geometry) plus the alpha projected onto the proxy the
other modules work on, so no other module needs the full-resolution image.

With the ``sam`` backend, Segment Anything is prompted with the classical detector's box
on the same working crop and its mask is refined at full working resolution by
closed-form matting (SAM's low-resolution masks alone lose thin chains); the classical
cut-out still supplies the crop, the backdrop colour and the decontaminated edge colours.
For listings SAM's sky mask replaces the classical matte where it finds one; the sky
condition stays the classical colour measurement; and the window detector's boxes prompt
SAM for pixel masks of the glass, which confine the window pull (``window_glass_masks``).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import cv2
import numpy as np

from lumograph.models.common.backends import BackendSelection, select_backend
from lumograph.models.common.errors import SubjectNotFound
from lumograph.models.common.imageio import parse_source_hw
from lumograph.models.qa.cutout import count_pieces
from lumograph.models.segmenter import sam
from lumograph.models.segmenter.jewelry_matte import Localisation, Matte, localise_subject, segment_jewelry
from lumograph.models.segmenter.sky_matte import segment_sky

#: How many recent proxy localisations a core remembers (one per request in flight).
_RECENT_LOCALISATIONS = 4


class SegmenterCore:
    def __init__(self, backend: str = "auto", weights_dir: str | None = None, target_long_side: int = 2048):
        self.selection: BackendSelection = select_backend("segmenter", backend, weights_dir)
        self.target_long_side = int(target_long_side)
        # Loaded once per replica (start-up), never per request.
        self.sam = sam.SamSegmenter.load(weights_dir) if self.selection.name == "sam" else None
        # The graph locates the piece on its proxy, then asks for the cut-out, which
        # starts by localising the same proxy again (~0.2 s at 12 MP). The locate call
        # leaves its result here, keyed by the proxy's content, for the cut-out to take;
        # a miss (another replica, an evicted entry) simply recomputes the same thing,
        # so no result ever depends on it.
        self._recent: OrderedDict[bytes, Localisation] = OrderedDict()
        self._recent_lock = threading.Lock()  # calls run on a replica's thread pool

    def segment_jewelry(self, rgb: np.ndarray, proxy_hw: tuple[int, int], target_long_side: int | None = None) -> dict:
        """Cut the subject out of ``rgb``.

        rgb: HxWx3 uint8 RGB at source resolution. proxy_hw: (h, w) of the proxy the
        caller holds. Returns ``{"matte": Matte, "proxy_alpha": hxw float32 [0,1] on the
        proxy grid, "backend": str}``.
        """
        matte = segment_jewelry(rgb, target_long_side=int(target_long_side or self.target_long_side),
                                localise=self._recall)
        if self.sam is not None:
            matte = self._refine_with_sam(matte)
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
        sky = segment_sky(proxy_rgb, scene=scene)
        if self.sam is not None and scene != "interior":
            matte, report = self.sam.automatic_sky_mask(proxy_rgb, return_report=True)
            if float((matte >= 0.5).mean()) > 0.0:
                sky = {**sky, "matte": matte, "fraction": round(float((matte >= 0.5).mean()), 4),
                       "measures": {**sky.get("measures", {}), "sam": report}}
        return {**sky, "backend": self.selection.name}

    def window_glass_masks(self, proxy_rgb: np.ndarray, windows: list[dict],
                           source_hw: tuple[int, int]) -> dict:
        """Pixel masks of the glass inside the window detector's boxes.

        proxy_rgb: HxWx3 uint8 RGB proxy of the photo; windows: the detector's entries
        (``bbox`` in source pixels of a ``source_hw`` (H, W) photo). With ``sam`` every
        box prompts SAM on one shared image embedding, in one batch. Returns
        ``{"masks": [hxw float32 [0, 1] on the proxy grid spanning that window's box,
        or None], "report": [{"bbox", "glass_share"}], "backend"}``; the classical
        backend has no glass model and returns None for every window (the pull then
        uses the box and its luminosity mask).
        """
        src_h, src_w = parse_source_hw(source_hw)
        if self.sam is None or not windows:
            return {"masks": [None] * len(windows or []), "report": [], "backend": self.selection.name}
        ph, pw = proxy_rgb.shape[:2]
        sx, sy = pw / src_w, ph / src_h
        boxes = []
        for window in windows:
            x0, y0, x1, y1 = (float(v) for v in window["bbox"])
            bx0, by0 = max(0, int(np.floor(x0 * sx))), max(0, int(np.floor(y0 * sy)))
            bx1, by1 = min(pw, max(bx0 + 2, int(np.ceil(x1 * sx)))), min(ph, max(by0 + 2, int(np.ceil(y1 * sy))))
            boxes.append((bx0, by0, bx1, by1))
        probabilities = self.sam.window_masks(proxy_rgb, [list(b) for b in boxes])
        masks, report = [], []
        for window, (bx0, by0, bx1, by1), prob in zip(windows, boxes, probabilities):
            crop = np.ascontiguousarray(prob[by0:by1, bx0:bx1], np.float32)
            masks.append(crop)
            report.append({"bbox": list(window["bbox"]), "glass_share": round(float((crop >= 0.5).mean()), 4)})
        return {"masks": masks, "report": report, "backend": self.selection.name}

    def _refine_with_sam(self, matte: Matte) -> Matte:
        """Replace the classical alpha by SAM's mask, prompted with the classical box on
        the same working crop, refined by matting at working resolution."""
        subject = matte.alpha >= 0.5
        if not subject.any():
            return matte
        rows, cols = np.nonzero(subject)
        box = [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
        prob, score = self.sam.segment_box(matte.foreground, box)
        alpha, report = self.sam.refine_with_matting(matte.foreground, prob, return_report=True)
        stats = {**matte.stats, "sam": {"box": box, "predicted_iou": round(float(score), 4), **report}}
        return Matte(foreground=matte.foreground, alpha=alpha.astype(np.float32, copy=False),
                     bbox=matte.bbox, scale=matte.scale, background_rgb=matte.background_rgb,
                     backend="sam", stats=stats)

    def locate_jewelry(self, proxy_rgb: np.ndarray) -> dict:
        """Cheap coarse localisation on the proxy, for the classifier and the input floor.

        proxy_rgb: HxWx3 uint8 (~1024 px). Returns ``{"mask": HxW float32 [0,1],
        "bbox": [x0, y0, x1, y1]}``; an empty mask when nothing stands out. The
        localisation is kept (once) for the ``segment_jewelry`` call on the same photo.
        """
        try:
            found = self._remember(proxy_rgb)
        except SubjectNotFound:
            h, w = proxy_rgb.shape[:2]
            return {"mask": np.zeros((h, w), np.float32), "bbox": None}
        return {"mask": found.mask.astype(np.float32), "bbox": [int(v) for v in found.bbox]}

    def _remember(self, proxy_rgb: np.ndarray) -> Localisation:
        """Localise the proxy and keep the result for the cut-out that follows."""
        found = localise_subject(proxy_rgb)
        found.mask.setflags(write=False)
        with self._recent_lock:
            self._recent[_proxy_key(proxy_rgb)] = found
            while len(self._recent) > _RECENT_LOCALISATIONS:
                self._recent.popitem(last=False)
        return found

    def _recall(self, proxy_rgb: np.ndarray) -> Localisation:
        """The localisation ``locate_jewelry`` made of this exact proxy, used up once (so a
        request never reads another's), else a fresh one."""
        with self._recent_lock:
            found = self._recent.pop(_proxy_key(proxy_rgb), None)
        return found if found is not None else localise_subject(proxy_rgb)


def _proxy_key(proxy_rgb: np.ndarray) -> bytes:
    """A 128-bit digest of the proxy's shape and pixels (~2 ms for 1024x768)."""
    proxy = np.ascontiguousarray(proxy_rgb)
    digest = hashlib.blake2b(repr(proxy.shape).encode(), digest_size=16)
    digest.update(proxy.data)
    return digest.digest()


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
