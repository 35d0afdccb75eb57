"""The one place where typed errors become HTTP status codes and JSON bodies."""
from __future__ import annotations

import logging

from fastapi.responses import JSONResponse

from lumograph.models.common.errors import (
    BackendUnavailable,
    InvalidImage,
    InvalidOptions,
    LumographError,
    QualityRejected,
    SubjectNotFound,
    UnsupportedInput,
)

logger = logging.getLogger("ray.serve")

#: Error code -> HTTP status where the code needs a status other than its class's.
_STATUS_BY_CODE = {
    "upload_too_large": 413,
    "image_too_large": 413,
    "unsupported_format": 415,
    "animated_image": 415,
}
_STATUS_BY_CLASS: list[tuple[type[LumographError], int]] = [
    (InvalidImage, 400),
    (InvalidOptions, 422),
    (UnsupportedInput, 422),
    (SubjectNotFound, 422),
    (QualityRejected, 422),
    (BackendUnavailable, 503),
]


def unwrap(exc: BaseException) -> BaseException:
    """Return the original exception behind a Ray wrapper (a replica's error)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def status_for(err: LumographError) -> int:
    if err.code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[err.code]
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


def error_response(exc: BaseException, request_id: str) -> JSONResponse:
    """Map any exception to a JSON error response with its HTTP status."""
    body = error_body(exc, request_id)
    return JSONResponse(status_code=body.pop("status"), content=body)


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
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse(
            status_code=422,
            content={"code": "invalid_options", "message": "; ".join(problems), "request_id": _rid(request),
                     "details": {"errors": problems}},
        )
