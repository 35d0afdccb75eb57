"""The job service in-process: submit, work, per-item errors, idempotency, limits, cancel,
lease recovery after a dead worker, and the completion webhook."""
from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from aiohttp import web

from lumograph.jobs import webhooks
from lumograph.jobs.service import JobTooLarge, TooManyJobs, Upload
from lumograph.jobs.storage import Storage
from lumograph.jobs.store import IdempotencyConflict
from lumograph.serve.cluster import free_port
from lumograph.serve.schemas import LightboxOptions
from tests.jobs.conftest import SECRET, make_service, wait_done

OPTIONS = LightboxOptions().model_dump(mode="json")


def uploads(photos: list[bytes], broken: bool = False) -> list[Upload]:
    files = [Upload(f"ring{i}.jpg", data) for i, data in enumerate(photos)]
    if broken:
        files.insert(1, Upload("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg" * 10))
    return files


def test_a_job_runs_every_photo_and_reports_the_broken_one(tmp_path, modules, photos):
    async def go():
        service = make_service(tmp_path, modules)
        await service.start()
        try:
            job_id, created = await asyncio.to_thread(service.submit, vertical="jewelry", options=OPTIONS,
                                                      uploads=uploads(photos[:3], broken=True))
            assert created
            return await wait_done(service, job_id), service
        finally:
            await service.stop()

    status, service = asyncio.run(go())
    assert status["state"] == "done"
    assert status["n_items"] == 4 and status["progress"] == 1.0
    broken = status["items"][1]
    assert broken["state"] == "error" and broken["error"]["code"] == "invalid_image"
    others = [i for n, i in enumerate(status["items"]) if n != 1]
    assert all(i["state"] in ("done", "rejected") for i in others)
    delivered = [i for i in others if i["state"] == "done"]
    assert delivered, status["items"]
    assert status["billing"]["billable"] == sum(1 for i in others if i["verdict"] == "pass")
    for row in service.store.item_rows(status["id"]):
        assert row.completions == 1 and row.claims == 1
        report = json.loads(Storage.read(row.report_uri))
        assert report["state"] == row.state
        if row.state == "done":
            data = Storage.read(row.output_uri)
            assert hashlib.sha256(data).hexdigest() == row.output_sha256
            assert data[:2] == b"\xff\xd8"  # a JPEG, the options' format
            assert report["report"]["verdict"] == row.verdict


def test_idempotency_key_returns_the_same_job_and_refuses_another_body(tmp_path, modules, photos):
    service = make_service(tmp_path, modules)
    first, created = service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[:2]),
                                    idempotency_key="k-1")
    again, created_again = service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[:2]),
                                          idempotency_key="k-1")
    assert created and not created_again and again == first
    with pytest.raises(IdempotencyConflict):
        service.submit(vertical="jewelry", options={**OPTIONS, "fill_ratio": 0.7},
                       uploads=uploads(photos[:2]), idempotency_key="k-1")
    with pytest.raises(IdempotencyConflict):
        service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[1:3]),
                       idempotency_key="k-1")
    # Only one job's photos were stored.
    assert len(list((tmp_path / "store" / "jobs").iterdir())) == 1


def test_limits_answer_with_their_own_codes(tmp_path, modules, photos):
    service = make_service(tmp_path, modules)
    service.settings.limits.max_items = 2
    with pytest.raises(JobTooLarge):
        service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[:3]))
    service.settings.limits.max_items = 10
    service.settings.limits.max_bytes = len(photos[0]) + len(photos[1]) - 1
    with pytest.raises(JobTooLarge):
        service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[:2]))
    service.settings.limits.max_bytes = 10 ** 9
    service.settings.limits.max_active_jobs = 1
    service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[:1]))
    with pytest.raises(TooManyJobs):
        service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[1:2]))


def test_cancel_stops_what_has_not_started(tmp_path, modules, photos):
    async def go():
        service = make_service(tmp_path, modules)  # workers never started: nothing runs
        job_id, _ = service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[:3]))
        result = await service.cancel(job_id)
        return result, service.status(job_id)

    result, status = asyncio.run(go())
    assert result == {"cancelled": 3, "still_running": 0, "closed": "cancelled"}
    assert status["state"] == "cancelled" and status["counts"]["cancelled"] == 3


