"""Signed webhook deliveries for asynchronous batch jobs.

A job's owner gives a ``callback_url``; when the job moves (an item finishes, the job
completes) the worker POSTs the job's status JSON there, signed with the tenant's secret:

- the body is ``encode_body(payload)``: compact, sorted-keys JSON in UTF-8, so a sender
  and a receiver that re-encode the same dict get the same bytes;
- ``X-Lumograph-Signature: sha256=<hex>`` is an HMAC-SHA256 over ``b"<timestamp>." + body``,
  with ``X-Lumograph-Timestamp`` the unix second of that attempt: a captured delivery
  cannot be replayed once ``REPLAY_WINDOW_S`` has passed, and the timestamp cannot be
  swapped for a fresher one without the secret;
- ``X-Lumograph-Delivery`` is the same across the retries of one delivery, for the
  receiver to deduplicate on.

``validate_callback_url`` is the SSRF guard applied when a job is submitted;
``deliver`` sends with retries, resolving and judging the host again on every attempt
and connecting to the address it judged (``jobs.fetch``), and never raises for network or
HTTP trouble. The pure parts (``encode_body``, ``sign``, ``verify``, ``RetryPolicy.delay``)
do no I/O.
See docs/WEBHOOKS.md for the receiver's side.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from lumograph.jobs import fetch
from lumograph.models.common.errors import InvalidOptions

SIGNATURE_HEADER = "X-Lumograph-Signature"
TIMESTAMP_HEADER = "X-Lumograph-Timestamp"
EVENT_HEADER = "X-Lumograph-Event"
DELIVERY_HEADER = "X-Lumograph-Delivery"
REPLAY_WINDOW_S = 300

SIGNATURE_PREFIX = "sha256="
USER_AGENT = "lumograph-webhooks/1"

# Strict header grammar: int() alone would accept " 17", "+17" and "1_7", and a signature
# compare should only ever see the one canonical spelling the sender writes.
_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")
_SIGNATURE_RE = re.compile(r"sha256=[0-9a-f]{64}")


# --------------------------------------------------------------------------- signing


def encode_body(payload: dict) -> bytes:
    """The exact bytes POSTed for ``payload``: compact (no spaces), sorted-keys JSON,
    non-ASCII kept as UTF-8. NaN and infinities are refused (``ValueError``): they are not
    JSON and a receiver's parser would reject the delivery."""
    if not isinstance(payload, dict):
        raise TypeError(f"payload must be a dict, got {type(payload).__name__}")
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _require_secret(secret: bytes) -> None:
    # An empty key still "signs", so a missing configuration would pass silently.
    if not isinstance(secret, (bytes, bytearray)) or not secret:
        raise ValueError("webhook secret must be non-empty bytes")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """``"sha256=" + hex(HMAC-SHA256(secret, f"{timestamp}.".encode() + body))``.

    ``timestamp`` is an int of unix seconds (a float would sign a different text than the
    header carries, so it is refused); ``body`` the exact bytes sent."""
    _require_secret(secret)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise TypeError(f"timestamp must be a non-negative int of unix seconds, got {timestamp!r}")
    digest = hmac.new(bytes(secret), f"{timestamp}.".encode("ascii") + bytes(body), hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify(secret: bytes, body: bytes, timestamp_header: str | None, signature_header: str | None, *,
           now: float | None = None, tolerance_s: int = REPLAY_WINDOW_S) -> bool:
    """True when ``signature_header`` is the signature of ``body`` at ``timestamp_header``
    under ``secret`` and that timestamp is within ``tolerance_s`` of ``now`` (default: the
    current unix time) either way. False for a missing or malformed header, a stale or
    future timestamp, a wrong secret or a changed body; the digests are compared in
    constant time (``hmac.compare_digest``). An empty secret is a configuration error
    (``ValueError``), not a bad request."""
    _require_secret(secret)
    if not isinstance(timestamp_header, str) or not isinstance(signature_header, str):
        return False
    timestamp_text = timestamp_header.strip()
    signature_text = signature_header.strip().lower()
    if not _TIMESTAMP_RE.fullmatch(timestamp_text) or not _SIGNATURE_RE.fullmatch(signature_text):
        return False
    timestamp = int(timestamp_text)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected.encode("ascii"), signature_text.encode("ascii"))


