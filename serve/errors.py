"""The one place where typed errors become HTTP status codes and JSON bodies."""
from __future__ import annotations

import logging
import math

from fastapi.responses import JSONResponse

from lumograph.models.common.errors import (
    BackendUnavailable,
    InvalidImage,
    InvalidOptions,
    LumographError,
    OutOfScope,
    QualityRejected,
    SubjectNotFound,
    UnsupportedInput,
)

logger = logging.getLogger("ray.serve")

#: Every error code the HTTP API answers with: its status and when it happens. The README's
#: error table is checked against this (tests/serve/test_contract.py), and so is every
#: ``code=`` the package can raise.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "empty_upload": (400, "the upload is 0 bytes"),
    "invalid_image": (400, "the bytes are not a decodable image (or an internal array was malformed)"),
    "truncated_image": (400, "the image data ends early"),
    "bracket_size_mismatch": (400, "the exposures of a bracket set differ in size"),
    "black_image": (400, "an image with no light in it to measure"),
    "upload_too_large": (413, "the body or an upload is over max_upload_bytes"),
    "image_too_large": (413, "the image has more pixels than max_pixels (64 MP by default)"),
    "upload_timeout": (408, "the request body came in slower than upload_timeout_s plus 1 s per "
                            "upload_min_bytes_per_s received (a trickled body)"),
    "request_too_large": (413, "the request's photos and output canvas pass max_request_pixels (256 MP by default)"),
    "unsupported_format": (415, "not JPEG, PNG, WebP, HEIC/HEIF, AVIF, TIFF, BMP or GIF"),
    "animated_image": (415, "an animated GIF/WebP/PNG"),
    "invalid_options": (422, "an option or form field is missing, unknown or out of range; the message quotes it"),
    "invalid_request": (422, "the multipart body cannot be parsed"),
    "missing_image": (422, "no 'image' file part"),
    "too_many_images": (422, "more 'image' parts than the route accepts"),
    "unknown_marketplace": (422, "marketplace profile not known"),
    "unsupported_input": (422, "an input the pipeline cannot take"),
    "subject_not_found": (422, "no piece separable from the backdrop"),
    "out_of_scope": (422, "not what the route is for (an on-model shot to the lightbox); details: reason, cue"),
    "quality_rejected": (422, "the QA gate failed the output; the report is in details"),
    "bundle_failed": (422, "no photo of a bundle could be delivered; details.photos says why for each"),
    "not_found": (404, "no such route"),
    "method_not_allowed": (405, "the route does not take this method"),
    "http_error": (400, "another HTTP-level error (status as answered)"),
    "backend_unavailable": (503, "a module's backend cannot run, or a replica died or its queue was full "
                                 "mid-request (Retry-After)"),
    "overloaded": (503, "the replica could not start the request within its wait bound (Retry-After)"),
    "deadline_exceeded": (504, "the request ran past its deadline and was cancelled"),
    "weights_missing": (503, "the route needs a learned backend whose weights are not installed"),
    "weights_invalid": (503, "a learned backend's weights are present but unusable"),
    "unknown_backend": (503, "a module was configured with a backend it does not have"),
    "internal_error": (500, "a bug: the server log has the trace (never sent to the client)"),
    "encode_failed": (400, "the output could not be encoded in the requested format"),
    "job_not_found": (404, "no such job, or no such item in it"),
    "idempotency_conflict": (409, "the Idempotency-Key was already used with a different request"),
    "item_not_ready": (409, "the job item has not finished yet"),
    "item_not_delivered": (409, "the job item ended without an image (rejected or error); details say why"),
    "job_too_large": (413, "more photos or bytes than a job may have"),
    "too_many_jobs": (429, "the tenant's jobs queued or running are at its max_active_jobs; Retry-After"),
    "invalid_url": (400, "a job's photo URL is not http(s), has credentials, is malformed or too long"),
    "fetch_refused": (422, "a URL reaches an address the server must not call (private, loopback, "
                           "link-local, ...), or redirects too often"),
    "fetch_too_large": (413, "a job item's fetched photo passed max_upload_bytes"),
    "fetch_failed": (502, "a job item's photo URL could not be fetched (no answer, timeout, HTTP error)"),
    "unauthorized": (401, "no API key, or one that is malformed or unknown (WWW-Authenticate: Bearer)"),
    "forbidden": (403, "the API key was revoked, or its tenant is disabled"),
    "rate_limited": (429, "over the tenant's requests per second or images per minute; Retry-After says when"),
    "quota_exceeded": (429, "the tenant's upload bytes for the UTC day are spent; Retry-After: until midnight UTC"),
}
_STATUS_BY_CLASS: list[tuple[type[LumographError], int]] = [
    (InvalidImage, 400),
    (InvalidOptions, 422),
    (UnsupportedInput, 422),
    (SubjectNotFound, 422),
    (OutOfScope, 422),
    (QualityRejected, 422),
    (BackendUnavailable, 503),
]


