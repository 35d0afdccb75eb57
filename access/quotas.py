"""Token buckets and daily usage, in the service database.

Every ingress replica takes from the same rows, so a tenant's rate is one rate however many
replicas (or processes, or nodes) serve it, and a restart forgets nothing. A take is one
conditional UPDATE: the refill and the subtraction happen in the database, atomically, and
the row is only written when the tokens are there.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, and_, case, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from lumograph.jobs.db import buckets, usage


@dataclass(frozen=True)
class Take:
    """The outcome of taking ``cost`` tokens. remaining: tokens left (whole); reset_s:
    seconds until the bucket is full again; retry_after_s: when refused, seconds until
    ``cost`` tokens are there (0 when allowed)."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    retry_after_s: float


def utc_day(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at, tz=timezone.utc).strftime("%Y-%m-%d")


def seconds_to_utc_midnight(at: float | None = None) -> float:
    at = time.time() if at is None else at
    return 86400.0 - (at % 86400.0)


class Quotas:
    def __init__(self, engine: Engine):
        self.engine = engine

    def take(self, tenant: str, name: str, cost: float, *, rate_per_s: float, capacity: float,
             at: float | None = None) -> Take:
        """Take ``cost`` tokens from the tenant's bucket ``name`` (refilled at ``rate_per_s`` up
        to ``capacity``). A cost over the capacity can never be met: refused, with the wait
        for a full bucket."""
        at = time.time() if at is None else at
        elapsed = case((literal(at) > buckets.c.updated, literal(at) - buckets.c.updated), else_=0.0)
        refilled = buckets.c.tokens + elapsed * rate_per_s
        level = case((refilled > capacity, literal(float(capacity))), else_=refilled)
        where = and_(buckets.c.tenant == tenant, buckets.c.name == name)
        for _ in range(2):
            with self.engine.begin() as conn:
                taken = conn.execute(update(buckets).where(where, level >= cost)
                                     .values(tokens=level - cost, updated=at)).rowcount == 1
                row = conn.execute(select(buckets.c.tokens, buckets.c.updated).where(where)).first()
            if row is not None:
                break
            try:  # first use: a full bucket
                with self.engine.begin() as conn:
                    conn.execute(insert(buckets).values(tenant=tenant, name=name, tokens=float(capacity), updated=at))
            except IntegrityError:
                pass  # another replica made it first
        else:  # pragma: no cover - the row was made above or by another replica
            raise RuntimeError(f"bucket {tenant}/{name} could not be created")
        tokens = min(capacity, row.tokens + max(0.0, at - row.updated) * rate_per_s)
        reset = (capacity - tokens) / rate_per_s
        retry = 0.0 if taken else ((cost - tokens) / rate_per_s if cost <= capacity else capacity / rate_per_s)
        return Take(taken, int(capacity), max(0, math.floor(tokens)), round(reset, 3), round(max(retry, 0.0), 3))

    def record(self, tenant: str, *, requests: int = 0, images: int = 0, bytes_in: int = 0,
               at: float | None = None) -> None:
        """Add to the tenant's usage of the day."""
        day = utc_day(at)
        where = and_(usage.c.tenant == tenant, usage.c.day == day)
        values = dict(requests=usage.c.requests + requests, images=usage.c.images + images,
                      bytes_in=usage.c.bytes_in + bytes_in)
        with self.engine.begin() as conn:
            if conn.execute(update(usage).where(where).values(**values)).rowcount == 1:
                return
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(usage).values(tenant=tenant, day=day, requests=requests, images=images,
                                                  bytes_in=bytes_in))
        except IntegrityError:
            with self.engine.begin() as conn:
                conn.execute(update(usage).where(where).values(**values))

    def today(self, tenant: str, at: float | None = None) -> dict[str, int]:
        """The tenant's usage so far this UTC day."""
        with self.engine.connect() as conn:
            row = conn.execute(select(usage.c.requests, usage.c.images, usage.c.bytes_in)
                               .where(usage.c.tenant == tenant, usage.c.day == utc_day(at))).first()
        return dict(row._mapping) if row is not None else {"requests": 0, "images": 0, "bytes_in": 0}
