"""HTTP ingress of the listing vertical: ``/listing/enhance``, ``/listing/bundle``,
``/listing/stage`` (virtual staging, learned backend only), ``/listing/healthz``.

Decodes the uploads, runs the listing graph over the shared module deployments (the
same replicas the jewelry vertical uses) and returns images with their reports. No
image maths lives here.
"""
# No `from __future__ import annotations` (see jewelry_ingress.py): FastAPI must see the
# real `Request` annotation, and helpers are imported before @serve.ingress runs.
import asyncio
import base64
import logging
import math
import time
from typing import Annotated, Optional

from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from ray import serve

from lumograph.deployments.directory import MODULES_APP, module_handle
from lumograph.graphs.listing import ListingSteps, run_bundle, run_enhance
from lumograph.models.common.errors import InvalidOptions, LumographError, QualityRejected
from lumograph.models.common.imageio import decode_image, image_pixels, require_pixel_budget
from lumograph.serve.access import open_gate, take_images
from lumograph.serve.bundle_photos import BundlePhotos
from lumograph.serve.contract import (
    IMAGE_DOC,
    REPORT_DOC,
    BundleForm,
    BundleJSON,
    EnhanceForm,
    EnhanceJSON,
    ReportFormat,
    StageForm,
    error_responses,
    image_response,
)
from lumograph.serve.errors import error_body, error_response
from lumograph.serve.metrics import IngressMetrics
from lumograph.serve.responses import answer, health, ingress_api
from lumograph.serve.schemas import BundleFields, EnhanceOptions, ListingAppArgs, ListingReport, StageOptions
from lumograph.serve.shedding import Shedder
from lumograph.serve.uploads import (
    parse_options,
    read_uploads,
    report_wanted,
)

api, ACCESS = ingress_api(
    "lumograph listing enhancement",
    "Listing photos in; only the fixes each needs, with MLS disclosures, out.",
)
logger = logging.getLogger("ray.serve")


#: Seconds the modules' backends are remembered between requests: a ``user_config``
#: change can switch a backend, and a stale answer only skips or tries a learned extra
#: whose module then answers for itself (a classical replica returns no mask or plate).
BACKENDS_TTL_S = 30.0


class CachedBackends:
    """``ModuleDirectory.backends`` asked at most once per ``BACKENDS_TTL_S``; an error
    is not cached (the next request asks again) and reads as "all classical"."""

    def __init__(self, directory, ttl_s: float = BACKENDS_TTL_S):
        self.directory = directory
        self.ttl_s = float(ttl_s)
        self._value: dict | None = None
        self._at = -math.inf

    async def __call__(self) -> dict:
        now = time.monotonic()
        if self._value is None or now - self._at > self.ttl_s:
            try:
                self._value = await self.directory.backends.remote()
            except Exception:  # noqa: BLE001  (a module still starting: no learned extras)
                logger.warning("listing: module backends unavailable; learned extras off for this request")
                return {}
            self._at = now
        return self._value


def listing_steps(directory=None) -> ListingSteps:
    """The listing graph's steps as handles on the shared ``modules`` deployments;
    ``directory``: the ``ModuleDirectory`` handle that reports the backends (None: the
    graph uses classical behaviour only)."""
    return ListingSteps(
        scene=module_handle("classifier", "classify_scene"),
        windows=module_handle("window_detector", "detect_windows"),
        sky=module_handle("segmenter", "sky_matte"),
        merge_brackets=module_handle("grader", "merge_brackets"),
        pull_windows=module_handle("grader", "pull_windows"),
        remove_glare=module_handle("inpainter", "remove_glare"),
        mirror_cleanup=module_handle("inpainter", "mirror_cleanup"),
        verticals=module_handle("compositor", "correct_verticals"),
        replace_sky=module_handle("compositor", "replace_sky"),
        dusk=module_handle("compositor", "day_to_dusk"),
        grade=module_handle("grader", "grade_room"),
        encode=module_handle("compositor", "encode_photo"),
        check=module_handle("qa", "check_listing"),
        backends=CachedBackends(directory) if directory is not None else None,
        window_glass_masks=module_handle("segmenter", "window_glass_masks"),
        window_views=module_handle("inpainter", "synthesize_window_views"),
        sky_plate=module_handle("inpainter", "sky_plate"),
    )


def image_headers(report: ListingReport) -> dict:
    return {
        "X-Lumograph-Verdict": report.verdict,
        "X-Lumograph-Score": f"{report.score:.3f}",
        "X-Lumograph-Tier": report.billing["tier"],
        "X-Lumograph-Modules": ",".join(report.modules_applied) or "none",
        "X-Lumograph-Disclosure": " ".join(report.disclosures) or "none",
    }


def input_info(data: bytes, filename, decoded) -> dict:
    return {"format": decoded.source_format, "mode": decoded.source_mode, "bytes": len(data),
            "filename": filename, "conversions": list(decoded.notes)}


