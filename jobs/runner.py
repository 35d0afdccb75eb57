"""One photo of a job through its vertical's graph: bytes in, an ``ItemResult`` out.

The same runner serves the job workers (steps = deployment handles, in the Serve app) and
the bulk command (steps = in-process cores on Ray Data workers): one graph function, as
for the synchronous routes. It never raises for a bad photo: a decode error, an
out-of-scope photo or a module's typed error becomes an ``error`` item with the error's
stable code; a failed QA gate becomes a ``rejected`` item with its report (nothing is
delivered, as the synchronous route answers 422).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from lumograph.graphs.jewelry import JewelrySteps, run_lightbox
from lumograph.graphs.listing import ListingSteps, run_enhance
from lumograph.jobs.retry import better, failing_checks, plan_retry
from lumograph.models.common.errors import LumographError
from lumograph.models.common.imageio import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    FORMAT_EXTENSIONS,
    FORMAT_MEDIA_TYPES,
    decode_image,
)

logger = logging.getLogger(__name__)

Vertical = Literal["jewelry", "listing"]
VERTICALS: tuple[str, ...] = ("jewelry", "listing")

#: File extension of each output media type (archive and bulk-run file names).
EXTENSIONS = {FORMAT_MEDIA_TYPES[fmt]: suffixes[0] for fmt, suffixes in FORMAT_EXTENSIONS.items()}


class WorkerLost(Exception):
    """The process running an item died: the item is not at fault and is not recorded; its
    claim lapses and it is run again."""


@dataclass
class ItemResult:
    """What became of one photo.

    state: ``done`` (an image delivered, verdict pass or review), ``rejected`` (the QA
        gate failed it: no image, the report says why) or ``error`` (it could not be
        processed: ``error`` holds the stable code, message and details).
    """

    state: Literal["done", "rejected", "error"]
    verdict: str | None = None
    billable: bool = False
    encoded: bytes | None = None
    media_type: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.media_type or "", ".bin")


def error_of(exc: BaseException) -> dict[str, Any]:
    """The stable code, message and details of an exception (a Ray wrapper is unwrapped);
    an unknown one is an ``internal_error`` whose trace goes to the log, not the job."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    if isinstance(exc, LumographError):
        return {"code": exc.code, "message": exc.message, "details": exc.details}
    logger.error("job item failed", exc_info=exc)
    return {"code": "internal_error", "message": "internal error; see the server log", "details": {}}


