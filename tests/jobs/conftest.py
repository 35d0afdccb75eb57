"""Shared pieces of the job tests: photos, one set of in-process module cores, a service."""
from __future__ import annotations

import asyncio

import cv2
import pytest

from lumograph.bench.synthetic import ring_photo
from lumograph.graphs.local import LocalModules
from lumograph.jobs.runner import PhotoRunner
from lumograph.jobs.service import JobService, JobSettings
from lumograph.jobs.webhooks import RetryPolicy

SECRET = b"test-secret"


def jpeg(seed: int, width: int = 2000, height: int = 1500) -> bytes:
    return jpeg_rgb(ring_photo(width, height, with_chain=False, seed=seed).rgb)


def jpeg_rgb(rgb) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return data.tobytes()


@pytest.fixture(scope="session")
def modules() -> LocalModules:
    return LocalModules.build()


@pytest.fixture(scope="session")
def photos() -> list[bytes]:
    return [jpeg(seed) for seed in range(4)]


def settings_for(tmp_path, **overrides) -> JobSettings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    base = dict(database_url=f"sqlite:///{tmp_path}/jobs.sqlite3", storage_root=str(tmp_path / "store"),
                webhook_secret=SECRET, concurrency=2, lease_s=5.0, poll_s=0.1,
                allow_private_callbacks=True,
                retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05, timeout_s=2.0))
    base.update(overrides)
    return JobSettings(**base)


def runners(modules: LocalModules) -> dict[str, PhotoRunner]:
    return {"jewelry": PhotoRunner("jewelry", modules.jewelry_steps(threaded=True)),
            "listing": PhotoRunner("listing", modules.listing_steps(threaded=True))}


def make_service(tmp_path, modules, **overrides) -> JobService:
    return JobService(settings_for(tmp_path, **overrides), runners(modules))


async def wait_done(service: JobService, job_id: str, timeout_s: float = 120.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status = await asyncio.to_thread(service.status, job_id)
        if status["state"] in ("done", "failed", "cancelled"):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job not finished in {timeout_s} s: {status['counts']}")
        await asyncio.sleep(0.1)