class BundleFailed(LumographError):
    """No photo of a bundle could be delivered (422); details.photos says why for each."""

    code = "bundle_failed"


def rejected(report: ListingReport) -> QualityRejected:
    failed = [c.name for c in report.checks if not c.passed and c.severity == "fail"]
    return QualityRejected(f"the QA gate failed this photo: {', '.join(failed) or 'see report'}",
                           details={"report": report.model_dump(mode="json")})


@serve.deployment(name="ListingIngress")
@serve.ingress(api)
class ListingIngress:
    def __init__(self, **args):
        self.args = ListingAppArgs.model_validate(args)
        self.max_upload_bytes = self.args.max_upload_bytes
        self.max_pixels = self.args.max_pixels
        self.max_bundle_photos = self.args.max_bundle_photos
        self.max_bundle_bytes = self.args.max_bundle_bytes
        self.max_brackets = self.args.max_brackets
        self.bundle_concurrency = self.args.bundle_concurrency
        self.metrics = IngressMetrics("listing")
        ACCESS.body_limits.update(self.args.body_limits())
        self.args.apply_upload_pace(ACCESS)
        ACCESS.gate = open_gate(self.args)
        # One shedder per route: a bundle's time is not a photo's.
        ACCESS.shedders.update({route: Shedder(**self.args.shed.model_dump())
                                for route in ("/enhance", "/bundle", "/stage")})
        self.inpainter = serve.get_deployment_handle("Inpainter", app_name=MODULES_APP,
                                                     _check_exists=False)
        self.directory = serve.get_deployment_handle("ModuleDirectory", app_name=MODULES_APP,
                                                     _check_exists=False)
        self.steps = listing_steps(self.directory)

    @api.get("/healthz", summary="Every shared module ran a probe photo through its core (cached per replica)",
             responses=error_responses(503))
    async def healthz(self, request: Request):
        return await health(self.directory, request, vertical="listing",
                            load=ACCESS.load())

    @api.post(
        "/enhance", response_class=Response, summary="One listing photo (or one bracket set) in, enhanced out",
        responses={**image_response(EnhanceJSON, "The enhanced photo (verdict pass or review), or with "
                                                 "report=json its JSON report and image."),
                   **error_responses(400, 401, 403, 408, 413, 415, 422, 429, 503, 504)},
    )
    async def enhance(
        self,
        request: Request,
        image: Annotated[Optional[list[UploadFile]], File(
            description=IMAGE_DOC + " Several 'image' parts are the exposures of one bracket set.")] = None,
        options: Annotated[EnhanceForm, Form()] = None,
        report: Annotated[ReportFormat, Query(description=REPORT_DOC)] = None,
    ):
        return await answer("/listing/enhance", self._enhance, request, self.metrics,
                            deadline_s=self.args.deadline_s)

    @api.post(
        "/bundle", summary="A whole listing: every photo, its report, disclosures and the bill",
        response_model=BundleJSON, response_model_exclude_none=True,
        responses=error_responses(400, 401, 403, 408, 413, 415, 422, 429, 503, 504),
    )
    async def bundle(
        self,
        request: Request,
        image: Annotated[Optional[list[UploadFile]], File(description="One part per photo, in listing order.")] = None,
        options: Annotated[BundleForm, Form()] = None,
    ):
        return await answer("/listing/bundle", self._bundle, request, self.metrics,
                            deadline_s=self.args.deadline_s)

    @api.post(
        "/stage", response_class=Response, summary="Virtual staging of an empty room (learned inpainter only)",
        responses={**image_response(None, "The staged photo; X-Lumograph-Disclosure carries the MLS disclosure."),
                   **error_responses(400, 401, 403, 408, 413, 415, 422, 429, 503, 504)},
    )
    async def stage(
        self,
        request: Request,
        image: Annotated[Optional[list[UploadFile]], File(description=IMAGE_DOC)] = None,
        options: Annotated[StageForm, Form()] = None,
    ):
        return await answer("/listing/stage", self._stage, request, self.metrics,
                            deadline_s=self.args.deadline_s)

    async def _stage(self, request: Request, rid: str) -> Response:
        """Furnish an empty room. Without inpainting weights the inpainter raises
        ``BackendUnavailable`` (``weights_missing``, naming the path): a 503."""
        uploads, fields = await read_uploads(request, max_files=1)
        options = parse_options(StageOptions, fields)
        decoded = await self._decode(*uploads[0])
        staged = await self.inpainter.stage_room.remote(decoded.rgb, options.room_type, options.style,
                                                        options.seed)
        encoded = await self.steps.encode(staged["rgb"], options.format, options.quality, None)
        disclosure = staged["report"].get("disclosure", "Virtually staged.")
        return Response(content=encoded["encoded"], media_type=encoded["media_type"], headers={
            "X-Lumograph-Disclosure": disclosure, "X-Lumograph-Backend": staged["backend"]})

    def _decode_sync(self, data: bytes, filename):
        return decode_image(data, filename=filename, max_pixels=self.max_pixels,
                            max_bytes=self.max_upload_bytes)

    async def _decode(self, data: bytes, filename):
        return await asyncio.to_thread(self._decode_sync, data, filename)

    async def _enhance(self, request: Request, rid: str) -> Response:
        uploads, fields = await read_uploads(request, max_files=self.max_brackets)
        want_json = report_wanted(fields, request)
        options = parse_options(EnhanceOptions, fields)
        require_pixel_budget([image_pixels(d) for d, _ in uploads], self.args.max_request_pixels,
                             max_pixels=self.max_pixels)
        decoded = [await self._decode(data, name) for data, name in uploads]
        info = input_info(uploads[0][0], uploads[0][1], decoded[0])
        if len(decoded) > 1:
            info["bracket_files"] = [name for _, name in uploads]
        outcome = await run_enhance([d.rgb for d in decoded], options.model_dump(), self.steps,
                                    request_id=rid, input_info=info)
        report = ListingReport.model_validate(outcome.report)
        self.metrics.record_report(outcome.report)
        if outcome.encoded is None:
            return error_response(rejected(report), rid)
        headers = image_headers(report)
        if want_json:
            return JSONResponse({"report": report.model_dump(mode="json"),
                                 "image_base64": base64.b64encode(outcome.encoded).decode("ascii"),
                                 "media_type": outcome.media_type}, headers=headers)
        return Response(content=outcome.encoded, media_type=outcome.media_type, headers=headers)

    async def _bundle(self, request: Request, rid: str) -> Response:
        uploads, fields = await read_uploads(request, max_files=self.max_bundle_photos)
        require_pixel_budget([image_pixels(d) for d, _ in uploads], self.args.max_request_pixels,
                             max_pixels=self.max_pixels)
        await take_images(request, len(uploads))
        bundle = parse_options(BundleFields, {k: fields.pop(k) for k in list(fields)
                                              if k in BundleFields.model_fields})
        options = parse_options(EnhanceOptions, fields)
        rooms = bundle.room_list(len(uploads))
        if bundle.primary is not None and bundle.primary >= len(uploads):
            raise InvalidOptions(f"primary must index one of the {len(uploads)} photos, "
                                 f"got {bundle.primary}")
        # Decoded as processed: a survey for the scene pass, full pixels again in turn.
        photos = BundlePhotos(self._decode_sync, hold_pixels=self.args.bundle_hold_pixels,
                              concurrency=self.bundle_concurrency)
        surveyed = await photos.survey(uploads)
        good = [i for i, s in enumerate(surveyed) if s.error is None]
        primary = good.index(bundle.primary) if bundle.primary in good else None
        outcome = await run_bundle(
            [surveyed[i].photo for i in good], options.model_dump(), self.steps, request_id=rid,
            rooms=[rooms[i] for i in good], primary_index=primary,
            dusk_primary=bundle.dusk_primary, concurrency=self.bundle_concurrency,
            input_infos=[input_info(uploads[i][0], uploads[i][1], surveyed[i].decoded) for i in good])
        results = [s.error for s in surveyed]
        for slot, i in enumerate(good):
            results[i] = outcome.photos[slot]
        photos = []
        for i, result in enumerate(results):
            entry = {"index": i, "filename": uploads[i][1]}
            if isinstance(result, Exception):
                entry.update(status="error", error=error_body(result, f"{rid}-{i}"))
            else:
                report = ListingReport.model_validate(result.report)
                self.metrics.record_report(result.report)
                if result.encoded is None:
                    entry.update(status="error", error=error_body(rejected(report), f"{rid}-{i}"))
                else:
                    entry.update(status="ok", verdict=report.verdict, media_type=result.media_type,
                                 image_base64=base64.b64encode(result.encoded).decode("ascii"),
                                 report=report.model_dump(mode="json"))
            photos.append(entry)
        summary = outcome.summary
        # The graph indexes the decodable photos; the client indexes its uploads.
        summary["primary_index"] = good[summary["primary_index"]] \
            if summary["primary_index"] is not None else None
        for item in summary["disclosures"]:
            item["index"] = good[item["index"]]
        summary["n_photos"] = len(uploads)
        undecodable = len(uploads) - len(good)
        if undecodable:
            by_tier = summary["billing"]["by_tier"]
            by_tier["not_billed"] = by_tier.get("not_billed", 0) + undecodable
        if not any(p["status"] == "ok" for p in photos):
            # Nothing to deliver is not a success: 422, each photo's error in the details.
            return error_response(BundleFailed(f"none of the {len(photos)} photos could be delivered",
                                               details={"photos": photos, **summary}), rid)
        return JSONResponse({"request_id": rid, "photos": photos, **summary})
