"""A body cap in front of Serve's HTTP proxy itself.

Serve's proxy reads a request body from the client into an unbounded queue and lets the
replica pull it; a client that sends faster than the replica reads has the excess held in
the proxy's memory, and the ingress's own cap (``serve/access.py``) only stops a chunked
body after the proxy has taken in whatever arrived meanwhile (about 200 MB over loopback
for a 40 MB limit). This ASGI middleware runs inside the proxy (Serve loads it from
``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH``, which ``cluster.start_ray`` sets) and counts
the body as the proxy reads it: past the route's limit it answers 413 ``upload_too_large``
(the same JSON as the ingress) and tells the proxy the client went away, so the replica's
call is cancelled and nothing more is read.

The limits per path come from the Serve config (``cluster.body_limits``) through the
environment variable ``LUMOGRAPH_BODY_LIMITS`` (JSON: path -> bytes). Paths with no entry
are not capped here (the ingress still caps them).
"""
import json
import os
import uuid

from starlette.middleware import Middleware

LIMITS_ENV = "LUMOGRAPH_BODY_LIMITS"
#: Multipart framing around the photos (as ``serve/access.py``).
FRAMING_SLACK = 64 * 1024


def _limits() -> dict:
    """The config's limits from the environment; without them (a cluster whose pods set only
    the callback), those of the shipped ``local.yaml`` (the same routes, prefixes and limits
    as the KubeRay config)."""
    try:
        raw = json.loads(os.environ.get(LIMITS_ENV) or "{}")
    except ValueError:
        raw = {}
    if raw:
        return {str(k): int(v) for k, v in raw.items()}
    from lumograph.serve import cluster

    return cluster.body_limits(cluster.load_serve_config(cluster.DEFAULT_CONFIG))


def _refusal(limit: int, received: int, request_id: str) -> tuple[dict, dict]:
    body = json.dumps({"code": "upload_too_large", "message": f"the request body passed the limit of {limit} "
                       "bytes", "request_id": request_id,
                       "details": {"limit_bytes": limit, "received_bytes": received}}).encode()
    start = {"type": "http.response.start", "status": 413,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"x-request-id", request_id.encode()), (b"connection", b"close")]}
    return start, {"type": "http.response.body", "body": body}


class BodyCap:
    def __init__(self, app, limits: dict | None = None):
        self.app = app
        self.limits = _limits() if limits is None else limits

    async def __call__(self, scope, receive, send):
        limit = self.limits.get(scope.get("path", "").rstrip("/")) if scope["type"] == "http" else None
        if limit is None:
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = 0
        if declared > limit + FRAMING_SLACK:
            start, body = _refusal(limit, declared, request_id)
            await send(start)
            await send(body)
            return
        received = 0
        started = answered = False

        async def counted_receive():
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit + FRAMING_SLACK:
                    if not started:  # the replica has not answered yet: this is the answer
                        answered = True
                        start, body = _refusal(limit, received, request_id)
                        await send(start)
                        await send(body)
                    # The proxy takes this as the client gone: it cancels the replica's call
                    # and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)


def middlewares() -> list:
    """The proxy callback (``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH``)."""
    return [Middleware(BodyCap)]