# --------------------------------------------------------------------------- SSRF guard


class CallbackRejected(InvalidOptions):
    """A ``callback_url`` refused at submission (scheme, host, credentials, or an address
    the server must not call). Keeps ``InvalidOptions``' code ``invalid_options`` (HTTP
    422); ``details`` carry the URL (password masked) and the reason."""


def validate_callback_url(url: str, *, allow_private: bool = False,
                          guard: fetch.AddressGuard | None = None) -> str:
    """Return ``url`` unchanged when the server may POST webhooks to it, else raise
    ``CallbackRejected`` (an ``InvalidOptions``) quoting it.

    Always: ``http`` or ``https``, a host, no ``user:password@``, a valid port, no
    whitespace or control characters (``fetch.parse_url``). Unless the guard allows private
    addresses (``allow_private``: a deployment whose receivers live on its own network;
    ``guard`` wins over it): a literal IP, or every address the name resolves to, must be one
    the guard allows (``fetch.AddressGuard.pin``): loopback, private, link-local, reserved,
    multicast and unspecified addresses are refused, as are ``localhost`` names and names
    that do not resolve. A literal IP needs no DNS.

    This is the check at submission; ``deliver`` resolves, judges and pins the address
    again on every attempt (a name can be re-pointed in between)."""
    guard = guard or fetch.AddressGuard(allow_private=allow_private)
    try:
        if guard.allow_private:
            fetch.parse_url(url)
        else:
            guard.pin(url)
    except fetch.FetchError as err:
        shown = err.details.get("url", url if isinstance(url, str) else None)
        reason = err.details.get("reason", err.message)
        if shown is None:
            raise CallbackRejected(f"callback_url must be a string, got {type(url).__name__}",
                                   details={"reason": reason}) from None
        raise CallbackRejected(f"callback_url {shown!r} refused: {reason}",
                               details={"callback_url": shown, "reason": reason}) from None
    return url


# --------------------------------------------------------------------------- delivery


@dataclass
class Attempt:
    """One POST of one delivery, as handed to ``deliver``'s ``record``.

    ``attempt`` counts from 1; ``status_code`` is None when no response came back
    (refused, timed out, reset); ``error`` is None exactly when ``delivered``;
    ``duration_s`` is monotonic wall time of the POST; ``at`` the unix time it started."""

    delivery_id: str
    event: str
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_s: float
    at: float
    delivered: bool