class PhotoRunner:
    """Runs one vertical's graph over injected steps.

    steps: ``JewelrySteps`` for ``jewelry``, ``ListingSteps`` for ``listing``.
    """

    def __init__(self, vertical: str, steps: JewelrySteps | ListingSteps, *,
                 max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES,
                 smart_retry: bool = True):
        if vertical not in VERTICALS:
            raise ValueError(f"unknown vertical {vertical!r}")
        self.vertical = vertical
        self.steps = steps
        self.max_pixels = int(max_pixels)
        self.max_bytes = int(max_bytes)
        self.smart_retry = bool(smart_retry)

    async def run(self, data: bytes, filename: str | None, options: dict[str, Any], *,
                  request_id: str, context: dict[str, Any] | None = None,
                  smart_retry: bool | None = None, look: dict[str, Any] | None = None) -> ItemResult:
        """options: a dumped option model of the vertical (``LightboxOptions`` or
        ``EnhanceOptions``). context: per-item extras a job decided (listing bundles:
        ``room``, ``primary``, ``dusk``; ``scene`` when already classified).

        With ``smart_retry``, an attempt whose verdict is ``fail`` or ``review`` is run once
        more with options chosen from its failing checks (``jobs.retry``); the better one is
        delivered and the report keeps both (``attempts``, ``delivered_attempt``, ``retry``).
        ``smart_retry`` None: the runner's default. look: a catalog's locked look (jewelry;
        see ``run_lightbox``); a retry never changes what it locks.
        """
        try:
            decoded = await asyncio.to_thread(decode_image, data, filename=filename,
                                              max_pixels=self.max_pixels, max_bytes=self.max_bytes)
        except Exception as exc:  # every photo gets an answer; the job goes on
            return ItemResult(state="error", error=error_of(exc))
        info = {"format": decoded.source_format, "mode": decoded.source_mode, "bytes": len(data),
                "filename": filename, "conversions": list(decoded.notes)}
        first = await self._attempt(decoded.rgb, info, options, request_id, context, look)
        retry = self.smart_retry if smart_retry is None else bool(smart_retry)
        if not retry or first.state == "error" or first.verdict == "pass":
            return first
        plan = plan_retry(self.vertical, options, first.report, locked=_locked_options(look))
        if plan is None:
            first.report["retry"] = {"made": False, "reason": "no option fixes the failing checks: "
                                     + ", ".join(c["name"] for c in failing_checks(first.report))}
            return first
        second = await self._attempt(decoded.rgb, info, plan.options, f"{request_id}-retry", context, look)
        chosen, index = (second, 1) if second.state != "error" and better(first.report, second.report) \
            else (first, 0)
        summaries = [_summary(a, o) for a, o in ((first, options), (second, plan.options))]
        chosen.report["attempts"] = summaries
        chosen.report["delivered_attempt"] = index
        chosen.report["retry"] = {"made": True, "changes": plan.changes, "reasons": plan.reasons,
                                  "delivered": "retry" if index else "first attempt (the retry was not better)"}
        return chosen

    async def _attempt(self, rgb, info: dict[str, Any], options: dict[str, Any], request_id: str,
                       context: dict[str, Any] | None, look: dict[str, Any] | None = None) -> ItemResult:
        try:
            if self.vertical == "jewelry":
                outcome = await run_lightbox(rgb, dict(options), self.steps, request_id=request_id,
                                             input_info=dict(info), look=look)
            else:
                context = context or {}
                options = dict(options)
                # A bundle's per-photo decisions: the client's room label and dusk on the primary.
                if context.get("room"):
                    options["room"] = context["room"]
                if context.get("dusk"):
                    options["dusk"] = True
                outcome = await run_enhance([rgb], options, self.steps, request_id=request_id,
                                            input_info=dict(info), primary=bool(context.get("primary")),
                                            scene=context.get("scene"))
        except Exception as exc:
            return ItemResult(state="error", error=error_of(exc))
        report = outcome.report
        verdict = report.get("verdict")
        if outcome.encoded is None or verdict == "fail":
            return ItemResult(state="rejected", verdict=verdict or "fail", report=report)
        billable = bool(report.get("billable", report.get("billing", {}).get("billable", False)))
        return ItemResult(state="done", verdict=verdict, billable=billable, encoded=outcome.encoded,
                          media_type=outcome.media_type, report=report)


def _locked_options(look: dict[str, Any] | None) -> set[str]:
    """The options a locked look overrides (a retry must not try to change them)."""
    look = look or {}
    return ({"fill_ratio"} if look.get("fill") else set()) | ({"size"} if look.get("canvas_side") else set())


def look_of(report: dict[str, Any]) -> dict[str, Any]:
    """A catalog look measured on a reference photo's lightbox report: its white point, key
    light, canvas and fill, and full shadow strength ({} when the report lacks them)."""
    try:
        return {"illuminant": [float(v) for v in report["illuminant"]["rgb"]],
                "light": dict(report["light"]),
                "canvas_side": int(report["canvas"]["side"]),
                "fill": float(report["canvas"]["fill"]),
                "shadow_strength": 1.0,
                "reference_request": report.get("request_id")}
    except (KeyError, TypeError, ValueError):
        return {}


def _summary(result: ItemResult, options: dict[str, Any]) -> dict[str, Any]:
    return {"state": result.state, "verdict": result.verdict, "score": result.report.get("score"),
            "failed_checks": [c["name"] for c in failing_checks(result.report)],
            "error": result.error, "options": options}
