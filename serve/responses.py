"""How every ingress answers: one place turns a handler's outcome or exception into the
response, times it for the metrics, and answers ``/healthz`` from the module directory."""
import asyncio
import time
from typing import Optional

from fastapi import Request
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline

from lumograph.models.common.errors import BackendUnavailable
from lumograph.serve.access import AccessMiddleware, AccessState
from lumograph.serve.errors import error_response, install_error_handlers
from lumograph.serve.shedding import DeadlineExceeded
from lumograph.serve.uploads import request_id_for

KEY_DOC = (" Every route but /healthz and the docs needs an API key: 'Authorization: Bearer <key>' or "
           "'X-API-Key: <key>' (`lumograph keys create`).")


def ingress_api(title: str, description: str) -> tuple[FastAPIOffline, AccessState]:
    """A vertical's FastAPI app and its access state (the gate and the body limits per route
    suffix, filled by the ingress at start-up). FastAPIOffline serves Swagger UI and ReDoc
    from files inside its wheel, so ``/<vertical>/docs`` works without internet; errors
    follow ``ErrorBody``; every request passes ``serve/access.py``'s middleware (key,
    limits, body size as it streams)."""
    api = FastAPIOffline(title=title, description=description + " Options are multipart form fields "
                         "(or query parameters); errors are JSON with a stable code." + KEY_DOC)
    install_error_handlers(api)
    access = AccessState()
    api.add_middleware(AccessMiddleware, state=access)
    return api, access


async def answer(route: str, handler, request: Request, metrics, *, deadline_s: Optional[float] = None) -> Response:
    """``await handler(request, request_id)``; any exception becomes its JSON error. With
    ``deadline_s``, a request that runs longer is cancelled (504 ``deadline_exceeded``). The
    wall time is recorded per route and status."""
    rid = request_id_for(request)
    t0 = time.perf_counter()
    try:
        if deadline_s is None:
            response = await handler(request, rid)
        else:
            try:
                response = await asyncio.wait_for(handler(request, rid), timeout=deadline_s)
            except asyncio.TimeoutError:
                raise DeadlineExceeded(f"the request ran past its deadline of {deadline_s:g} s and was cancelled",
                                       details={"deadline_s": deadline_s}) from None
    except Exception as exc:
        response = error_response(exc, rid)
    metrics.record_latency(route, response.status_code, time.perf_counter() - t0)
    return response


async def health(directory, request: Request, **about):
    """200 when every shared module ran its probe photo through its core (cached a few
    seconds per replica) on some live replica; else 503 ``backend_unavailable`` with
    ``Retry-After`` and each module's state in the details."""
    rid = request_id_for(request)
    try:
        modules = await directory.health.remote()
    except Exception as exc:
        return error_response(exc, rid)
    failing = sorted(name for name, state in modules.items() if not state.get("ok"))
    if failing:
        return error_response(BackendUnavailable(
            f"module(s) not serving: {', '.join(failing)}",
            details={"modules": modules, "retry_after_s": 10, **about}), rid)
    return {"status": "ok", **about, "modules": modules, "request_id": rid}
