"""The shadow/compositor module's core: lightbox canvas, shadow, and the encoded file.

Encoding happens here so the QA module measures exactly the bytes that are delivered.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from lumograph.models.backends import BackendSelection, select_backend
from lumograph.models.compose import compose_lightbox
from lumograph.models.imageio import FORMAT_MEDIA_TYPES, encode_image
from lumograph.models.marketplaces import get_profile
from lumograph.models.shadow import estimate_light_direction


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
        ``fill_ratio``, ``quality`` (see ``LightboxOptions``). Returns ``{"encoded":
        bytes, "media_type", "format", "light", "report", "backend"}``.
        """
        profile = get_profile(options["marketplace"])
        side = int(options.get("size") or profile.default_canvas[0])
        fill = float(options.get("fill_ratio") or profile.default_fill)
        light = estimate_light_direction(proxy_rgb, proxy_alpha)
        comp = compose_lightbox(
            foreground,
            alpha,
            canvas_wh=(side, side),
            fill=fill,
            shadow_style=options.get("shadow", "soft"),
            light=light,
            transparent=bool(options.get("transparent", False)),
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
