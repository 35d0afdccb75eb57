"""Workers that pull job items from the database and run them through the graphs.

``concurrency`` loops share one process (the jobs ingress replica in Serve, or a test's
event loop); each claims the oldest runnable item with a lease, runs it with the
vertical's ``PhotoRunner`` (whose steps are the same module deployments the synchronous
routes call, so Serve's autoscaling sees the load), writes the output and its report to
storage, then records the end. A heartbeat renews the leases of running items; when a
worker dies its items' leases run out and another worker (or the restarted service)
takes them again. An item's result only counts if its claim still holds, so an item is
never recorded twice.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from lumograph.graphs.reports import jsonable
from lumograph.jobs.bundle import item_context
from lumograph.jobs.consistency import measure_job
from lumograph.jobs.fetch import FetchFailed, FetchRefused, is_fetchable
from lumograph.jobs.runner import ItemResult, PhotoRunner, WorkerLost, error_of, look_of
from lumograph.jobs.storage import Storage
from lumograph.jobs.store import Claimed, JobStore

logger = logging.getLogger(__name__)

#: Called with (job id, item n or None, the job's final state or "") after each item.
OnProgress = Callable[[str, int, str], Awaitable[None]]
#: Fetches a URL item's photo (``JobService.fetch_photo``: through the input guard, capped).
FetchURL = Callable[[str], Awaitable[bytes]]


def output_keys(job_id: str, n: int, extension: str) -> tuple[str, str]:
    return f"jobs/{job_id}/out/{n:05d}{extension}", f"jobs/{job_id}/out/{n:05d}.json"


class JobWorker:
    def __init__(self, store: JobStore, storage: Storage, runners: dict[str, PhotoRunner], *,
                 concurrency: int = 2, lease_s: float = 30.0, poll_s: float = 1.0,
                 on_progress: OnProgress | None = None, name: str | None = None,
                 fetch_url: FetchURL | None = None, fetch_attempts: int = 3):
        """fetch_url: how a URL item's photo is fetched (None: a URL item is an error, never
        read through storage). fetch_attempts: how many times an item whose fetch failed in
        a passing way is taken (one lease apart) before that error is recorded."""
        self.store = store
        self.storage = storage
        self.runners = runners
        self.concurrency = max(1, int(concurrency))
        self.lease_s = float(lease_s)
        self.poll_s = float(poll_s)
        self.on_progress = on_progress
        self.fetch_url = fetch_url
        self.fetch_attempts = max(1, int(fetch_attempts))
        self.name = name or uuid.uuid4().hex[:12]
        self._held: dict[str, Claimed] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self.processed = 0

    def start(self) -> None:
        """Recover items whose worker died, then run the loops (in the running event loop)."""
        if self._tasks:
            return
        self._stopping = False
        self._tasks = [asyncio.create_task(self._loop(i), name=f"job-worker-{i}")
                       for i in range(self.concurrency)]
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="job-worker-heartbeat"))

    async def stop(self, grace_s: float = 0.0) -> dict[str, int]:
        """Stop claiming; let the items in hand finish for up to ``grace_s`` seconds, then
        cancel the rest and hand them back to the queue at once (``store.defer`` with no
        delay: another worker, or this service after a restart, takes them without waiting
        for their leases). Returns how many items finished and how many were handed back."""
        self._stopping = True
        self._wake.set()
        loops = [t for t in self._tasks if t.get_name() != "job-worker-heartbeat"]
        finished_before = self.processed
        if grace_s > 0 and loops:
            await asyncio.wait(loops, timeout=grace_s)
        unfinished = list(self._held.values())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        handed_back = 0
        for claimed in unfinished:
            try:
                handed_back += bool(await asyncio.to_thread(self.store.defer, claimed, 0.0))
            except Exception:  # the lease runs out instead: the item is taken again then
                logger.exception("job %s item %s could not be handed back", claimed.job_id, claimed.n)
        self._held.clear()
        return {"finished": self.processed - finished_before, "handed_back": handed_back}

    def wake(self) -> None:
        """New work was queued: stop waiting for the next poll."""
        self._wake.set()

    async def _heartbeat(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.lease_s / 3.0)
            try:
                await asyncio.to_thread(self.store.renew, list(self._held), self.lease_s)
            except Exception:  # a database hiccup: the next beat tries again
                logger.exception("lease renewal failed")

    async def _loop(self, index: int) -> None:
        while not self._stopping:
            try:
                claimed = await asyncio.to_thread(self.store.claim, self.name, self.lease_s)
            except Exception:
                logger.exception("claiming an item failed")
                claimed = None
            if claimed is None:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                except TimeoutError:
                    pass
                continue
            self._held[claimed.claim] = claimed
            try:
                await self.process(claimed)
            except Exception:
                # Recording failed (storage or database down): the item keeps its claim
                # until its lease runs out, then it is taken again; this loop goes on.
                logger.exception("job %s item %s could not be recorded", claimed.job_id, claimed.n)
            finally:
                self._held.pop(claimed.claim, None)

    async def read_input(self, uri: str) -> bytes:
        """An item's photo: a URL through ``fetch_url``, anything else from storage."""
        if is_fetchable(uri):
            if self.fetch_url is None:
                raise FetchRefused(f"url {uri!r} refused: this worker fetches no URLs",
                                   details={"url": uri, "reason": "no fetcher"})
            return await self.fetch_url(uri)
        return await asyncio.to_thread(self.storage.read, uri)

    async def process(self, claimed: Claimed) -> None:
        """Run one claimed item to its end and record it. A URL item's photo is fetched here
        and then goes through the runner exactly as an upload does; a fetch that failed in a
        passing way leaves the item to be taken again one lease later (``store.defer``) until
        ``fetch_attempts`` claims are spent, then it is recorded as the item's error."""
        runner = self.runners[claimed.vertical]
        try:
            context = claimed.context
            if claimed.vertical == "listing":
                context = await item_context(self.store, claimed, runner.steps.scene, read=self.read_input)
            data = await self.read_input(claimed.input_uri)
            result = await runner.run(data, claimed.filename, claimed.options,
                                      request_id=f"{claimed.job_id}-{claimed.n}", context=context,
                                      smart_retry=claimed.controls.get("smart_retry"), look=claimed.look or None)
        except WorkerLost:
            raise  # not the photo's fault: the claim lapses and the item runs again
        except FetchFailed as exc:
            if exc.transient and claimed.claims < self.fetch_attempts:
                self._held.pop(claimed.claim, None)  # the heartbeat must not renew it
                await asyncio.to_thread(self.store.defer, claimed, self.lease_s)
                logger.info("job %s item %s: %s; taken again in %.0f s", claimed.job_id, claimed.n,
                            exc.message, self.lease_s)
                return
            exc.details["attempts"] = claimed.claims
            result = ItemResult(state="error", error=error_of(exc))
        except Exception as exc:  # storage trouble, a refused URL: the item reports it, the job goes on
            result = ItemResult(state="error", error=error_of(exc))
        closed = await asyncio.to_thread(self._record, claimed, result)
        self.processed += 1
        if closed is not None and self.on_progress is not None:
            try:
                await self.on_progress(claimed.job_id, claimed.n, closed)
            except Exception:
                logger.exception("job progress callback failed")

    def _record(self, claimed: Claimed, result: ItemResult) -> str | None:
        output_uri = sha = None
        out_key, report_key = output_keys(claimed.job_id, claimed.n, result.extension)
        report: dict[str, Any] = {"job_id": claimed.job_id, "n": claimed.n, "filename": claimed.filename,
                                  "state": result.state, "verdict": result.verdict,
                                  "billable": result.billable, "error": result.error,
                                  "report": jsonable(result.report)}
        if result.encoded is not None:
            output_uri = self.storage.write(out_key, result.encoded)
            sha = hashlib.sha256(result.encoded).hexdigest()
        report_uri = self.storage.write(report_key, json.dumps(report, sort_keys=True).encode())
        # The reference item of a consistency-locked job sets the job's look ({} when it
        # could not be measured: the others then run unlocked, and the summary says so).
        look = look_of(result.report) if claimed.reference else None
        ended = self.store.finish(claimed, state=result.state, verdict=result.verdict, billable=result.billable,
                                  media_type=result.media_type, output_uri=output_uri, output_sha256=sha,
                                  report_uri=report_uri, error=result.error, look=look)
        return close_job(self.store, claimed.job_id) if ended == "ready" else ended


def close_job(store: JobStore, job_id: str) -> str:
    """Measure a job whose items have all ended and close it with that summary; returns
    its final state ("" if another worker closed it first)."""
    return store.close(job_id, {"consistency": measure_job(store, job_id)})
