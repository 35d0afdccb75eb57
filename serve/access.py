"""Every API request's gate, as ASGI middleware on each vertical's app: the API key, the
tenant's limits, and the body's size counted as it streams.

* Open without a key: each app's ``/healthz``, its docs (``/docs``, ``/redoc``,
  ``/openapi.json`` and their files). Everything else needs ``Authorization: Bearer <key>``
  or ``X-API-Key: <key>``: 401 ``unauthorized`` without a valid one, 403 ``forbidden`` for a
  revoked key or a disabled tenant.
* One request from the tenant's request bucket, and the synchronous single-photo routes
  take their photo from the image bucket (a bundle takes one per photo in its handler):
  429 ``rate_limited`` / ``quota_exceeded`` with ``Retry-After``. Every answer to a keyed
  request carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (the
  request bucket's burst, whole requests left, seconds until it is full).
* The body is counted as it arrives, with or without ``Content-Length``: a declared length
  over the route's limit is refused before a byte is read, and a chunked body the moment it
  passes the limit (413 ``upload_too_large``), so nothing past the limit is buffered.
* The body must keep coming: it has ``upload_timeout_s`` plus one second for every
  ``upload_min_bytes_per_s`` received (Apache's mod_reqtimeout rule), so a slow-loris client
  trickling a few bytes a second is answered 408 ``upload_timeout`` while an honest slow
  link is never cut.
* The heavy routes (a photo through a graph) pass their ``Shedder`` (``serve/shedding.py``):
  a request that could not start within the bound is refused here, 503 ``overloaded`` with
  ``Retry-After``, before its body is read. It takes a slot only once its body has arrived
  (a trickled body holds no slot a real photo could use); the slot is freed however the
  request ends.
* After the answer, the request's bytes and photos are added to the tenant's day.

The ingress hands the middleware its ``Gate``, body limits and shedders at start-up
(``AccessState``), from its deployment args.
"""
import asyncio
import json
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Optional

from starlette.requests import Request

from lumograph.access.gate import Gate, Principal
from lumograph.access.quotas import Take
from lumograph.models.common.errors import BackendUnavailable, LumographError, UnsupportedInput
from lumograph.serve.errors import error_body, retry_after_header
from lumograph.serve.uploads import request_id_for

logger = logging.getLogger("ray.serve")

