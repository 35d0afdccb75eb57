"""Job callbacks: the signed webhook of a finished job (and, when asked, of each item),
sent in the background so a receiver that is down, slow or failing never holds a job.

Every attempt lands in the job's delivery log (``deliveries`` table); the completion
callback's state is on the job (``pending`` until delivered or given up), so one still
owed after a restart is sent again on start-up.
"""
from __future__ import annotations

import asyncio
import logging
import uuid

from lumograph.jobs import webhooks
from lumograph.jobs.fetch import AddressGuard
from lumograph.jobs.status import job_status
from lumograph.jobs.store import JobStore

logger = logging.getLogger(__name__)


class JobNotifier:
    """guard: where deliveries may connect (default: public addresses only, or any with
    ``allow_private``); every attempt resolves and judges the callback's host again."""

    def __init__(self, store: JobStore, secret: bytes, *, policy: webhooks.RetryPolicy | None = None,
                 prefix: str = "/v1", allow_private: bool = False, guard: AddressGuard | None = None):
        self.store = store
        self.guard = guard or AddressGuard(allow_private=allow_private)
        self.secret = secret
        self.policy = policy or webhooks.DEFAULT_POLICY
        self.prefix = prefix
        self._tasks: set[asyncio.Task] = set()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def on_progress(self, job_id: str, n: int | None, closed: str) -> None:
        """The worker's hook after each item: an item callback if the job asked for them,
        the completion callback when the job closed."""
        job = await asyncio.to_thread(self.store.job_row, job_id)
        if not job.callback_url:
            return
        if job.callback_per_item and n is not None:
            self._spawn(self._send(job_id, job.callback_url, "job.item", n, completion=False))
        if closed:
            self._spawn(self._send(job_id, job.callback_url, "job.completed", None, completion=True))

    def redeliver(self, job_id: str) -> asyncio.Task | None:
        """Send the completion callback again (a client's ``POST .../redeliver``)."""
        job = self.store.job_row(job_id)
        if not job.callback_url:
            return None
        event = "job.completed" if job.state in ("done", "failed", "cancelled") else "job.progress"
        return self._spawn(self._send(job_id, job.callback_url, event, None,
                                      completion=event == "job.completed"))

    async def resume(self) -> int:
        """Start-up: completion callbacks a stopped service still owed."""
        owed = await asyncio.to_thread(self.store.pending_webhooks)
        for job_id in owed:
            job = await asyncio.to_thread(self.store.job_row, job_id)
            self._spawn(self._send(job_id, job.callback_url, "job.completed", None, completion=True))
        return len(owed)

    async def _send(self, job_id: str, url: str, event: str, n: int | None, *, completion: bool) -> bool:
        delivery_id = uuid.uuid4().hex
        try:
            status = await asyncio.to_thread(job_status, self.store, job_id, prefix=self.prefix)
            payload = {"event": event, "job": status}
            if n is not None:
                payload["item"] = next((i for i in status.get("items", []) if i["n"] == n), None)

            def record(attempt: webhooks.Attempt):
                return asyncio.to_thread(
                    self.store.record_delivery, job_id, delivery_id=attempt.delivery_id, event=event,
                    item_n=n, attempt=attempt.attempt, url=attempt.url, status_code=attempt.status_code,
                    error=attempt.error, duration_s=attempt.duration_s, at=attempt.at,
                    delivered=attempt.delivered)

            # Every attempt resolves and judges the host again and connects to the address
            # it judged: a name re-pointed at an internal address after the job was accepted
            # is refused (recorded "refused: ...") and never connected to.
            delivered = await webhooks.deliver(url, payload, secret=self.secret, event=event, policy=self.policy,
                                               record=record, delivery_id=delivery_id, guard=self.guard)
        except Exception:
            logger.exception("webhook for job %s failed", job_id)
            delivered = False
        if completion:
            await asyncio.to_thread(self.store.set_webhook_state, job_id, "delivered" if delivered else "failed")
        return delivered

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait for the deliveries in flight (tests, a graceful stop)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
