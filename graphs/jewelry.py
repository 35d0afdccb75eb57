"""The jewelry-lightbox graph: pure async orchestration over module steps.

The same function runs in three hosts: in Serve the steps are deployment handles
(``handle.method.remote``), in the CLI, tests and eval they are in-process cores
(``graphs.local``), and in a Ray Data batch job they would be either. The graph holds
no image maths and imports no Ray.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable

import numpy as np

from lumograph.graphs.reports import jsonable
from lumograph.models.classifier.jewelry import ON_MODEL_SKIN_SHARE
from lumograph.models.common.errors import OutOfScope, SubjectNotFound
from lumograph.models.common.imageio import embed_xmp, resize_long_side
from lumograph.models.common.marketplaces import get_profile, plan_canvas
from lumograph.models.common.provenance import lightbox_source_type, xmp_packet

#: The proxy every light-weight module works on: big enough for thin chains to show,
#: small enough that classification and QA cost milliseconds.
PROXY_LONG_SIDE = 1024

Step = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class JewelrySteps:
    """The module methods the graph calls, each an async callable.

    locate(proxy) -> {"mask", "bbox"}; classify(proxy) -> dict;
    check_input(proxy, source_wh, min_short_side=, subject_alpha_proxy=, canvas=) -> dict;
    segment(rgb, proxy_hw, target_long_side) -> {"matte", "proxy_alpha", "backend"};
    grade(fg, alpha, proxy, proxy_alpha, metal) -> {"rgb", "illuminant", "report", "backend"};
    compose(fg, alpha, proxy, proxy_alpha, options) -> {"encoded", "media_type", ...};
    check_output(encoded, fmt, marketplace, prior_checks, cutout) -> {"verdict", "score", "checks", ...}.
    """

    locate: Step
    classify: Step
    check_input: Step
    segment: Step
    grade: Step
    compose: Step
    check_output: Step


@dataclass
class LightboxOutcome:
    """What the graph produced: the encoded image (None on a failed input floor) and
    the report as a JSON-able dict (validated into ``LightboxReport`` at the ingress)."""

    encoded: bytes | None
    media_type: str | None
    report: dict[str, Any] = field(default_factory=dict)


class _StageClock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    async def run(self, name: str, awaitable: Awaitable[Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return await awaitable
        finally:
            self.timings[name] = round(time.perf_counter() - t0, 4)


async def run_lightbox(
    rgb: np.ndarray,
    options: dict[str, Any],
    steps: JewelrySteps,
    *,
    request_id: str,
    input_info: dict[str, Any] | None = None,
    look: dict[str, Any] | None = None,
) -> LightboxOutcome:
    """Turn a decoded jewelry photo into a marketplace-ready image and its QA report.

    rgb: HxWx3 uint8 RGB at source resolution (read-only is fine). options: a dumped
    ``LightboxOptions``. look: a catalog's locked look (a batch job's consistency lock):
    ``illuminant`` (3 linear RGB floats: the white point every photo is corrected from),
    ``light`` (the key light's direction, so every shadow falls the same way),
    ``canvas_side``, ``fill`` and ``shadow_strength``; None: all measured per photo. The input floor runs before any expensive step; a failed input
    returns a ``fail`` outcome with no image. Only a ``pass`` is billable. An on-model
    photo raises ``OutOfScope`` (answered 422 ``out_of_scope``) before any cut-out work.
    """
    clock = _StageClock()
    t_start = time.perf_counter()
    h, w = rgb.shape[:2]
    report: dict[str, Any] = {
        "request_id": request_id,
        "marketplace": options["marketplace"],
        "input": {"width": w, "height": h, **(input_info or {})},
        "modules_run": [],
        "backends": {},
    }

    t0 = time.perf_counter()
    proxy = resize_long_side(rgb, PROXY_LONG_SIDE)
    clock.timings["proxy"] = round(time.perf_counter() - t0, 4)

    # Independent reads of the proxy on two modules: in Serve they run side by side.
    located, classification = await asyncio.gather(
        clock.run("locate", steps.locate(proxy)),
        clock.run("classify", steps.classify(proxy)),
    )
    report["classification"] = jsonable(classification)
    _ran(report, "classifier", classification.get("backend"))
    if classification.get("on_model"):
        raise OutOfScope(
            "an on-model shot: the lightbox cuts out a piece from a product photo, not from a person "
            f"(skin covers {classification.get('skin_fraction', 0.0):.0%} of the frame)",
            details={"reason": "on_model", "skin_fraction": classification.get("skin_fraction"),
                     "limit": f"the classifier's on-model flag (classical: skin over {ON_MODEL_SKIN_SHARE:.0%} "
                              "of the frame)",
                     "category": classification.get("category")},
        )

    look = dict(look or {})
    canvas = plan_canvas(get_profile(options["marketplace"]), _piece_long_side(located["bbox"], proxy, (w, h)),
                         size=look.get("canvas_side") or options.get("size"),
                         fill=look.get("fill") or options.get("fill_ratio"))
    report["canvas"] = asdict(canvas)
    if look:
        report["look"] = {"locked": True, **jsonable(look)}
    floor = await clock.run(
        "input_qa",
        steps.check_input(
            proxy,
            (w, h),
            min_short_side=options.get("min_short_side"),
            subject_alpha_proxy=located["mask"],
            canvas=asdict(canvas),
        ),
    )
    report["input_checks"] = floor["checks"]
    _ran(report, "qa", floor.get("backend"))
    if floor["verdict"] == "fail":
        return _finish(report, None, None, floor, clock, t_start)

    try:
        seg = await clock.run("segment", steps.segment(rgb, proxy.shape[:2], None))
    except SubjectNotFound as err:
        # Not an API error: the QA gate fails the photo with the segmenter's reason.
        # A remote step wraps the error; its ``cause`` holds the original's message.
        err = getattr(err, "cause", None) or err
        _ran(report, "segmenter", None)
        failed = {"name": "subject_found", "passed": False, "severity": "fail", "value": False,
                  "limit": "a piece separable from the backdrop", "message": err.message}
        report["input_checks"] = [*floor["checks"], failed]
        return _finish(report, None, None, {"verdict": "fail", "score": 0.0}, clock, t_start)
    matte = seg["matte"]
    report["segmentation"] = {
        "pieces": seg["pieces"],
        "bbox": list(matte.bbox),
        "scale": float(matte.scale),
        "background_rgb": [float(v) for v in matte.background_rgb],
        **jsonable(matte.stats),
    }
    _ran(report, "segmenter", seg.get("backend"))

    metal = options.get("metal", "auto")
    if metal == "auto":
        metal = classification.get("metal", "none")
    graded = await clock.run(
        "grade", steps.grade(matte.foreground, matte.alpha, proxy, seg["proxy_alpha"], metal,
                             look.get("illuminant"))
    )
    report["illuminant"] = graded["illuminant"]
    report["grading"] = {"metal": metal, **jsonable(graded["report"])}
    _ran(report, "grader", graded.get("backend"))

    composed = await clock.run(
        "compose", steps.compose(graded["rgb"], matte.alpha, proxy, seg["proxy_alpha"],
                                 {**options, "size": canvas.side, "fill_ratio": canvas.fill,
                                  **{k: look[k] for k in ("light", "shadow_strength") if k in look}})
    )
    report["light"] = composed["light"]
    report["composition"] = jsonable(composed["report"])
    _ran(report, "compositor", composed.get("backend"))
    source_type = lightbox_source_type(report.get("backends", {}))
    if options.get("iptc_source_type"):
        composed = {**composed, "encoded": embed_xmp(composed["encoded"], composed["format"],
                                                     xmp_packet(source_type))}

    cutout = {
        "pieces": seg["pieces"],
        "category": classification.get("category", "other"),
        "magnification": float(composed["report"].get("scale", 1.0)) * float(matte.scale),
        "busy_background": bool(classification.get("busy_background", False)),
        "background_complexity": classification.get("background_complexity"),
        "transparent": bool(options.get("transparent")),
        "proxy_rgb": proxy,
        "proxy_alpha": seg["proxy_alpha"],
    }
    final = await clock.run(
        "output_qa",
        steps.check_output(composed["encoded"], composed["format"], options["marketplace"], floor["checks"], cutout),
    )
    report["output_checks"] = final["output_checks"]
    report["output"] = {
        "format": composed["format"],
        "media_type": composed["media_type"],
        "bytes": len(composed["encoded"]),
        "width": composed["report"]["canvas_size"][0],
        "height": composed["report"]["canvas_size"][1],
        "transparent": bool(options.get("transparent")),
        "digital_source_type": source_type,
        "xmp": bool(options.get("iptc_source_type")),
    }
    return _finish(report, composed["encoded"], composed["media_type"], final, clock, t_start)


def _finish(report, encoded, media_type, qa, clock: _StageClock, t_start: float) -> LightboxOutcome:
    report["verdict"] = qa["verdict"]
    report["score"] = float(qa["score"])
    report["billable"] = qa["verdict"] == "pass"
    clock.timings["total"] = round(time.perf_counter() - t_start, 4)
    report["timings_s"] = clock.timings
    if qa["verdict"] == "fail":
        encoded = None
        media_type = None
    return LightboxOutcome(encoded=encoded, media_type=media_type, report=report)


def _piece_long_side(bbox, proxy: np.ndarray, source_wh: tuple[int, int]) -> float | None:
    """The located piece's long side in source pixels (bbox in proxy pixels; None: none found)."""
    if bbox is None:
        return None
    x0, y0, x1, y1 = bbox
    return max(x1 - x0, y1 - y0) * max(source_wh) / max(proxy.shape[:2])


def _ran(report: dict, module: str, backend: str | None) -> None:
    if module not in report["modules_run"]:
        report["modules_run"].append(module)
    if backend:
        report["backends"][module] = backend