#: Paths (relative to the application's route prefix) open without a key.
OPEN_PATHS = ("/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
OPEN_PREFIXES = ("/static-offline-docs/",)
#: Synchronous routes that take one photo from the tenant's image bucket per request.
ONE_PHOTO_ROUTES = ("/lightbox", "/enhance", "/stage")
#: Multipart framing around the photos: a body may pass its limit by this much.
FRAMING_SLACK = 64 * 1024


class BodyTooLarge(UnsupportedInput):
    """The body passed the route's limit while it streamed in (413)."""

    code = "upload_too_large"


class UploadTimeout(LumographError):
    """The body came in slower than the upload pace allows (408)."""

    code = "upload_timeout"


@dataclass
class AccessState:
    """Filled by the ingress at start-up: its gate, and route suffix -> body limit (bytes)."""

    gate: Optional[Gate] = None
    body_limits: dict = field(default_factory=dict)
    #: route suffix -> its Shedder (the heavy routes): refused at the door when a request
    #: could not start in time, before its body is read.
    shedders: dict = field(default_factory=dict)
    #: The body's pace: ``upload_timeout_s`` plus a second per ``upload_min_bytes_per_s``.
    upload_timeout_s: float = 20.0
    upload_min_bytes_per_s: float = 1000.0

    def load(self) -> dict:
        return {route: shed.state() for route, shed in self.shedders.items()}


def database_url_of(args) -> str:
    """The service database of an application's ``ServiceDataArgs``: its ``database_url``,
    else $LUMOGRAPH_JOBS_DATABASE_URL (on a cluster: from a Secret, with its password),
    else SQLite under ``data_dir``."""
    from lumograph.jobs.db import sqlite_url

    return args.database_url or os.environ.get("LUMOGRAPH_JOBS_DATABASE_URL") or sqlite_url(args.data_dir)


def open_gate(args) -> Gate:
    """The gate over the service database with the application's default limits."""
    from lumograph.jobs.db import open_db

    return Gate(open_db(database_url_of(args)), args.limits)


def principal_of(request: Request) -> Principal:
    """The caller the middleware authenticated (every keyed route has one)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise BackendUnavailable("no authenticated caller on this request")
    return principal


async def take_images(request: Request, count: int) -> None:
    """Take ``count`` photos from the caller's image bucket (a bundle's photos), or raise 429."""
    state = request.scope["state"]
    await asyncio.to_thread(state["gate"].take_images, principal_of(request), count)
    state["images"] = count


def count_images(request: Request, count: int) -> None:
    """Photos a request brought that no bucket limits (a job's), for the tenant's usage."""
    request.scope["state"]["images"] = count


def _relative(scope) -> str:
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root):] or "/" if root and path.startswith(root) else path


def _token(request: Request) -> Optional[str]:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key") or None


def _rate_headers(take: Optional[Take]) -> list:
    if take is None:
        return []
    return [(b"ratelimit-limit", str(take.limit).encode()), (b"ratelimit-remaining", str(take.remaining).encode()),
            (b"ratelimit-reset", str(math.ceil(take.reset_s)).encode())]


async def _send_error(send, exc: BaseException, rid: str, take: Optional[Take]) -> None:
    body = error_body(exc, rid)
    status = body.pop("status")
    details = body.get("details", {})
    if take is None and "burst" in details:  # a refused take: the bucket as it stands
        take = Take(False, details["burst"], details["remaining"], details["reset_s"], details["retry_after_s"])
    # Serve's proxy puts the request's X-Request-ID on every answer itself.
    headers = [(b"content-type", b"application/json")] + _rate_headers(take)
    headers += [(k.lower().encode(), v.encode()) for k, v in retry_after_header(status, details).items()]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="lumograph"'))
    payload = json.dumps(body).encode()
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class AccessMiddleware:
    def __init__(self, app, state: AccessState):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        rid = request_id_for(request)
        path = _relative(scope)
        gate = self.state.gate
        limit = next((v for k, v in self.state.body_limits.items() if path.endswith(k)), None)
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            limit = 0
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            declared = 0
        take: Optional[Take] = None
        principal: Optional[Principal] = None
        if limit is not None and declared > limit + FRAMING_SLACK:
            return await _send_error(send, BodyTooLarge(
                f"the request body is {declared} bytes; the limit is {limit} bytes"), rid, None)
        keyed = not (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES))
        images = 0
        shed = self.state.shedders.get(path) if scope["method"] == "POST" else None
        ticket = None
        try:
            # Who is calling first (401/403 whatever the load), then whether the request could
            # start in time (503, before any of the tenant's tokens are spent), then the buckets.
            if keyed:
                if gate is None:
                    raise BackendUnavailable("the service is starting; retry in a moment",
                                             details={"retry_after_s": 1})
                principal = await asyncio.to_thread(gate.authenticate, _token(request))
            if shed is not None:
                shed.check()  # the slot itself is taken once the body is in
            if keyed:
                images = 1 if scope["method"] == "POST" and path in ONE_PHOTO_ROUTES else 0
                take = await asyncio.to_thread(gate.admit_with_images, principal, declared, images)
        except Exception as exc:
            if ticket is not None:
                shed.leave(*ticket, ok=False)
            if not isinstance(exc, LumographError):
                # The service database did not answer: not the caller's fault, and not for long.
                logger.exception("request %s: the access gate failed", rid)
                exc = BackendUnavailable("the service database did not answer; retry shortly",
                                         details={"retry_after_s": 2})
            elif take is None and principal is not None and "burst" not in exc.details:
                try:  # RateLimit headers on every answer
                    take = await asyncio.to_thread(gate.peek, principal)
                except Exception:  # noqa: BLE001 - the refusal stands without them
                    logger.exception("request %s: the request bucket could not be read", rid)
            return await _send_error(send, exc, rid, take)
        if keyed:
            scope.setdefault("state", {}).update(principal=principal, gate=gate, images=images)
        status = 0

        counted = 0
        body_done = False
        loop = asyncio.get_running_loop()
        body_deadline = loop.time() + self.state.upload_timeout_s
        pace = max(1.0, float(self.state.upload_min_bytes_per_s))

        async def counting_receive():
            nonlocal counted, body_done, ticket
            if body_done:  # after the body Starlette only listens for a disconnect
                return await receive()
            left = body_deadline + counted / pace - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), left)
            except TimeoutError:
                raise UploadTimeout(
                    f"the request body came in too slowly: {counted} bytes in "
                    f"{loop.time() - body_deadline + self.state.upload_timeout_s:.0f} s (allowed: "
                    f"{self.state.upload_timeout_s:g} s plus 1 s per {pace:g} bytes)",
                    details={"received_bytes": counted, "upload_timeout_s": self.state.upload_timeout_s,
                             "upload_min_bytes_per_s": pace}) from None
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                if limit is not None and counted > limit + FRAMING_SLACK:
                    raise BodyTooLarge(f"the request body passed the limit of {limit} bytes while it streamed in",
                                       details={"limit_bytes": limit, "received_bytes": counted})
                if not message.get("more_body", False):
                    body_done = True
                    if shed is not None and ticket is None:
                        ticket = shed.enter(check=False)
            else:  # the client went away before its body was in
                body_done = True
            return message

        started = False

        async def send_with_headers(message):
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message = {**message, "headers": list(message.get("headers", [])) + _rate_headers(take)}
            await send(message)

        try:
            await self.app(scope, counting_receive, send_with_headers)
        except (BodyTooLarge, UploadTimeout) as err:
            if started:
                raise
            await _send_error(send, err, rid, take)
        finally:
            if ticket is not None:  # also when the client went away: the slot is free again
                shed.leave(*ticket, ok=200 <= status < 300)
            if principal is not None:
                images = scope.get("state", {}).get("images", images)
                try:
                    await asyncio.to_thread(gate.record, principal, bytes_in=counted, images=images)
                except Exception:  # usage is bookkeeping: an answered request stands, the log says
                    logger.exception("request %s: usage of tenant %s not recorded", rid, principal.tenant)
