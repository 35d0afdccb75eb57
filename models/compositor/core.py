"""The shadow/compositor module's core: lightbox canvas, shadow, and the encoded file for
jewelry; sky replacement, day-to-dusk, vertical correction and the encoded photo for
listings.

Encoding happens here so the QA module measures exactly the bytes that are delivered.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from lumograph.models.common.backends import BackendSelection, select_backend
from lumograph.models.common.imageio import FORMAT_MEDIA_TYPES, encode_image, resize_long_side
from lumograph.models.common.marketplaces import get_profile
from lumograph.models.compositor.dusk import day_to_dusk
from lumograph.models.compositor.lightbox import compose_lightbox
from lumograph.models.compositor.shadow import LightDirection, estimate_light_direction
from lumograph.models.compositor.sky_replace import replace_sky
from lumograph.models.compositor.verticals import correct_verticals


class CompositorCore:
    def __init__(self, backend: str = "auto", weights_dir: str | None = None):
        self.selection: BackendSelection = select_backend("compositor", backend, weights_dir)

    def compose_lightbox(
        self,
        foreground: np.ndarray,
        alpha: np.ndarray,
        proxy_rgb: np.ndarray,
        proxy_alpha: np.ndarray,
        options: dict,
    ) -> dict:
        """Place the graded piece on the marketplace's lightbox canvas and encode it.

        foreground: hxwx3 uint8 RGB; alpha: hxw float32 [0,1]. proxy_rgb/proxy_alpha:
        the original photo and subject (~1024 px) to read the light direction from.
        options: ``marketplace``, ``size``, ``format``, ``transparent``, ``shadow``,
        ``fill_ratio``, ``quality`` (see ``LightboxOptions``); a catalog's locked look may
        add ``light`` (a ``LightDirection`` as a dict: every shadow falls the same way) and
        ``shadow_strength`` (in [0, 2]). Returns ``{"encoded":
        bytes, "media_type", "format", "light", "report", "backend"}``.
        """
        profile = get_profile(options["marketplace"])
        side = int(options.get("size") or profile.default_canvas[0])
        fill = float(options.get("fill_ratio") or profile.default_fill)
        locked = options.get("light")
        light = LightDirection(**locked) if locked else estimate_light_direction(proxy_rgb, proxy_alpha)
        comp = compose_lightbox(
            foreground,
            alpha,
            canvas_wh=(side, side),
            fill=fill,
            shadow_style=options.get("shadow", "soft"),
            light=light,
            transparent=bool(options.get("transparent", False)),
            shadow_strength=float(options.get("shadow_strength", 1.0)),
        )
        fmt = options.get("format", "jpeg")
        encoded = encode_image(
            comp.rgb,
            fmt,
            alpha=comp.alpha if options.get("transparent") else None,
            quality=int(options.get("quality", 92)),
        )
        report = dict(comp.report)
        report.update(
            canvas_size=list(comp.canvas_size),
            subject_bbox=list(comp.subject_bbox),
            fill_ratio_planned=float(comp.fill_ratio),
            shadow=options.get("shadow", "soft"),
        )
        return {
            "encoded": encoded,
            "media_type": FORMAT_MEDIA_TYPES[fmt],
            "format": fmt,
            "light": asdict(light),
            "report": report,
            "backend": self.selection.name,
        }

    def replace_sky(self, rgb: np.ndarray, proxy_matte: np.ndarray, style: str, seed: int,
                    sky_plate: dict | None = None) -> dict:
        """Composite a generated sky under ``proxy_matte`` (HxW float32 on a proxy grid)
        and relight the foreground; ``sky_plate`` (the inpainter's learned sky, or None
        for the procedural one) is described in ``models.compositor.sky_replace.replace_sky``. Returns
        ``{"rgb", "report", "halo", "backend"}``."""
        return {**replace_sky(rgb, proxy_matte, style, int(seed), sky_plate), "backend": self.selection.name}

    def day_to_dusk(self, rgb: np.ndarray, proxy_matte: np.ndarray | None, windows: list[dict],
                    lamps: list[dict] | None = None) -> dict:
        """Twilight sky, darker warmer ground, glowing windows and lamps switched on (boxes
        in source pixels). Returns ``{"rgb", "report", "backend"}``."""
        return {**day_to_dusk(rgb, proxy_matte, list(windows or []), list(lamps or [])),
                "backend": self.selection.name}

    def correct_verticals(self, rgb: np.ndarray, estimate: dict | None) -> dict:
        """Straighten converging verticals found by the classifier, crop to no empty
        corners. Returns ``{"rgb", "report", "applied", "backend"}``."""
        return {**correct_verticals(rgb, estimate), "backend": self.selection.name}

    def encode_photo(self, rgb: np.ndarray, fmt: str, quality: int, max_long_side: int | None = None) -> dict:
        """Encode a listing photo (optionally downscaled to ``max_long_side``).

        rgb: HxWx3 uint8 RGB. Returns ``{"encoded": bytes, "media_type", "format",
        "width", "height"}``.
        """
        out = resize_long_side(rgb, int(max_long_side)) if max_long_side else rgb
        encoded = encode_image(out, fmt, quality=int(quality))
        return {"encoded": encoded, "media_type": FORMAT_MEDIA_TYPES[fmt], "format": fmt,
                "width": int(out.shape[1]), "height": int(out.shape[0])}