def test_a_dead_workers_item_is_taken_again_and_recorded_once(tmp_path, modules, photos):
    async def go():
        service = make_service(tmp_path, modules, lease_s=0.5)
        job_id, _ = service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[:2]))
        # A worker claims item 0 and dies (never finishes, never renews its lease).
        dead = service.store.claim("dead-worker", 0.5)
        assert dead is not None and dead.n == 0
        await asyncio.sleep(0.6)
        await service.start()
        try:
            status = await wait_done(service, job_id)
        finally:
            await service.stop()
        # The dead worker wakes up late: its result must not count.
        late = service.store.finish(dead, state="error", error={"code": "late"})
        return status, late, service.store.item_rows(job_id)

    status, late, rows = asyncio.run(go())
    assert late is None
    assert status["state"] == "done"
    assert [r.claims for r in rows] == [2, 1]
    assert [r.completions for r in rows] == [1, 1]
    assert all(r.state in ("done", "rejected") for r in rows)


def test_completion_webhook_is_signed_and_logged_and_a_dead_receiver_never_blocks(tmp_path, modules, photos):
    received: list[tuple[dict, bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        received.append((dict(request.headers), body))
        return web.Response(status=200)

    async def go():
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        service = make_service(tmp_path, modules)
        await service.start()
        try:
            good, _ = service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[:1]),
                                     callback_url=f"http://127.0.0.1:{port}/hook", callback_per_item=True)
            dead, _ = service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[1:2]),
                                     callback_url=f"http://127.0.0.1:{free_port()}/nobody-home")
            done = [await wait_done(service, good), await wait_done(service, dead)]
            await service.notifier.drain(10)
            return done, service
        finally:
            await service.stop()
            await runner.cleanup()

    (good, dead), service = asyncio.run(go())
    assert dead["state"] == "done"
    events = [h["X-Lumograph-Event"] for h, _ in received]
    assert sorted(events) == ["job.completed", "job.item"]
    for headers, body in received:
        assert webhooks.verify(SECRET, body, headers["X-Lumograph-Timestamp"], headers["X-Lumograph-Signature"])
        assert json.loads(body)["job"]["id"] == good["id"]
    completed = json.loads(next(b for h, b in received if h["X-Lumograph-Event"] == "job.completed"))
    assert completed["job"]["state"] == "done"
    assert service.status(good["id"])["webhook"]["state"] == "delivered"
    assert service.status(dead["id"])["webhook"]["state"] == "failed"
    log = service.store.deliveries(dead["id"])
    assert [d["attempt"] for d in log] == [1, 2, 3] and not any(d["delivered"] for d in log)


