"""Job items on a pool of Ray actors (jobs app ``steps: actors``): a job runs to the end, and
actors killed mid-item cost their items nothing but a second claim (new actors take over)."""
from __future__ import annotations

import asyncio

import pytest
import ray

from lumograph.jobs.actors import ActorPool, PoolRunner
from lumograph.jobs.service import JobService
from lumograph.serve.schemas import LightboxOptions
from tests.jobs.conftest import settings_for, wait_done
from tests.jobs.test_service import uploads

OPTIONS = LightboxOptions().model_dump(mode="json")


@pytest.fixture(scope="module")
def ray_local():
    if ray.is_initialized():  # a session cluster of another test module: use it as it is
        yield
        return
    ray.init(num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             namespace="lg-jobs-actors-test", log_to_driver=False)
    yield
    ray.shutdown()


def test_a_job_runs_on_the_actor_pool_and_survives_dead_actors(ray_local, tmp_path, photos):
    pool = ActorPool(2, backend="classical")
    assert pool.actors == []  # nothing held until the first item

    async def go():
        service = JobService(settings_for(tmp_path, lease_s=1.0),
                             {v: PoolRunner(v, pool) for v in ("jewelry", "listing")})
        await service.start()
        try:
            job_id, _ = service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos, broken=True))
            # Kill the actors once the job is under way (both are busy: 2 workers, 2 actors).
            while not any(r.state == "running" for r in service.store.item_rows(job_id)):
                await asyncio.sleep(0.05)
            for actor in list(pool.actors):
                ray.kill(actor, no_restart=True)
            return await wait_done(service, job_id), service.store.item_rows(job_id)
        finally:
            await service.stop()

    status, rows = asyncio.run(go())
    assert status["state"] == "done"
    assert [r.completions for r in rows] == [1] * len(rows)
    assert sum(r.claims for r in rows) > len(rows)  # the killed actor's item was taken again
    assert rows[1].state == "error" and rows[1].error["code"] == "invalid_image"
    assert all(r.state == "done" for n, r in enumerate(rows) if n != 1)
