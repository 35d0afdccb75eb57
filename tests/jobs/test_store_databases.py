"""The job store on both databases it supports: SQLite (WAL, the embedded default) and a
real PostgreSQL server. Racing workers never take the same item, racing submits with one
idempotency key make one job, a lost claim is never recorded, and the migrated schema is
the code's."""
from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from lumograph.jobs.db import metadata, open_db
from lumograph.jobs.store import JobStore, NewItem, NewJob
from tests.jobs.postgres import missing_reason, postgres_server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/jobs.sqlite3"
        return
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with postgres_server() as pg_url:
        yield pg_url


@pytest.fixture
def store(url):
    engine = open_db(url)
    with engine.begin() as c:
        for table in ("deliveries", "items", "jobs"):
            c.execute(text(f"DELETE FROM {table}"))
    return JobStore(engine)


def job(n_items: int, **kw) -> NewJob:
    return NewJob(vertical="jewelry", options={"marketplace": "amazon"},
                  items=[NewItem(f"/in/{i}.jpg", f"{i}.jpg", 10) for i in range(n_items)], **kw)


def test_the_migrated_schema_is_the_codes_and_sqlite_runs_in_wal(store, url):
    with store.engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), metadata) == []
        if url.startswith("sqlite"):
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    open_db(url)  # a second start migrates nothing and fails nothing


def test_racing_workers_take_every_item_exactly_once(store):
    job_id, _ = store.create(job(40))
    taken: list[tuple[int, str]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (claimed := store.claim(name, 60.0)) is not None:
            with lock:
                taken.append((claimed.n, name))
            assert store.finish(claimed, state="done", verdict="pass", billable=True) is not None

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(n for n, _ in taken) == list(range(40))
    rows = store.item_rows(job_id)
    assert all(r.claims == 1 and r.completions == 1 for r in rows)
    # Every item ended; the job closes once, with its summary, and is then no longer open.
    assert store.unclosed_jobs() == [job_id]
    assert store.close(job_id, {"k": 1}) == "done" and store.close(job_id) == ""
    assert store.job_row(job_id).state == "done" and store.job_row(job_id).summary == {"k": 1}
    assert store.unclosed_jobs() == []
    assert store.billing(job_id)["billable"] == 40


def test_racing_submits_with_one_key_make_one_job(store):
    results: list[tuple[str, bool]] = []

    def submit(i: int) -> None:
        results.append(store.create(job(2, idempotency_key="same", request_hash="h")))

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({job_id for job_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_an_expired_claim_is_taken_again_and_the_late_result_dropped(store):
    job_id, _ = store.create(job(1))
    stale = store.claim("dead", -1.0)  # a lease already over
    fresh = store.claim("alive", 60.0)
    assert fresh is not None and fresh.n == stale.n and fresh.claim != stale.claim
    assert store.finish(stale, state="error", error={"code": "late"}) is None
    assert store.finish(fresh, state="done", verdict="pass") == "ready"
    row = store.item_rows(job_id)[0]
    assert (row.claims, row.completions, row.state) == (2, 1, "done")


def test_recover_requeues_only_expired_leases(store):
    store.create(job(2))
    live = store.claim("alive", 60.0)
    expired = store.claim("dead", -1.0)
    assert store.recover() == 1
    rows = {r.n: r for r in store.item_rows(expired.job_id)}
    assert rows[expired.n].state == "queued" and rows[live.n].state == "running"


def test_a_whole_job_runs_on_this_database(url, tmp_path, modules):
    import asyncio

    from lumograph.jobs.service import Upload
    from lumograph.serve.schemas import LightboxOptions
    from tests.jobs.conftest import jpeg, make_service, wait_done

    async def go():
        service = make_service(tmp_path, modules, database_url=url)
        await service.start()
        try:
            job_id, _ = service.submit(vertical="jewelry", options=LightboxOptions().model_dump(mode="json"),
                                       uploads=[Upload("a.jpg", jpeg(0)), Upload("b.jpg", b"not an image")],
                                       idempotency_key=f"db-{tmp_path.name}")
            return await wait_done(service, job_id)
        finally:
            await service.stop()

    status = asyncio.run(go())
    assert status["state"] == "done" and status["counts"]["done"] == 1 and status["counts"]["error"] == 1
    assert status["summary"]["consistency"]["n_delivered"] == 1