def test_a_consistency_lock_runs_the_reference_first_and_removes_the_drift(tmp_path, modules):
    from lumograph.bench.synthetic import ring_photo
    from tests.jobs.conftest import jpeg_rgb

    # One shoot under one warm light; the camera's auto white balance drifts a little from
    # shot to shot, and the piece sits at different sizes in frame.
    casts = [(1.0, 0.9, 0.75), (1.0, 0.92, 0.78), (0.98, 0.9, 0.74), (0.99, 0.91, 0.77)]
    photos = [jpeg_rgb(ring_photo(w, h, with_chain=False, seed=s, cast=cast).rgb)
              for s, ((w, h), cast) in enumerate(zip([(2400, 1800), (2000, 1500), (2200, 1650), (2600, 1950)],
                                                     casts))]

    async def run(controls):
        service = make_service(tmp_path / ("locked" if controls else "free"), modules)
        await service.start()
        try:
            job_id, _ = service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos),
                                       controls=controls)
            return await wait_done(service, job_id), service.store.item_rows(job_id), service
        finally:
            await service.stop()

    free, _, _ = asyncio.run(run(None))
    locked, rows, service = asyncio.run(run({"consistency": {"lock": True, "reference": 1}}))
    loose, tight = free["summary"]["consistency"], locked["summary"]["consistency"]
    assert tight["locked"] and tight["lock"] == "applied" and not loose["locked"]
    assert tight["n_delivered"] == loose["n_delivered"] == 4, [(i["n"], i["state"], i["verdict"], i.get("error")) for i in locked["items"]] + [json.loads(Storage.read(r.report_uri))["report"].get("retry") for r in rows]
    # What the lock holds is the same on every image: one canvas, one white point, one light.
    assert len(tight["canvas_sides"]) == 1 and len(loose["canvas_sides"]) > 1
    assert tight["white_point_spread_deg"] == 0.0 < loose["white_point_spread_deg"]
    assert tight["light_azimuth_spread_deg"] == 0.0
    assert tight["look"]["canvas_side"] == tight["canvas_sides"][0]
    # The reference ran alone first; the others only after its look was set.
    reference = next(r for r in rows if r.n == 1)
    assert all(r.started_at >= reference.finished_at for r in rows if r.n != 1)
    sheet = service.store.job_row(locked["id"])
    assert sheet.look["illuminant"] and not any(r.held for r in rows)
    from lumograph.jobs.sheet import job_sheet
    png = job_sheet(service.store, locked["id"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_listing_bundle_job_finds_its_primary_exterior_and_puts_dusk_on_it(tmp_path, modules):
    from lumograph.bench.synthetic_listing import exterior_photo, room_photo
    from lumograph.serve.jobs_ingress import bundle_contexts
    from lumograph.serve.schemas import EnhanceOptions
    from tests.jobs.conftest import jpeg_rgb

    photos = [jpeg_rgb(room_photo(1200, 900, seed=1).rgb), jpeg_rgb(exterior_photo(1200, 900, seed=2).rgb),
              jpeg_rgb(exterior_photo(1200, 900, seed=3).rgb)]
    bundle = bundle_contexts({"dusk_primary": "true"}, len(photos))

    async def go():
        service = make_service(tmp_path, modules)
        await service.start()
        try:
            job_id, _ = service.submit(vertical="listing", options=EnhanceOptions().model_dump(mode="json"),
                                       uploads=[Upload(f"p{i}.jpg", d) for i, d in enumerate(photos)],
                                       bundle=bundle)
            return await wait_done(service, job_id), service
        finally:
            await service.stop()

    status, service = asyncio.run(go())
    assert status["bundle"]["primary"] == 1 and status["bundle"]["dusk_primary"]
    reports = [json.loads(Storage.read(r.report_uri))["report"] for r in service.store.item_rows(status["id"])]
    assert [r.get("primary") for r in reports] == [False, True, False]
    assert "day_to_dusk" in reports[1]["modules_applied"]
    assert not any("day_to_dusk" in r.get("modules_applied", []) for r in (reports[0], reports[2]))


def test_a_failed_write_leaves_the_item_to_be_taken_again_and_the_worker_alive(tmp_path, modules, photos):
    async def go():
        service = make_service(tmp_path, modules, lease_s=0.6, concurrency=1)
        real_write, failures = service.storage.write, []

        def flaky_write(key, data):
            if "/out/" in key and not failures:
                failures.append(key)
                raise OSError("disk full")
            return real_write(key, data)

        service.storage.write = flaky_write
        await service.start()
        try:
            job_id, _ = service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[:2]))
            return await wait_done(service, job_id), service.store.item_rows(job_id), failures
        finally:
            await service.stop()

    status, rows, failures = asyncio.run(go())
    assert failures and status["state"] == "done"
    assert sorted(r.claims for r in rows) == [1, 2] and all(r.completions == 1 for r in rows)


def test_storage_behind_fsspec_takes_a_non_local_root(tmp_path, modules, photos):
    """An object-store-like root (fsspec's in-memory filesystem stands in for s3://)."""
    async def go():
        service = make_service(tmp_path, modules, storage_root="memory://lumograph-test-store")
        await service.start()
        try:
            job_id, _ = service.submit(vertical="jewelry", options=OPTIONS, uploads=uploads(photos[:1]))
            return await wait_done(service, job_id), service.store.item_rows(job_id)
        finally:
            await service.stop()

    status, rows = asyncio.run(go())
    assert status["state"] == "done"
    assert rows[0].input_uri.startswith("memory://") and rows[0].output_uri.startswith("memory://")
    assert Storage.read(rows[0].output_uri)[:2] == b"\xff\xd8"
