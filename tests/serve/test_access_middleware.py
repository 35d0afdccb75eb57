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


def trickle_call(mw, token, chunks, every_s, path="/lightbox"):
    """A POST whose body arrives as ``chunks`` pieces of 5 bytes, one every ``every_s``."""
    sent = []
    left = [chunks]

    async def receive():
        await asyncio.sleep(every_s)
        left[0] -= 1
        return {"type": "http.request", "body": b"y" * 5, "more_body": left[0] > 0}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "query_string": b"",
             "headers": [(b"authorization", f"Bearer {token}".encode()), (b"x-request-id", b"loris")]}
    return mw(scope, receive, send), sent


def reading_app(release=None):
    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        if release is not None:
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
    return app


def test_a_trickled_body_is_cut_with_408_and_holds_no_slot(tmp_path):
    """Slow loris: 5 bytes every 0.1 s (and a client that sends nothing after its headers)
    against a pace of 0.3 s plus 1 s per 1,000 bytes. Each body is cut at about 0.3 s with 408 upload_timeout in JSON, and while it trickled
    the shedder counted no request in flight (a real photo could have every slot)."""
    shedder = Shedder(parallel=1, max_wait_s=1.0, initial_service_s=1.0)
    _, token, _, _ = setup(tmp_path, shedder)
    mw = AccessMiddleware(reading_app(), AccessState(
        gate=Gate(open_db(sqlite_url(tmp_path))), body_limits={"/lightbox": 10_000},
        shedders={"/lightbox": shedder}, upload_timeout_s=0.3, upload_min_bytes_per_s=1000))

    async def scenario():
        calls = [trickle_call(mw, token, chunks=1000, every_s=0.1) for _ in range(3)]
        calls.append(trickle_call(mw, token, chunks=1, every_s=30.0))  # headers, then silence
        tasks = [asyncio.ensure_future(c) for c, _ in calls]
        await asyncio.sleep(0.2)
        in_flight = shedder.in_flight
        await asyncio.wait_for(asyncio.gather(*tasks), 2.0)
        return in_flight, [sent for _, sent in calls]

    in_flight, answers = asyncio.run(scenario())
    assert in_flight == 0
    for sent in answers:
        assert sent[0]["status"] == 408
        body = json.loads(sent[1]["body"])
        assert body["code"] == "upload_timeout" and body["request_id"] == "loris"
    assert shedder.in_flight == 0


def test_a_slow_but_steady_upload_is_not_cut_and_takes_its_slot_once_in(tmp_path):
    """5 bytes every 2 ms (2,500 bytes/s) for 0.6 s keeps ahead of a pace of 0.3 s plus
    1 s per 1,000 bytes: answered 200; the slot is taken only when the body is in."""
    shedder = Shedder(parallel=1, max_wait_s=1.0, initial_service_s=1.0)
    _, token, _, _ = setup(tmp_path, shedder)
    release = asyncio.Event()
    mw = AccessMiddleware(reading_app(release), AccessState(
        gate=Gate(open_db(sqlite_url(tmp_path))), body_limits={"/lightbox": 10_000},
        shedders={"/lightbox": shedder}, upload_timeout_s=0.3, upload_min_bytes_per_s=1000))

    async def scenario():
        coro, sent = trickle_call(mw, token, chunks=300, every_s=0.002)
        task = asyncio.ensure_future(coro)
        seen = []
        while not task.done() and len(seen) < 400:
            seen.append(shedder.in_flight)
            if sent or (seen[-1] == 1 and not release.is_set()):
                release.set()
            await asyncio.sleep(0.005)
        await task
        return sent, seen

    sent, seen = asyncio.run(scenario())
    assert sent[0]["status"] == 200
    assert seen[0] == 0 and 1 in seen  # no slot while the body streamed, one once it was in
    assert shedder.in_flight == 0
