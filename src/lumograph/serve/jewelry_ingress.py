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
import re
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from ray import serve

from lumograph.deployments.directory import MODULE_DEPLOYMENTS, MODULES_APP
from lumograph.graphs.jewelry import JewelrySteps, run_lightbox
from lumograph.models.errors import InvalidOptions, QualityRejected, UnsupportedInput
from lumograph.models.imageio import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, decode_image
from lumograph.serve.errors import error_response, install_error_handlers
from lumograph.serve.schemas import LightboxOptions, LightboxReport

api = FastAPI(
    title="lumograph jewelry lightbox",
    description="Raw jewelry photo in, marketplace-ready lightbox image and QA report out.",
)

install_error_handlers(api)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_for(request: Request) -> str:
    """Use the caller's ``X-Request-ID`` when it is sane, else a new one."""
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def parse_options(fields: dict[str, str]) -> LightboxOptions:
    """Validate form/query fields into ``LightboxOptions``; errors quote the bad value."""
    try:
        return LightboxOptions.model_validate(fields)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        ]
        raise InvalidOptions("; ".join(problems), details={"errors": problems}) from None


def _module_handle(module: str, method: str):
    handle = serve.get_deployment_handle(MODULE_DEPLOYMENTS[module], app_name=MODULES_APP, _check_exists=False)
    return getattr(handle, method).remote


async def _read_upload(request: Request) -> tuple[bytes, str | None, dict[str, str]]:
    """Read the multipart ``image`` part (or a raw image body) and the option fields."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        try:
            form = await request.form()
        except Exception as exc:
            raise InvalidOptions(f"the multipart body could not be parsed: {exc}", code="invalid_request") from None
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise InvalidOptions("multipart field 'image' (a file) is required", code="missing_image")
        data = await upload.read()
        fields = {k: v for k, v in form.items() if k != "image" and isinstance(v, str)}
        return data, upload.filename, fields
    # A raw body (Content-Type: image/*) is accepted too, options in the query string.
    return await request.body(), None, {}


@serve.deployment(name="JewelryIngress")
@serve.ingress(api)
class JewelryIngress:
    def __init__(self, max_upload_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_pixels = int(max_pixels)
        self.steps = JewelrySteps(
            locate=_module_handle("segmenter", "locate_jewelry"),
            classify=_module_handle("classifier", "classify_jewelry"),
            check_input=_module_handle("qa", "check_jewelry_input"),
            segment=_module_handle("segmenter", "segment_jewelry"),
            grade=_module_handle("grader", "grade_jewelry"),
            compose=_module_handle("compositor", "compose_lightbox"),
            check_output=_module_handle("qa", "check_jewelry_output"),
        )
        self.directory = serve.get_deployment_handle("ModuleDirectory", app_name=MODULES_APP, _check_exists=False)

    @api.get("/healthz")
    async def healthz(self, request: Request):
        rid = request_id_for(request)
        try:
            backends = await self.directory.backends.remote()
        except Exception as exc:  # a module that cannot answer is a health failure
            return error_response(exc, rid)
        return {"status": "ok", "vertical": "jewelry", "modules": backends, "request_id": rid}

    @api.post("/lightbox")
    async def lightbox(self, request: Request):
        rid = request_id_for(request)
        try:
            return await self._lightbox(request, rid)
        except Exception as exc:
            return error_response(exc, rid)

    async def _lightbox(self, request: Request, rid: str) -> Response:
        declared = int(request.headers.get("content-length") or 0)
        if declared > self.max_upload_bytes + 64 * 1024:
            raise UnsupportedInput(
                f"the request body is {declared} bytes; the limit is {self.max_upload_bytes} bytes",
                code="upload_too_large",
            )
        data, filename, fields = await _read_upload(request)
        want_json = fields.pop("report", request.query_params.get("report", "")) == "json"
        fields.update({k: v for k, v in request.query_params.items() if k != "report"})
        options = parse_options(fields)
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