@dataclass(frozen=True)
class RetryPolicy:
    """How hard ``deliver`` tries: ``max_attempts`` POSTs in all, each cut off after
    ``timeout_s`` seconds (connect, send and response headers together), with an
    exponential, fully jittered pause between them (``delay``). Frozen: ``DEFAULT_POLICY``
    is shared by every ``deliver`` call that passes none."""

    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError(f"delays must be >= 0, got base {self.base_delay_s}, max {self.max_delay_s}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): "full jitter",
        ``uniform(0, min(max_delay_s, base_delay_s * 2 ** (attempt - 1)))``, so that many
        deliveries failing together do not retry in lockstep."""
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        # Cap the exponent: 2.0 ** 1100 raises OverflowError; the ceiling is reached long before.
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** min(attempt - 1, 1000))
        return rng.uniform(0.0, ceiling)


DEFAULT_POLICY = RetryPolicy()
#: Public addresses only, system DNS: ``deliver``'s guard unless the caller gives one.
STRICT_GUARD = fetch.AddressGuard()

# Errors that no retry can fix: the URL itself is unusable.
_PERMANENT_ERRORS = (httpx.InvalidURL, httpx.UnsupportedProtocol)


async def _post_once(client: httpx.AsyncClient, url: str, guard: fetch.AddressGuard, body: bytes,
                     headers: dict[str, str], timeout_s: float) -> tuple[int | None, str | None, bool]:
    """One POST: (status code or None, error or None, whether retrying is pointless).

    The host is resolved and judged here, for this attempt, and the POST goes to the
    address it resolved to (``fetch.AddressGuard.pin``): a name re-pointed at an internal
    address since the job was accepted is refused before anything connects, and httpx never
    resolves it again on its own. ``asyncio.timeout`` bounds the whole exchange, resolution
    included: httpx's own timeout is per socket operation, so a receiver trickling one byte
    at a time would otherwise hold the attempt indefinitely. The response body is never
    read (only the status matters), so a huge or endless body costs nothing."""
    try:
        async with asyncio.timeout(timeout_s):
            pinned = await asyncio.to_thread(guard.pin, url)
            request = pinned.request(client, "POST", content=body, headers=headers, timeout=timeout_s)
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                status = response.status_code
                location = response.headers.get("location")
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return None, f"timed out after {timeout_s:g} s", False
    except (fetch.InvalidURL, fetch.FetchRefused) as err:
        return None, f"refused: {err.details.get('reason', err.message)}", True
    except fetch.FetchFailed as err:  # the name does not resolve (now)
        return None, err.details.get("reason", err.message), not err.transient
    except _PERMANENT_ERRORS as exc:
        return None, f"{type(exc).__name__}: {exc}", True
    except Exception as exc:  # noqa: BLE001 - any transport failure is a failed attempt, never a crash
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, False
    if 200 <= status < 300:
        return status, None, False
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirect to {location!r} not followed", False
    return status, f"HTTP {status}", False


async def deliver(url: str, payload: dict, *, secret: bytes, event: str, policy: RetryPolicy = DEFAULT_POLICY,
                  record: Callable[[Attempt], Awaitable[None] | None] | None = None,
                  client: httpx.AsyncClient | None = None, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                  rng: random.Random | None = None, delivery_id: str | None = None,
                  clock: Callable[[], float] = time.time, guard: fetch.AddressGuard = STRICT_GUARD) -> bool:
    """POST ``encode_body(payload)`` to ``url`` until a 2xx answer or ``policy.max_attempts``.

    Each attempt carries ``Content-Type: application/json`` and the four ``X-Lumograph-*``
    headers, with a fresh timestamp (``int(clock())``) and signature; the delivery id
    (``delivery_id`` or a new uuid4 hex) is the same on every attempt. A 2xx is delivered
    (True). A connection failure, a timeout (``policy.timeout_s`` per attempt, whole
    exchange), any non-2xx, and a redirect (never followed: it could point anywhere,
    including inside our network) are failed attempts, retried after
    ``policy.delay(attempt, rng)`` seconds through ``sleep``. Every attempt resolves the
    host through ``guard`` and connects to the address it judged (default: public
    addresses only); an unusable URL (bad syntax, unsupported scheme) or an address the
    guard refuses ends the delivery at once (``error`` "refused: ..."), a name that does
    not resolve is a failed attempt. Every attempt goes to ``record`` (sync or async)
    before the pause. Returns False when the attempts are spent; never raises for network
    or HTTP trouble (an exception from ``record``, ``sleep`` or ``encode_body`` does).

    ``client``: a caller's ``httpx.AsyncClient`` (a shared pool); redirects and the timeout
    are still forced per request. It must have no proxy (a proxy resolves the name itself,
    past the guard). Without one a client is made for this delivery and closed after it;
    it ignores proxy environment variables (``trust_env=False``)."""
    _require_secret(secret)
    body = encode_body(payload)
    delivery_id = delivery_id or uuid.uuid4().hex
    rng = rng if rng is not None else random.Random()
    owned = client is None
    if client is None:
        client = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=policy.timeout_s)
    try:
        for attempt in range(1, policy.max_attempts + 1):
            started_at = clock()
            timestamp = int(started_at)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                EVENT_HEADER: event,
                DELIVERY_HEADER: delivery_id,
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(secret, timestamp, body),
            }
            started = time.monotonic()
            status, error, permanent = await _post_once(client, url, guard, body, headers, policy.timeout_s)
            delivered = error is None
            outcome = Attempt(delivery_id=delivery_id, event=event, url=url, attempt=attempt,
                              status_code=status, error=error, duration_s=time.monotonic() - started,
                              at=started_at, delivered=delivered)
            if record is not None:
                result = record(outcome)
                if inspect.isawaitable(result):
                    await result
            if delivered:
                return True
            if permanent:
                return False
            if attempt < policy.max_attempts:
                await sleep(policy.delay(attempt, rng))
        return False
    finally:
        if owned:
            await client.aclose()
