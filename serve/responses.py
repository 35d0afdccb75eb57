"""How every ingress answers: one place turns a handler's outcome or exception into the
response, times it for the metrics, and answers ``/healthz`` from the module directory."""
import time

from fastapi import Request
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline

from lumograph.serve.errors import error_response, install_error_handlers
from lumograph.serve.uploads import install_size_guard, request_id_for


def ingress_api(title: str, description: str) -> tuple[FastAPIOffline, dict]:
    """A vertical's FastAPI app and its upload limits (route suffix -> bytes, filled by the
    ingress at start-up). FastAPIOffline serves Swagger UI and ReDoc from files inside its
    wheel, so ``/<vertical>/docs`` works without internet; errors follow ``ErrorBody``; a
    declared body over its route's limit is refused before the form is parsed."""
    api = FastAPIOffline(title=title, description=description + " Options are multipart form fields "
                         "(or query parameters); errors are JSON with a stable code.")
    install_error_handlers(api)
    limits: dict = {}
    install_size_guard(api, limits)
    return api, limits


async def answer(route: str, handler, request: Request, metrics) -> Response:
    """``await handler(request, request_id)``; any exception becomes its JSON error. The
    wall time is recorded per route and status."""
    rid = request_id_for(request)
    t0 = time.perf_counter()
    try:
        response = await handler(request, rid)
    except Exception as exc:
        response = error_response(exc, rid)
    metrics.record_latency(route, response.status_code, time.perf_counter() - t0)
    return response


async def health(directory, request: Request, **about):
    """Every shared module's backend (a module that cannot answer is a health failure)."""
    rid = request_id_for(request)
    try:
        backends = await directory.backends.remote()
    except Exception as exc:
        return error_response(exc, rid)
    return {"status": "ok", **about, "modules": backends, "request_id": rid}
