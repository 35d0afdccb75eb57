"""A graceful stop: the workers claim nothing new, the items in hand get the grace period
to finish and are recorded once; what is still running after it goes back to the queue at
once (not after its lease), and a fresh service finishes the job with nothing lost."""
from __future__ import annotations

import asyncio

from lumograph.jobs.runner import ItemResult
from lumograph.jobs.service import JobService, Upload
from lumograph.serve.schemas import LightboxOptions
from tests.jobs.conftest import settings_for, wait_done

OPTIONS = LightboxOptions().model_dump(mode="json")


class SlowRunner:
    """Each photo takes ``seconds``; the result is a rejection (no image to store)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = 0

    async def run(self, data, filename, options, **kwargs):
        self.started += 1
        await asyncio.sleep(self.seconds)
        return ItemResult(state="rejected", verdict="fail", report={"slow": True})


def service_with(tmp_path, seconds: float) -> tuple[JobService, SlowRunner]:
    runner = SlowRunner(seconds)
    # A long lease: an item handed back is taken again at once, not when its lease ends.
    settings = settings_for(tmp_path, concurrency=2, lease_s=600.0, poll_s=0.05)
    return JobService(settings, {"jewelry": runner, "listing": runner}), runner


def submit(service, n: int) -> str:
    job_id, _ = service.submit(vertical="jewelry", options=OPTIONS,
                               uploads=[Upload(f"p{i}.jpg", b"\xff\xd8 not decoded here") for i in range(n)])
    return job_id


def test_items_in_hand_finish_within_the_grace_and_nothing_new_is_claimed(tmp_path):
    async def go():
        service, runner = service_with(tmp_path, 0.5)
        await service.start()
        job_id = await asyncio.to_thread(submit, service, 6)
        await asyncio.sleep(0.2)  # two items in hand
        outcome = await service.stop(grace_s=5.0)
        return outcome, runner.started, service.store.counts(job_id)

    outcome, started, counts = asyncio.run(go())
    assert started == 2 and outcome == {"finished": 2, "handed_back": 0}
    assert counts.get("rejected") == 2 and counts.get("queued") == 4 and not counts.get("running")


def test_items_past_the_grace_go_back_to_the_queue_at_once_and_run_after_a_restart(tmp_path):
    async def go():
        service, _ = service_with(tmp_path, 30.0)
        await service.start()
        job_id = await asyncio.to_thread(submit, service, 3)
        await asyncio.sleep(0.2)
        outcome = await service.stop(grace_s=0.2)
        counts = service.store.counts(job_id)
        again, runner = service_with(tmp_path, 0.05)  # the service started again, same database
        await again.start()
        try:
            status = await wait_done(again, job_id, timeout_s=20)  # far less than the 600 s lease
        finally:
            await again.stop()
        rows = again.store.item_rows(job_id)
        return outcome, counts, status, rows

    outcome, counts, status, rows = asyncio.run(go())
    assert outcome == {"finished": 0, "handed_back": 2}
    assert counts.get("queued", 0) + counts.get("running", 0) == 3
    assert status["state"] in ("done", "failed") and [r.state for r in rows] == ["rejected"] * 3
    assert all((r.completions or 0) == 1 for r in rows)
