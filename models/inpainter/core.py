"""The inpainter module's core: flash / glare hot-spots, a photographer in a mirror,
generated views in fully blown windows and generated skies (learned only), and virtual
staging of empty rooms.

Hosted in-process (CLI, tests, eval) or by ``deployments/inpainter.py``. The classical
backend (OpenCV ``cv2.inpaint`` plus a dichromatic specular subtraction, see
``models.inpainter.glare``, ``models.inpainter.mirror``) needs no weights. The learned backend ``diffusers``
(``models.inpainter.diffusion``: a local diffusers inpainting pipeline under
``weights_dir/inpaint``) takes over under ``auto`` when its weights are present; it is
loaded once, here, at replica start. Detection stays classical on both backends (the
hot-spot detector, the mirror face cascade); the learned backend only replaces the fill
of what the classical path would have had to invent (clipped pixels, the reflected
person). Window views, sky plates and virtual staging are learned-only: the classical
backend answers window views and sky plates with "nothing generated" (the graph keeps
the pull's soft white and the compositor's procedural sky) and staging with 503.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from lumograph.models.common.backends import BackendSelection, select_backend
from lumograph.models.common.errors import BackendUnavailable, InvalidOptions
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.grader.window_pull import window_fully_blown
from lumograph.models.inpainter import diffusion
from lumograph.models.inpainter.glare import CLIPPED_LEVEL, find_hotspots, remove_glare
from lumograph.models.inpainter.mirror import mirror_box_pixels, mirror_cleanup

#: Source pixels a clipped hole grows by before the diffusion fill (a clipped core's
#: rim is lifted by the flash too and would leave a bright halo).
CLIPPED_HOLE_GROW_PX = 3


class InpainterCore:
    """Retouch edits that fill pixels from their surroundings; ``backend`` reports what runs.

    backend: ``auto`` | ``classical`` | ``diffusers``; weights_dir: the weights root (the
    pipeline lives in ``weights_dir/inpaint``); diffusion_steps: denoising steps per
    learned fill (1..200).
    """

    def __init__(self, backend: str = "auto", weights_dir: str | None = None,
                 diffusion_steps: int = diffusion.DEFAULT_STEPS):
        self.selection: BackendSelection = select_backend("inpainter", backend, weights_dir)
        self.weights_dir = weights_dir
        self.diffusion_steps = int(diffusion_steps)
        self.learned: diffusion.DiffusionInpainter | None = None
        if self.selection.name == diffusion.BACKEND_NAME:
            self.learned = diffusion.load_inpainter(weights_dir)

    def remove_glare(self, rgb: np.ndarray, seed: int = 0) -> dict:
        """rgb: HxWx3 uint8 RGB at full resolution (not modified); seed: the diffusion
        fill's seed (learned backend only; same seed, same pixels).

        Returns ``{"rgb": HxWx3 uint8, "report": {...}, "applied": bool, "backend": str}``
        (see ``models.inpainter.glare.remove_glare``). With ``diffusers`` the specular
        subtraction is kept where the surface shows through, and the clipped pixels of
        the detected hot-spots are filled by the model (``report["method"]`` says
        ``diffusion_fill``, ``report["diffusion"]`` holds the fill's report).
        """
        result = remove_glare(rgb)
        if self.learned is not None and result["report"]["inpainted_share"] > 0:
            result = self._diffuse_clipped(rgb, result, seed)
        return self._tag(result)

    def mirror_cleanup(self, rgb: np.ndarray, mirror: dict | None, seed: int = 0) -> dict:
        """rgb: HxWx3 uint8 RGB (not modified); mirror: ``{"present", "bbox_norm",
        "confidence"}`` or None; seed: the diffusion fill's seed (learned backend only).

        Returns ``{"rgb": HxWx3 uint8, "report": {...}, "applied": bool, "backend": str}``
        (see ``models.inpainter.mirror.mirror_cleanup``). With ``diffusers`` the reflected person
        found by the face detector is filled by the model from the mirror's own
        contents.
        """
        result = mirror_cleanup(rgb, mirror)
        if self.learned is not None and result["applied"]:
            result = self._diffuse_person(rgb, mirror, result, seed)
        return self._tag(result)

    def stage_room(self, rgb: np.ndarray, room_type: str, style: str, seed: int = 0) -> dict:
        """Virtually stage an empty room (learned backend only).

        rgb: HxWx3 uint8 RGB (not modified); room_type: one of
        ``diffusion.STAGING_ROOMS``; style: one of
        ``diffusion.STAGING_STYLES``; seed: int >= 0.
        Returns ``{"rgb": HxWx3 uint8, "report": {..., "room_type", "style",
        "disclosure", "backend"}, "applied": bool, "backend": "diffusers"}``.
        Raises ``InvalidOptions`` for an unknown room type or style, and
        ``BackendUnavailable`` (code ``weights_missing``, naming the missing path) when
        the classical backend runs (the route answers 503).
        """
        diffusion.validate_staging(room_type, style)
        if self.learned is None:
            raise BackendUnavailable(
                f"inpainter: virtual staging needs the 'diffusers' backend; weights missing: "
                f"{self._missing_weights()}", code="weights_missing")
        result = self.learned.stage_room(rgb, room_type, style, seed, self.diffusion_steps)
        return self._tag(result)

    def synthesize_window_views(self, rgb: np.ndarray, windows: list[dict],
                                glass_masks: list | None = None, seed: int = 0) -> dict:
        """Generate a view in every fully blown window (learned backend only).

        rgb: HxWx3 uint8 RGB at full resolution (not modified); windows: the window
        detector's entries (``bbox`` in source pixels); glass_masks: None or one hxw
        float32 [0, 1] glass mask (or None) per window spanning its box; seed: int >= 0.
        A window is refilled when ``exposure.window_fully_blown`` says its view is lost.
        Returns ``{"rgb": HxWx3 uint8, "applied": bool, "report": {"windows": [{"bbox",
        "synthesized": bool, "reason", "diffusion"?}], "synthesized": int,
        "disclosure"?}, "backend"}``. The classical backend generates nothing: it
        returns the input, ``applied`` False and the reason (the pull then tones the
        glass soft white).
        """
        require_rgb_u8(rgb, "rgb", min_side=diffusion.MIN_SIDE)
        windows = list(windows or [])
        masks = list(glass_masks) if glass_masks is not None else [None] * len(windows)
        if len(masks) != len(windows):
            raise InvalidOptions(f"glass_masks must have one entry per window ({len(windows)}), "
                                 f"got {len(masks)}")
        entries, out = [], rgb
        for window, glass in zip(windows, masks):
            entry = {"bbox": list(window["bbox"]), "synthesized": False}
            if not window_fully_blown(window):
                blown = float(window.get("blown_share", window.get("clipped_share", 0.0)))
                entry["reason"] = (f"{blown:.0%} blown in every channel (or a full-height strip): "
                                   "not a lost view; the pull recovers what is there")
            elif self.learned is None:
                entry["reason"] = ("fully blown, but generating a view needs the 'diffusers' "
                                   f"inpainter (weights missing: {self._missing_weights()})")
            else:
                x0, y0, x1, y1 = (int(round(float(v))) for v in window["bbox"])
                h, w = rgb.shape[:2]
                box = (max(0, x0), max(0, y0), min(w, x1), min(h, y1))
                filled = self.learned.synthesize_window_view(out, box, seed, self.diffusion_steps,
                                                             glass=glass)
                entry["diffusion"] = filled["report"]
                entry["synthesized"] = bool(filled["report"]["applied"])
                entry["reason"] = ("fully blown: view generated by the diffusion inpainter"
                                   if entry["synthesized"] else
                                   "fully blown, but the fill was refused (safety checker) or empty")
                if entry["synthesized"]:
                    out = filled["rgb"]
            entries.append(entry)
        n = sum(e["synthesized"] for e in entries)
        report: dict = {"windows": entries, "synthesized": n}
        if n:
            report["disclosure"] = diffusion.WINDOW_VIEW_DISCLOSURE
        return self._tag({"rgb": out if n else rgb, "applied": n > 0, "report": report})

    def sky_plate(self, proxy_rgb: np.ndarray, proxy_matte: np.ndarray, style: str, seed: int = 0) -> dict:
        """A generated sky for the compositor's sky replacement (learned backend only).

        proxy_rgb: HxWx3 uint8 RGB proxy of the photo as edited so far; proxy_matte: HxW
        float32 [0, 1] sky matte on the same grid; style: a ``models.compositor.sky_replace.SKY_STYLES``
        name; seed: int >= 0. Returns ``{"plate": hxwx3 uint8 or None, "box_norm":
        [x0, y0, x1, y1] fractions or None, "report": {...}, "backend"}`` (see
        ``DiffusionInpainter.sky_plate``). The classical backend returns ``plate`` None
        and the reason: the compositor then renders its procedural sky.
        """
        if self.learned is None:
            return {"plate": None, "box_norm": None, "backend": self.selection.name,
                    "report": {"reason": "procedural sky: the 'diffusers' inpainter is not loaded",
                               "backend": self.selection.name}}
        matte = np.asarray(proxy_matte, np.float32)
        if matte.ndim == 2 and matte.shape != proxy_rgb.shape[:2]:
            # A proxy of the edited photo and the classifier's proxy can differ by a pixel.
            matte = cv2.resize(matte, (proxy_rgb.shape[1], proxy_rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        return self._tag(self.learned.sky_plate(proxy_rgb, matte, style, seed, self.diffusion_steps))

    # -------------------------------------------------------------- internals

    def _tag(self, result: dict) -> dict:
        result["backend"] = self.selection.name
        result["report"]["backend"] = self.selection.name
        return result

    def _missing_weights(self) -> str:
        if not self.weights_dir:
            return str(Path("weights") / diffusion.WEIGHTS_SUBDIR / "model_index.json") + \
                " (no weights_dir configured)"
        missing = diffusion.missing_weights(Path(self.weights_dir))
        return missing or str(diffusion.pipeline_dir(self.weights_dir) / "model_index.json")

    def _diffuse_clipped(self, rgb: np.ndarray, classical: dict, seed: int) -> dict:
        """Replace the classical TELEA fill of clipped hot-spot pixels by a diffusion fill;
        the specular subtraction around them stays (it keeps the real surface)."""
        h, w = rgb.shape[:2]
        det = find_hotspots(rgb)
        gh, gw = det["grid_hw"]
        hole = np.zeros((h, w), np.uint8)
        pad = int(math.ceil(2 * max(w / gw, h / gh)))
        # Only the hot-spot boxes are upsampled and tested: a 12 MP frame-wide pass
        # would cost more than the detection.
        for bx0, by0, bx1, by1 in det["boxes_norm"]:
            x0, y0 = max(0, int(bx0 * w) - pad), max(0, int(by0 * h) - pad)
            x1, y1 = min(w, int(math.ceil(bx1 * w)) + pad), min(h, int(math.ceil(by1 * h)) + pad)
            gx0, gy0 = int(x0 * gw / w), int(y0 * gh / h)
            gx1, gy1 = max(gx0 + 1, int(math.ceil(x1 * gw / w))), max(gy0 + 1, int(math.ceil(y1 * gh / h)))
            spot = cv2.resize(det["mask"][gy0:gy1, gx0:gx1], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
            clipped = rgb[y0:y1, x0:x1].max(axis=2) >= CLIPPED_LEVEL
            hole[y0:y1, x0:x1] |= ((spot > 0.25) & clipped).astype(np.uint8)
        if not hole.any():
            return classical
        k = 2 * CLIPPED_HOLE_GROW_PX + 1
        hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        filled = self.learned.fill(classical["rgb"], hole.astype(np.float32), "glare", seed,
                                   self.diffusion_steps)
        report = dict(classical["report"])
        methods = [m for m in report["method"].split("+") if m not in ("inpaint_telea", "none")]
        if filled["report"]["applied"]:
            methods.append("diffusion_fill")
            report["inpainted_share"] = filled["report"]["hole_share"]
            out = filled["rgb"]
        else:
            # The safety checker refused every crop: the classical fill stands.
            methods.append("inpaint_telea")
            out = classical["rgb"]
        report["method"] = "+".join(methods)
        report["diffusion"] = filled["report"]
        return {"rgb": out, "report": report, "applied": True}

    def _diffuse_person(self, rgb: np.ndarray, mirror: dict, classical: dict, seed: int) -> dict:
        """Refill the reflected person's box with the model, drawing only on the mirror."""
        h, w = rgb.shape[:2]
        report = dict(classical["report"])
        px0, py0, px1, py1 = report["person_box_norm"]
        mx0, my0, mx1, my1 = mirror_box_pixels(mirror, (h, w))
        box = (max(mx0, int(math.floor(px0 * w))), max(my0, int(math.floor(py0 * h))),
               min(mx1, int(math.ceil(px1 * w))), min(my1, int(math.ceil(py1 * h))))
        hole = np.zeros((h, w), np.float32)
        hole[box[1]:box[3], box[0]:box[2]] = 1.0
        filled = self.learned.fill(rgb, hole, "reflection", seed, self.diffusion_steps,
                                   within=(mx0, my0, mx1, my1))
        report["diffusion"] = filled["report"]
        if not filled["report"]["applied"]:
            return {"rgb": classical["rgb"], "report": report, "applied": True}
        report["reason"] = "reflected person filled from the mirror's contents by the diffusion inpainter"
        return {"rgb": filled["rgb"], "report": report, "applied": True}
