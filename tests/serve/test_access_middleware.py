"""The access middleware as pure ASGI (no cluster): shedding refuses at the door, before the
body is read, with JSON and Retry-After; a slot is freed whatever ends the request."""
import asyncio
import json

from lumograph.access.gate import Gate
from lumograph.jobs.db import open_db, sqlite_url
from lumograph.serve.access import AccessMiddleware, AccessState
from lumograph.serve.shedding import Shedder


def setup(tmp_path, shedder):
    gate = Gate(open_db(sqlite_url(tmp_path)))
    token = gate.keys.create_key("acme").token
    gate.keys.set_limits("acme", {"images_per_min": 0.001, "images_burst": 10})  # no refill during a test
    state = AccessState(gate=gate, body_limits={"/lightbox": 10_000}, shedders={"/lightbox": shedder})
    release = asyncio.Event()
    reads = []

    async def app(scope, receive, send):
        message = await receive()
        reads.append(len(message.get("body", b"")))
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return AccessMiddleware(app, state), token, release, reads


async def call(mw, token, path="/lightbox"):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"x" * 100, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "query_string": b"",
             "headers": [(b"authorization", f"Bearer {token}".encode()), (b"x-request-id", b"req-1")]}
    await mw(scope, receive, send)
    return sent


def test_a_request_that_could_not_start_in_time_is_refused_before_its_body(tmp_path):
    shedder = Shedder(parallel=1, max_wait_s=1.5, initial_service_s=1.0)
    mw, token, release, reads = setup(tmp_path, shedder)

    async def scenario():
        running = [asyncio.ensure_future(call(mw, token)) for _ in range(2)]  # 1 runs, 1 waits 1 s
        await asyncio.sleep(0.3)
        refused = await asyncio.wait_for(call(mw, token), 2.0)  # would wait 2 s > 1.5 s: refused at once
        assert shedder.in_flight == 2
        release.set()
        done = await asyncio.gather(*running)
        return refused, done

    refused, done = asyncio.run(scenario())
    start = refused[0]
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert int(headers[b"retry-after"]) >= 1 and b"ratelimit-limit" in headers
    body = json.loads(refused[1]["body"])
    assert body["code"] == "overloaded" and body["request_id"] == "req-1"
    assert len(reads) == 2  # the refused request's body was never read
    assert [d[0]["status"] for d in done] == [200, 200] and shedder.in_flight == 0
    # The refused request spent none of the tenant's images: the two that ran took one each.
    images = mw.state.gate.quotas.take("acme", "images", 0, rate_per_s=0.001 / 60, capacity=10)
    assert images.remaining == 8


def test_a_cancelled_request_frees_its_slot(tmp_path):
    shedder = Shedder(parallel=1, max_wait_s=1.5, initial_service_s=1.0)
    mw, token, release, _ = setup(tmp_path, shedder)

    async def scenario():
        task = asyncio.ensure_future(call(mw, token))
        await asyncio.sleep(0.2)
        assert shedder.in_flight == 1
        task.cancel()  # the client went away
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert shedder.in_flight == 0


def test_a_database_that_does_not_answer_is_a_503_not_a_500(tmp_path):
    shedder = Shedder(parallel=1, max_wait_s=1.5, initial_service_s=1.0)
    mw, token, release, _ = setup(tmp_path, shedder)

    def broken(*_a, **_k):
        raise RuntimeError("database is locked")

    mw.state.gate.authenticate = broken
    sent = asyncio.run(call(mw, token))
    assert sent[0]["status"] == 503 and int(dict(sent[0]["headers"])[b"retry-after"]) >= 1
    assert json.loads(sent[1]["body"])["code"] == "backend_unavailable" and shedder.in_flight == 0
