"""HTTP ingress of the jewelry vertical: ``/jewelry/lightbox`` and ``/jewelry/healthz``.

Decodes and validates the upload, runs the jewelry graph over the shared module
deployments (reached by name in the ``modules`` application), and turns the outcome
into an image response or a JSON report. No image maths lives here.
"""
# No `from __future__ import annotations` here, and every helper the ingress calls is
# defined above the class: @serve.ingress rebinds the methods with the globals that
# exist at decoration time, and FastAPI must see the real `Request` annotation.
import asyncio
import base64
from typing import Annotated, Optional

from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from ray import serve

from lumograph.deployments.directory import MODULES_APP, module_handle
from lumograph.graphs.jewelry import JewelrySteps, run_lightbox
from lumograph.models.common.errors import QualityRejected
from lumograph.models.common.imageio import decode_image, image_pixels, require_pixel_budget
from lumograph.serve.access import open_gate
from lumograph.serve.contract import (
    IMAGE_DOC,
    REPORT_DOC,
    LightboxForm,
    LightboxJSON,
    ReportFormat,
    error_responses,
    image_response,
)
from lumograph.serve.errors import error_response
from lumograph.serve.metrics import IngressMetrics
from lumograph.serve.responses import answer, health, ingress_api
from lumograph.serve.schemas import JewelryAppArgs, LightboxOptions, LightboxReport
from lumograph.serve.shedding import Shedder
from lumograph.serve.uploads import (
    parse_options,
    read_uploads,
    report_wanted,
)


def jewelry_steps() -> JewelrySteps:
    """The lightbox graph's steps as handles on the shared ``modules`` deployments."""
    return JewelrySteps(
        locate=module_handle("segmenter", "locate_jewelry"),
        classify=module_handle("classifier", "classify_jewelry"),
        check_input=module_handle("qa", "check_jewelry_input"),
        segment=module_handle("segmenter", "segment_jewelry"),
        grade=module_handle("grader", "grade_jewelry"),
        compose=module_handle("compositor", "compose_lightbox"),
        check_output=module_handle("qa", "check_jewelry_output"),
    )


api, ACCESS = ingress_api(
    "lumograph jewelry lightbox",
    "Raw jewelry photo in, marketplace-ready lightbox image and QA report out.",
)


@serve.deployment(name="JewelryIngress")
@serve.ingress(api)
class JewelryIngress:
    def __init__(self, **args):
        self.args = JewelryAppArgs.model_validate(args)
        self.max_upload_bytes = self.args.max_upload_bytes
        self.max_pixels = self.args.max_pixels
        ACCESS.body_limits.update(self.args.body_limits())
        self.args.apply_upload_pace(ACCESS)
        ACCESS.gate = open_gate(self.args)
        ACCESS.shedders.update({route: Shedder(**self.args.shed.model_dump()) for route in ("/lightbox",)})
        self.metrics = IngressMetrics("jewelry")
        self.steps = jewelry_steps()
        self.directory = serve.get_deployment_handle("ModuleDirectory", app_name=MODULES_APP, _check_exists=False)

    @api.get("/healthz", summary="Every shared module ran a probe photo through its core (cached per replica)",
             responses=error_responses(503))
    async def healthz(self, request: Request):
        return await health(self.directory, request, vertical="jewelry", load=ACCESS.load())

    @api.post(
        "/lightbox", response_class=Response, summary="Photo in, lightbox image out",
        responses={**image_response(LightboxJSON, "The lightbox image (verdict pass or review), or with "
                                                  "report=json its JSON report and image."),
                   **error_responses(400, 401, 403, 408, 413, 415, 422, 429, 503, 504)},
    )
    async def lightbox(
        self,
        request: Request,
        image: Annotated[Optional[list[UploadFile]], File(description=IMAGE_DOC)] = None,
        options: Annotated[LightboxForm, Form()] = None,
        report: Annotated[ReportFormat, Query(description=REPORT_DOC)] = None,
    ):
        return await answer("/jewelry/lightbox", self._lightbox, request, self.metrics,
                            deadline_s=self.args.deadline_s)

    async def _lightbox(self, request: Request, rid: str) -> Response:
        uploads, fields = await read_uploads(request, max_files=1)
        data, filename = uploads[0]
        want_json = report_wanted(fields, request)
        options = parse_options(LightboxOptions, fields)
        # The photo and the canvas it would be composed on (a size asked for; the profile's
        # default canvas is bounded by the marketplace table).
        require_pixel_budget([image_pixels(data)], self.args.max_request_pixels,
                             canvas=(options.size or 0) ** 2, max_pixels=self.max_pixels)
        decoded = await asyncio.to_thread(
            decode_image, data, filename=filename, max_pixels=self.max_pixels, max_bytes=self.max_upload_bytes
        )
        outcome = await run_lightbox(
            decoded.rgb,
            options.model_dump(),
            self.steps,
            request_id=rid,
            input_info={
                "format": decoded.source_format,
                "mode": decoded.source_mode,
                "bytes": len(data),
                "filename": filename,
                "conversions": list(decoded.notes),
            },
        )
        report = LightboxReport.model_validate(outcome.report)
        self.metrics.record_report(outcome.report)
        if report.verdict == "fail" or outcome.encoded is None:
            failed = [c.name for c in report.input_checks + report.output_checks if not c.passed and c.severity == "fail"]
            err = QualityRejected(
                f"the QA gate failed this request: {', '.join(failed) or 'see report'}",
                details={"report": report.model_dump(mode="json")},
            )
            return error_response(err, rid)
        # Serve's proxy already answers with the X-Request-ID it put on the request.
        headers = {
            "X-Lumograph-Verdict": report.verdict,
            "X-Lumograph-Score": f"{report.score:.3f}",
            "X-Lumograph-Billable": "true" if report.billable else "false",
        }
        if want_json:
            body = {
                "report": report.model_dump(mode="json"),
                "image_base64": base64.b64encode(outcome.encoded).decode("ascii"),
                "media_type": outcome.media_type,
            }
            return JSONResponse(body, headers=headers)
        return Response(content=outcome.encoded, media_type=outcome.media_type, headers=headers)
