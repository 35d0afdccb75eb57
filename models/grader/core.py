"""The colour grader module's core: neutral studio light and per-metal tones for jewelry;
exposure (bracket merge, window pull) and the room-aware grade for listings."""
from __future__ import annotations

from dataclasses import asdict

import cv2
import numpy as np

from lumograph.models.common.backends import BackendSelection, select_backend
from lumograph.models.common.colour import srgb_to_linear
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.grader.brackets import merge_brackets
from lumograph.models.grader.highlights import control_highlights
from lumograph.models.grader.illuminant import describe_illuminant, estimate_illuminant
from lumograph.models.grader.metal_tone import grade_jewelry
from lumograph.models.grader.room_grade import grade_room
from lumograph.models.grader.window_pull import pull_windows


class GraderCore:
    def __init__(self, backend: str = "auto", weights_dir: str | None = None, strength: float = 1.0,
                 highlights: bool = True):
        self.selection: BackendSelection = select_backend("grader", backend, weights_dir)
        self.strength = float(strength)
        # Blown hot-spots rolled off after the grade (``highlights.control_highlights``).
        self.highlights = bool(highlights)
        # colour-science imports lazily (~1 s): pay it at replica start, not on a request.
        describe_illuminant([1.0, 1.0, 1.0])

    def grade_jewelry(
        self,
        foreground: np.ndarray,
        alpha: np.ndarray,
        proxy_rgb: np.ndarray,
        proxy_alpha: np.ndarray,
        metal: str,
        illuminant: list[float] | None = None,
    ) -> dict:
        """Correct the cut-out to neutral light, normalise its metal tone and roll off its
        blown hot-spots.

        foreground: hxwx3 uint8 RGB crop; alpha: hxw float32 [0,1] (same grid).
        proxy_rgb/proxy_alpha: the whole photo (~1024 px) and the subject on it; the
        illuminant is estimated from the backdrop (subject masked out), because a
        packshot backdrop is meant to be neutral. The highlight stage runs last, on the
        graded colours (the white balance can push a channel into clipping). Returns
        ``{"rgb", "illuminant", "report", "backend"}``; ``report["highlights"]`` holds
        ``{"enabled", "clipped_share_before", "clipped_share_after" (shares of the
        piece's pixels, alpha >= 0.5, with max channel >= 254, before and after the
        stage), "hotspots", "softened_px", "piece_px", "min_area_px"}``.
        illuminant: (3,) positive linear-RGB light to correct from instead of estimating it
        (a catalog's locked white point); None: estimated from this photo's backdrop.
        """
        if illuminant is not None:
            given = np.asarray(illuminant, np.float64)
            if given.shape != (3,) or not np.all(np.isfinite(given)) or np.any(given <= 0):
                raise InvalidOptions(f"illuminant must be 3 positive finite numbers, got {illuminant!r}")
            graded, report = grade_jewelry(foreground, alpha, given, metal, strength=self.strength)
            report["illuminant_source"] = "locked"
            return self._finish_jewelry(graded, alpha, given, report)
        subject = (proxy_alpha > 0.05).astype(np.uint8)
        grow = max(3, round(0.02 * max(proxy_alpha.shape)))
        subject = cv2.dilate(subject, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
        backdrop_weight = 1.0 - subject.astype(np.float32)
        if backdrop_weight.mean() < 0.05:  # subject fills the frame: use everything
            backdrop_weight = None
        illuminant = estimate_illuminant(srgb_to_linear(proxy_rgb), mask=backdrop_weight)
        graded, report = grade_jewelry(foreground, alpha, illuminant, metal, strength=self.strength)
        report["illuminant_source"] = "estimated"
        return self._finish_jewelry(graded, alpha, illuminant, report)

    def _finish_jewelry(self, graded: np.ndarray, alpha: np.ndarray, illuminant, report: dict) -> dict:
        if self.highlights:
            graded, highlights = control_highlights(graded, alpha, in_place=True)  # graded is ours
            report["highlights"] = {"enabled": True, **highlights}
        else:
            report["highlights"] = {"enabled": False}
        return {
            "rgb": graded,
            "illuminant": asdict(describe_illuminant(illuminant)),
            "report": report,
            "backend": self.selection.name,
        }

    def merge_brackets(self, frames: list[np.ndarray]) -> dict:
        """Align and fuse a bracket set (2-9 HxWx3 uint8 RGB exposures of one shot).

        Returns ``{"rgb", "report", "backend"}``.
        """
        return {**merge_brackets(list(frames)), "backend": self.selection.name}

    def pull_windows(self, rgb: np.ndarray, windows: list[dict], threshold_stops: float,
                     glass_masks: list | None = None) -> dict:
        """Exposure-fuse each window more than ``threshold_stops`` over the room.

        rgb: HxWx3 uint8 RGB at source resolution; windows: the window detector's entries
        (boxes in source pixels); glass_masks: None, or one hxw float32 [0, 1] glass mask
        (or None) per window spanning its box (the segmenter's ``window_glass_masks``).
        Returns ``{"rgb", "report", "applied", "backend"}``.
        """
        return {**pull_windows(rgb, windows, float(threshold_stops), glass_masks),
                "backend": self.selection.name}

    def grade_room(self, rgb: np.ndarray, room_type: str) -> dict:
        """Room-aware grade (kitchen, bathroom, bedroom, living, dining, other, interior,
        exterior). Returns ``{"rgb", "report", "backend"}``."""
        return {**grade_room(rgb, room_type), "backend": self.selection.name}
