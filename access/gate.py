"""What an ingress asks for every request: who is calling, and may they go on.

``authenticate`` resolves a presented key to a ``Principal`` (its tenant and limits);
``admit`` takes one request from the tenant's request bucket and checks the day's bytes;
``take_images`` takes a request's photos from the image bucket; ``record`` adds to the
day's usage. Refusals are typed errors with stable codes (401, 403, 429); the 429s carry
``retry_after_s`` in their details, which the HTTP layer turns into ``Retry-After``.

Key lookups are cached for ``cache_ttl_s`` (2 s by default): a revoked key stops working
within that time on every replica; the buckets are never cached.
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from lumograph.access.keys import KeyRecord, KeyStore
from lumograph.access.limits import Limits
from lumograph.access.quotas import Quotas, Take, seconds_to_utc_midnight
from lumograph.models.common.errors import LumographError


class Unauthorized(LumographError):
    """No API key, or one that is malformed or unknown (401)."""

    code = "unauthorized"


class Forbidden(LumographError):
    """A key that was revoked, or whose tenant is disabled (403)."""

    code = "forbidden"


class RateLimited(LumographError):
    """Over the tenant's request or image rate (429); details.retry_after_s says when."""

    code = "rate_limited"


class QuotaExceeded(LumographError):
    """Over the tenant's bytes for the UTC day (429, until midnight UTC)."""

    code = "quota_exceeded"


@dataclass(frozen=True)
class Principal:
    tenant: str
    key_id: str
    limits: Limits


def _bucket(take: Take) -> dict:
    """A refused take, for the error's details (and the RateLimit headers made from them)."""
    return {"burst": take.limit, "remaining": take.remaining, "reset_s": take.reset_s,
            "retry_after_s": take.retry_after_s}


class Gate:
    def __init__(self, engine: Engine, defaults: Limits | None = None, *, cache_ttl_s: float = 2.0):
        self.keys = KeyStore(engine)
        self.quotas = Quotas(engine)
        self.defaults = defaults or Limits()
        self.cache_ttl_s = float(cache_ttl_s)
        # digest of a token -> (when looked up, its record, its merged limits)
        self._cache: dict[str, tuple[float, KeyRecord | None, Limits | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        record, limits = self._lookup(token)
        if record is None:
            raise Unauthorized("the API key is not valid")
        if record.revoked:
            raise Forbidden(f"the API key {record.id} was revoked", details={"key_id": record.id})
        if record.tenant_disabled:
            raise Forbidden(f"the tenant of key {record.id} is disabled", details={"key_id": record.id})
        return Principal(record.tenant, record.id, limits)

    def _lookup(self, token: str) -> tuple[KeyRecord | None, Limits | None]:
        """The key's record and its tenant's limits (defaults merged with the overrides, once
        per lookup rather than per request), cached by a digest of the token, never the
        token itself."""
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        at = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and at - hit[0] < self.cache_ttl_s:
            return hit[1], hit[2]
        record = self.keys.lookup(token)
        limits = None if record is None else self.defaults.merged(record.limits)
        if record is not None and hit is None:
            self.keys.touch(record.id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (at, record, limits)
        return record, limits

    def admit(self, principal: Principal, declared_bytes: int = 0) -> Take:
        """One request from the tenant's bucket; refused while the day's bytes are spent."""
        limits = principal.limits
        spent = self.quotas.today(principal.tenant)["bytes_in"]
        if spent + max(0, declared_bytes) > limits.bytes_per_day:
            wait = math.ceil(seconds_to_utc_midnight())
            raise QuotaExceeded(
                f"the tenant's {limits.bytes_per_day} upload bytes for today are spent ({spent} used)",
                details={"limit": "bytes_per_day", "limit_value": limits.bytes_per_day, "used": spent,
                         "retry_after_s": wait})
        take = self._requests(principal, 1)
        if not take.allowed:
            raise RateLimited(
                f"over {limits.requests_per_s:g} requests per second (burst {limits.requests_burst})",
                details={"limit": "requests_per_s", "limit_value": limits.requests_per_s, **_bucket(take)})
        return take

    def peek(self, principal: Principal) -> Take:
        """The request bucket as it stands, nothing taken (for the headers of a refusal that
        spent no token)."""
        return self._requests(principal, 0)

    def _requests(self, principal: Principal, cost: int) -> Take:
        limits = principal.limits
        return self.quotas.take(principal.tenant, "requests", cost, rate_per_s=limits.requests_per_s,
                                capacity=limits.requests_burst)

    def admit_with_images(self, principal: Principal, declared_bytes: int = 0, images: int = 0) -> Take:
        """``admit`` and (``images`` > 0) ``take_images`` in one call (one hop to a worker
        thread); returns the request bucket's take."""
        take = self.admit(principal, declared_bytes)
        if images:
            self.take_images(principal, images)
        return take

    def take_images(self, principal: Principal, count: int) -> Take:
        limits = principal.limits
        take = self.quotas.take(principal.tenant, "images", count, rate_per_s=limits.images_per_min / 60.0,
                                capacity=limits.images_burst)
        if not take.allowed:
            why = (f"{count} images are more than the tenant's burst of {limits.images_burst}: split the request"
                   if count > limits.images_burst else
                   f"over {limits.images_per_min:g} images per minute")
            raise RateLimited(why, details={"limit": "images_per_min", "limit_value": limits.images_per_min,
                                            "images": count, **_bucket(take)})
        return take

    def record(self, principal: Principal, *, bytes_in: int, images: int) -> None:
        self.quotas.record(principal.tenant, requests=1, images=images, bytes_in=bytes_in)