#: Seconds a client is asked to wait after a replica died or a module's queue was full:
#: Serve replaces a dead replica within seconds, and a full queue drains about as fast.
TRANSIENT_RETRY_AFTER_S = 2


def transient(exc: BaseException) -> LumographError | None:
    """A failure of the serving machinery rather than of the request (a module replica died
    mid-call, was unreachable, or its queue was full): 503 with ``Retry-After``, never a 500.
    None for anything else."""
    from ray.exceptions import RayActorError
    from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

    details = {"retry_after_s": TRANSIENT_RETRY_AFTER_S, "cause": type(exc).__name__}
    if isinstance(exc, BackPressureError):
        return BackendUnavailable("a module's queue is full; retry shortly", details=details)
    if isinstance(exc, (RayActorError, DeploymentUnavailableError)):
        return BackendUnavailable("a module replica became unavailable during the request; retry shortly",
                                  details=details)
    return None


def unwrap(exc: BaseException) -> BaseException:
    """Return the original exception behind a Ray wrapper (a replica's error); a failure of
    the serving machinery becomes its ``transient`` 503."""
    cause = getattr(exc, "cause", None)
    exc = cause if isinstance(cause, BaseException) else exc
    return transient(exc) or exc


def status_for(err: LumographError) -> int:
    if err.code in ERROR_CODES:
        return ERROR_CODES[err.code][0]
    for cls, status in _STATUS_BY_CLASS:
        if isinstance(err, cls):
            return status
    return 500


def error_body(exc: BaseException, request_id: str) -> dict:
    """The JSON error body (``ErrorBody``) plus its ``status``, for any exception;
    unknown ones become an ``internal_error`` without a trace (logged here)."""
    exc = unwrap(exc)
    if isinstance(exc, LumographError):
        status, code, message, details = status_for(exc), exc.code, exc.message, exc.details
    else:
        logger.exception("request %s failed", request_id, exc_info=exc)
        status, code, message, details = 500, "internal_error", "internal error; see the server log", {}
    return {"status": status, "code": code, "message": message, "request_id": request_id,
            "details": details}


def retry_after_header(status: int, details: dict) -> dict[str, str]:
    """``Retry-After`` (whole seconds, at least 1) for a 429 or 503 whose details say when."""
    retry = details.get("retry_after_s") if status in (429, 503) else None
    return {"Retry-After": str(max(1, math.ceil(float(retry))))} if retry is not None else {}


def error_response(exc: BaseException, request_id: str) -> JSONResponse:
    """Map any exception to a JSON error response with its HTTP status (and ``Retry-After``
    when the error says when to come back)."""
    body = error_body(exc, request_id)
    status = body.pop("status")
    return JSONResponse(status_code=status, content=body, headers=retry_after_header(status, body["details"]))


def install_error_handlers(app) -> None:
    """Make FastAPI's own errors (unknown route, wrong method, bad query) follow the
    same JSON shape with a stable ``code`` as ours."""
    import uuid

    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    def _rid(request) -> str:
        return request.headers.get("x-request-id") or uuid.uuid4().hex

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            status_code=exc.status_code,
            content={"code": code, "message": str(exc.detail), "request_id": _rid(request), "details": {}},
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):
        # Quote the bad value, as every other options error does (file parts are not echoed).
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:] or e['loc'])}: {e['msg']}"
                    + (f" (got {e['input']!r})" if isinstance(e.get("input"), (str, int, float)) else "")
                    for e in exc.errors()]
        return JSONResponse(
            status_code=422,
            content={"code": "invalid_options", "message": "; ".join(problems), "request_id": _rid(request),
                     "details": {"errors": problems}},
        )
