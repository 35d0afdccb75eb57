"""Jobs and their items in the database: submit (idempotent), claim with a lease, finish,
cancel, recover, and the status a client polls.

Every method is synchronous SQLAlchemy Core (the async callers run them in a thread).
Each write is one short transaction that starts with a write statement, so SQLite takes
its write lock at once (waiting on ``busy_timeout`` instead of failing on a lock upgrade)
and PostgreSQL's row locks decide races: a claim is one ``UPDATE ... WHERE state``
re-checked under the lock, so two workers never take the same item.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from lumograph.jobs.db import FINAL_ITEM_STATES, deliveries, items, jobs, now
from lumograph.models.common.errors import InvalidOptions, LumographError


class IdempotencyConflict(LumographError):
    """The same ``Idempotency-Key`` came with a different request body."""

    code = "idempotency_conflict"


class JobNotFound(LumographError):
    code = "job_not_found"


@dataclass
class NewItem:
    input_uri: str
    filename: str | None
    bytes_in: int = 0
    context: dict[str, Any] | None = None


@dataclass
class NewJob:
    vertical: str
    options: dict[str, Any]
    items: list[NewItem]
    bundle: dict[str, Any] | None = None
    callback_url: str | None = None
    callback_per_item: bool = False
    idempotency_key: str | None = None
    request_hash: str | None = None
    tenant: str = "default"
    controls: dict[str, Any] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Claimed:
    """An item a worker holds: run it, then ``finish`` it with the same ``claim``."""

    item_id: int
    job_id: str
    n: int
    claim: str
    input_uri: str
    filename: str | None
    context: dict[str, Any] | None
    vertical: str
    options: dict[str, Any]
    controls: dict[str, Any] = field(default_factory=dict)
    look: dict[str, Any] | None = None
    claims: int = 1  # how many times the item was claimed, this claim included

    @property
    def reference(self) -> bool:
        """This item sets a consistency-locked job's look."""
        lock = self.controls.get("consistency") or {}
        return bool(lock.get("lock")) and self.n == int(lock.get("reference", 0))


def _live(lease_now: float):
    """Items a worker may take: queued ones not held back, and running ones whose worker's
    lease ran out."""
    return and_(items.c.held.is_(False),
                or_(items.c.state == "queued",
                    and_(items.c.state == "running", items.c.lease_until < lease_now)))


class JobStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    # -- submit ---------------------------------------------------------------------------

    def find_idempotent(self, tenant: str, key: str, request_hash: str) -> str | None:
        """The job a key already made (None: new key); a different body is a conflict."""
        with self.engine.connect() as c:
            row = c.execute(select(jobs.c.id, jobs.c.request_hash)
                            .where(jobs.c.tenant == tenant, jobs.c.idempotency_key == key)).first()
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise IdempotencyConflict(
                f"Idempotency-Key {key!r} was already used for a different request (job {row.id})",
                details={"job_id": row.id})
        return row.id

    def create(self, job: NewJob) -> tuple[str, bool]:
        """Insert the job and its items in one transaction. Returns (job id, created); a
        concurrent submit with the same idempotency key returns the winner's job."""
        t = now()
        lock = (job.controls or {}).get("consistency") or {}
        # A locked job runs its reference item first; the others wait for the look it sets.
        reference = int(lock.get("reference", 0)) if lock.get("lock") else None
        if reference is not None and not 0 <= reference < len(job.items):
            raise InvalidOptions(f"consistency reference must index one of the {len(job.items)} photos, "
                                 f"got {reference}")
        try:
            with self.engine.begin() as c:
                c.execute(insert(jobs).values(
                    id=job.id, vertical=job.vertical, state="queued", options=job.options,
                    bundle=job.bundle, callback_url=job.callback_url,
                    callback_per_item=job.callback_per_item, idempotency_key=job.idempotency_key,
                    request_hash=job.request_hash, tenant=job.tenant, n_items=len(job.items),
                    bytes_in=sum(i.bytes_in for i in job.items), created_at=t,
                    webhook_state="pending" if job.callback_url else None, controls=job.controls))
                if job.items:
                    c.execute(insert(items), [
                        {"job_id": job.id, "n": n, "filename": it.filename, "input_uri": it.input_uri,
                         "bytes_in": it.bytes_in, "context": it.context, "state": "queued", "claims": 0,
                         "completions": 0, "billable": False,
                         "held": reference is not None and n != reference}
                        for n, it in enumerate(job.items)])
        except IntegrityError:
            if job.idempotency_key is None:
                raise
            existing = self.find_idempotent(job.tenant, job.idempotency_key, job.request_hash or "")
            if existing is None:
                raise
            return existing, False
        return job.id, True

    def active_jobs(self, tenant: str | None = None) -> int:
        query = select(func.count()).select_from(jobs).where(jobs.c.state.in_(("queued", "running")))
        if tenant is not None:
            query = query.where(jobs.c.tenant == tenant)
        with self.engine.connect() as c:
            return int(c.execute(query).scalar_one())

    # -- work -----------------------------------------------------------------------------

    def claim(self, worker: str, lease_s: float) -> Claimed | None:
        """Take the oldest runnable item (or None) and lease it to ``worker``."""
        token = f"{worker[:16]}{uuid.uuid4().hex[:16]}"
        for _ in range(8):
            t = now()
            oldest = (select(items.c.id).where(_live(t)).order_by(items.c.id).limit(1)
                      .with_for_update(skip_locked=True).scalar_subquery())
            with self.engine.begin() as c:
                row = c.execute(
                    update(items).where(items.c.id == oldest, _live(t))
                    .values(state="running", claim=token, lease_until=t + lease_s,
                            claims=items.c.claims + 1, started_at=t)
                    .returning(items.c.id, items.c.job_id, items.c.n, items.c.input_uri,
                               items.c.filename, items.c.context, items.c.claims)).first()
                if row is None:
                    if c.execute(select(items.c.id).where(_live(t)).limit(1)).first() is None:
                        return None
                    continue  # another worker took it between the two reads: try the next one
                c.execute(update(jobs).where(jobs.c.id == row.job_id, jobs.c.state == "queued")
                          .values(state="running", started_at=t))
                job = c.execute(select(jobs.c.vertical, jobs.c.options, jobs.c.controls, jobs.c.look)
                                .where(jobs.c.id == row.job_id)).one()
            return Claimed(item_id=row.id, job_id=row.job_id, n=row.n, claim=token,
                           input_uri=row.input_uri, filename=row.filename, context=row.context,
                           vertical=job.vertical, options=job.options, controls=dict(job.controls or {}),
                           look=job.look, claims=int(row.claims))
        return None

    def renew(self, claims: list[str], lease_s: float) -> None:
        """Extend the leases of the items a live worker is running."""
        if not claims:
            return
        with self.engine.begin() as c:
            c.execute(update(items).where(items.c.claim.in_(claims), items.c.state == "running")
                      .values(lease_until=now() + lease_s))

    def defer(self, claimed: Claimed, delay_s: float) -> bool:
        """Let go of a claimed item without an end (its input failed in a way that may pass,
        a photo server down): it is taken again once ``delay_s`` has passed, as a dead
        worker's item is when its lease runs out. False when the claim was already lost."""
        with self.engine.begin() as c:
            return c.execute(update(items).where(items.c.id == claimed.item_id, items.c.claim == claimed.claim,
                                                 items.c.state == "running")
                             .values(lease_until=now() + delay_s)).rowcount == 1

    def finish(self, claimed: Claimed, *, state: str, verdict: str | None = None, billable: bool = False,
               media_type: str | None = None, output_uri: str | None = None,
               output_sha256: str | None = None, report_uri: str | None = None,
               error: dict[str, Any] | None = None, look: dict[str, Any] | None = None) -> str | None:
        """Record an item's end. Returns "ready" when every item of the job has ended (the
        caller measures the job and ``close``s it), "" when the job goes on, None when the
        claim was lost (its lease ran out and another worker took the item: this result is
        dropped, the other one counts). look: the reference
        item's measured look: stored on the job and its held items released, in the same
        transaction (a crash cannot leave them held)."""
        assert state in FINAL_ITEM_STATES
        t = now()
        with self.engine.begin() as c:
            done = c.execute(
                update(items).where(items.c.id == claimed.item_id, items.c.claim == claimed.claim,
                                    items.c.state == "running")
                .values(state=state, verdict=verdict, billable=billable, media_type=media_type,
                        output_uri=output_uri, output_sha256=output_sha256, report_uri=report_uri,
                        error=error, finished_at=t, seconds=t - func.coalesce(items.c.started_at, t),
                        lease_until=None, completions=items.c.completions + 1))
            if done.rowcount != 1:
                return None
            if look is not None:
                c.execute(update(jobs).where(jobs.c.id == claimed.job_id).values(look=look))
                c.execute(update(items).where(items.c.job_id == claimed.job_id, items.c.held.is_(True))
                          .values(held=False))
            return "" if self._open_items(c, claimed.job_id) else "ready"

    @staticmethod
    def _open_items(c, job_id: str) -> int:
        return int(c.execute(select(func.count()).select_from(items).where(
            items.c.job_id == job_id, items.c.state.not_in(FINAL_ITEM_STATES))).scalar_one())

    def close(self, job_id: str, summary: dict[str, Any] | None = None) -> str:
        """Close a job whose items have all ended, with its summary, in one transaction (a
        poller never sees it finished without its summary). Returns the final state, or ""
        when it has open items or was already closed."""
        t = now()
        with self.engine.begin() as c:
            if self._open_items(c, job_id):
                return ""
            states = dict(c.execute(select(items.c.state, func.count()).where(items.c.job_id == job_id)
                                    .group_by(items.c.state)).all())
            state = "cancelled" if states.get("cancelled") else "done" if states.get("done") else "failed"
            closed = c.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state.in_(("queued", "running")))
                               .values(state=state, finished_at=t, summary=summary))
            return state if closed.rowcount == 1 else ""

    def unclosed_jobs(self) -> list[str]:
        """Jobs whose items have all ended but that were never closed (a worker died between
        its last item and the close): start-up closes them."""
        open_ids = select(items.c.job_id).where(items.c.state.not_in(FINAL_ITEM_STATES))
        with self.engine.connect() as c:
            return [r.id for r in c.execute(select(jobs.c.id).where(
                jobs.c.state.in_(("queued", "running")), jobs.c.id.not_in(open_ids)))]

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel what has not started; running items finish (their results are kept).
        ``ready``: nothing is left running (the caller closes the job)."""
        t = now()
        with self.engine.begin() as c:
            cancelled = c.execute(update(items).where(items.c.job_id == job_id, items.c.state == "queued")
                                  .values(state="cancelled", finished_at=t)).rowcount
            running = c.execute(select(func.count()).select_from(items).where(
                items.c.job_id == job_id, items.c.state == "running")).scalar_one()
        # With items still running, the job closes (as cancelled) when the last one ends.
        return {"cancelled": int(cancelled), "still_running": int(running), "ready": not running}

    def recover(self) -> int:
        """Start-up: items whose worker died (running, lease expired) go back to the queue."""
        with self.engine.begin() as c:
            return int(c.execute(update(items).where(items.c.state == "running", items.c.lease_until < now())
                                 .values(state="queued", claim=None, lease_until=None)).rowcount)

    # -- reading --------------------------------------------------------------------------

    def job_row(self, job_id: str):
        with self.engine.connect() as c:
            row = c.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        return row

    def owned_job(self, job_id: str, tenant: str):
        """The job's row when ``tenant`` owns it; another tenant's job is "no such job", the
        same answer as an unknown id (nothing tells a caller that the id exists)."""
        row = self.job_row(job_id)
        if row.tenant != tenant:
            raise JobNotFound(f"no job {job_id!r}")
        return row

    def item_rows(self, job_id: str) -> list:
        with self.engine.connect() as c:
            return list(c.execute(select(items).where(items.c.job_id == job_id).order_by(items.c.n)))

    def item_row(self, job_id: str, n: int):
        with self.engine.connect() as c:
            row = c.execute(select(items).where(items.c.job_id == job_id, items.c.n == n)).first()
        if row is None:
            raise JobNotFound(f"job {job_id!r} has no item {n}")
        return row

    def counts(self, job_id: str) -> dict[str, int]:
        with self.engine.connect() as c:
            rows = c.execute(select(items.c.state, func.count()).where(items.c.job_id == job_id)
                             .group_by(items.c.state)).all()
        return {state: int(n) for state, n in rows}

    def billing(self, job_id: str) -> dict[str, Any]:
        with self.engine.connect() as c:
            row = c.execute(select(
                func.count(),
                func.sum(case((items.c.billable.is_(True), 1), else_=0)),
                func.sum(case((items.c.verdict == "pass", 1), else_=0)),
                func.sum(case((items.c.verdict == "review", 1), else_=0)),
                func.sum(case((items.c.verdict == "fail", 1), else_=0)),
            ).where(items.c.job_id == job_id)).one()
        return {"items": int(row[0]), "billable": int(row[1] or 0),
                "by_verdict": {"pass": int(row[2] or 0), "review": int(row[3] or 0), "fail": int(row[4] or 0)},
                "rule": "only items whose delivered verdict is pass are billable"}

    def record_delivery(self, job_id: str, *, delivery_id: str, event: str, item_n: int | None, attempt: int,
                        url: str, status_code: int | None, error: str | None, duration_s: float, at: float,
                        delivered: bool) -> None:
        with self.engine.begin() as c:
            c.execute(insert(deliveries).values(
                job_id=job_id, delivery_id=delivery_id, event=event, item_n=item_n, attempt=attempt,
                url=url, status_code=status_code, error=error, duration_s=duration_s, at=at,
                delivered=delivered))

    def deliveries(self, job_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(select(deliveries).where(deliveries.c.job_id == job_id)
                             .order_by(deliveries.c.id)).mappings().all()
        return [{k: v for k, v in r.items() if k not in ("id", "job_id")} for r in rows]

    def set_webhook_state(self, job_id: str, state: str) -> None:
        with self.engine.begin() as c:
            c.execute(update(jobs).where(jobs.c.id == job_id).values(webhook_state=state))

    def pending_webhooks(self) -> list[str]:
        """Finished jobs whose completion callback is still owed (after a restart)."""
        with self.engine.connect() as c:
            return [r.id for r in c.execute(select(jobs.c.id).where(
                jobs.c.webhook_state == "pending", jobs.c.state.in_(("done", "failed", "cancelled"))))]
