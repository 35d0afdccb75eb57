"""Jobs whose photos are URLs, at the service level: checked at submit, fetched by the
worker through the input guard (a stub resolver, a local photo server on 127.0.0.1 that the
guard allows as its one exception), passing failures taken again, and the completion
webhook refused when its name was re-pointed inside after the submit."""
from __future__ import annotations

import asyncio
import json
from typing import Self

import pytest
from aiohttp import web

from lumograph.jobs.fetch import FetchRefused, InvalidURL
from lumograph.jobs.service import JobTooLarge, Upload
from lumograph.jobs.storage import Storage
from lumograph.jobs.store import IdempotencyConflict
from lumograph.models.common.errors import InvalidOptions
from lumograph.serve.schemas import LightboxOptions
from tests.jobs.conftest import make_service, wait_done
from tests.jobs.netstub import StubDNS, bar_system_dns

OPTIONS = LightboxOptions().model_dump(mode="json")
LOOPBACK = frozenset({"127.0.0.1"})


@pytest.fixture(autouse=True)
def no_system_dns(monkeypatch):
    bar_system_dns(monkeypatch)


class ScriptedServer:
    """Serves ``routes`` (path -> list of (status, body, headers); the last one repeats) on
    ``host`` and records each request's path."""

    def __init__(self, routes: dict, host: str = "127.0.0.1"):
        self.routes = {path: list(answers) for path, answers in routes.items()}
        self.host = host
        self.paths: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        answers = self.routes.get(request.path, [(404, b"", {})])
        status, body, headers = answers.pop(0) if len(answers) > 1 else answers[0]
        return web.Response(status=status, body=body, headers=headers)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, 0).start()
        self.port = self.runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


def test_url_photos_are_checked_at_submit_without_any_lookup(tmp_path, modules, photos):
    dns = StubDNS({"photos.example.com": ["127.0.0.1"]})
    service = make_service(tmp_path, modules, resolver=dns, allowed_addresses=LOOPBACK)
    good = ["https://photos.example.com/a/ring%201.jpg", "https://photos.example.com/b.png?size=full"]
    job_id, created = service.submit(vertical="jewelry", options=OPTIONS, urls=good, idempotency_key="u-1")
    assert created
    rows = service.store.item_rows(job_id)
    assert [(r.input_uri, r.filename) for r in rows] == [(good[0], "ring 1.jpg"), (good[1], "b.png")]
    # The URLs are part of the idempotent request.
    assert service.submit(vertical="jewelry", options=OPTIONS, urls=good, idempotency_key="u-1") == (job_id, False)
    elsewhere = ["https://elsewhere.example.com/a/ring%201.jpg", good[1]]  # same names, another host
    with pytest.raises(IdempotencyConflict):
        service.submit(vertical="jewelry", options=OPTIONS, urls=elsewhere, idempotency_key="u-1")

    for url, error, code in [("ftp://photos.example.com/a.jpg", InvalidURL, "invalid_url"),
                             ("file:///etc/passwd", InvalidURL, "invalid_url"),
                             ("https://me:pw@photos.example.com/a.jpg", InvalidURL, "invalid_url"),
                             ("http://169.254.169.254/latest/meta-data/", FetchRefused, "fetch_refused"),
                             ("http://[::1]/a.jpg", FetchRefused, "fetch_refused"),
                             ("http://localhost/a.jpg", FetchRefused, "fetch_refused")]:
        with pytest.raises(error) as info:
            service.submit(vertical="jewelry", options=OPTIONS, urls=[good[0], url])
        assert info.value.code == code, url
    assert dns.lookups == []  # a submit never waits on DNS: names are resolved when fetched

    for mixed in ({"uploads": [Upload("r.jpg", photos[0])]}, {"source": str(tmp_path)}):
        with pytest.raises(InvalidOptions) as info:
            service.submit(vertical="jewelry", options=OPTIONS, urls=good, **mixed)
        assert info.value.code == "invalid_options"
    service.settings.limits.max_items = 1
    with pytest.raises(JobTooLarge):
        service.submit(vertical="jewelry", options=OPTIONS, urls=good)
    with pytest.raises(InvalidOptions, match="a URL"):  # storage never fetches a URL itself
        Storage.read(good[0])


def test_a_url_job_fetches_through_the_guard_retries_passing_failures_and_refuses_a_rebound_webhook(
        tmp_path, modules, photos):
    photo = photos[0]
    ok = (200, photo, {"Content-Type": "image/jpeg"})

    async def go():
        async with ScriptedServer({
            "/ring.jpg": [ok],
            "/flaky.jpg": [(503, b"busy", {}), ok],
            "/down.jpg": [(503, b"busy", {})],
            "/missing.jpg": [(404, b"", {})],
            "/inside.jpg": [(302, b"", {"Location": "http://internal.example/ring.jpg"})],
            "/junk.jpg": [(200, b"\xff\xd8\xff\xe0 not really a jpeg" * 10, {"Content-Type": "image/jpeg"})],
        }) as server, ScriptedServer({"/hook": [(200, b"", {})]}, host="127.0.0.2") as inside:
            hook = {"now": ["93.184.216.34"]}
            dns = StubDNS({"photos.example.com": ["127.0.0.1"], "internal.example": ["10.0.0.5"],
                           "hooks.example.com": lambda: hook["now"]})
            service = make_service(tmp_path, modules, resolver=dns, allowed_addresses=LOOPBACK,
                                   allow_private_callbacks=False, fetch_attempts=2, lease_s=1.0)
            await service.start()
            try:
                base = f"http://photos.example.com:{server.port}"
                names = ["ring", "flaky", "down", "missing", "inside", "junk"]
                job_id, _ = await asyncio.to_thread(
                    service.submit, vertical="jewelry", options=OPTIONS, urls=[f"{base}/{n}.jpg" for n in names],
                    callback_url=f"http://hooks.example.com:{inside.port}/hook")
                hook["now"] = ["127.0.0.2"]  # public when the job was accepted, inside by delivery time
                status = await wait_done(service, job_id)
                await service.notifier.drain(10)
                rows = await asyncio.to_thread(service.store.item_rows, job_id)
                deliveries = await asyncio.to_thread(service.store.deliveries, job_id)
                webhook = (await asyncio.to_thread(service.status, job_id))["webhook"]
                return status, rows, deliveries, webhook, server.paths, inside.paths
            finally:
                await service.stop()

    status, rows, deliveries, webhook, paths, hook_hits = asyncio.run(go())
    items = status["items"]
    # Fetched photos run exactly as uploads do: the decoder saw the same bytes and name.
    for n in (0, 1):
        assert items[n]["state"] in ("done", "rejected") and "error" not in items[n], items[n]
        report = json.loads(Storage.read(rows[n].report_uri))["report"]
        assert report["input"]["bytes"] == len(photo) and report["input"]["format"] == "JPEG"
        assert report["input"]["filename"] == ["ring.jpg", "flaky.jpg"][n]
    assert [r.claims for r in rows] == [1, 2, 2, 1, 1, 1]  # a 503 is taken again, the rest are not
    assert paths.count("/flaky.jpg") == 2 and paths.count("/down.jpg") == 2
    down, missing, inside_, junk = (items[n]["error"] for n in (2, 3, 4, 5))
    assert down["code"] == "fetch_failed" and down["details"]["transient"] is True
    assert down["details"]["status"] == 503 and down["details"]["attempts"] == 2
    assert missing["code"] == "fetch_failed" and missing["details"]["transient"] is False
    assert missing["details"]["status"] == 404
    assert inside_["code"] == "fetch_refused" and "10.0.0.5, a private address" in inside_["details"]["reason"]
    assert junk["code"] == "invalid_image"  # the same decode path as an uploaded photo
    # The completion webhook: refused at delivery (the name now points inside), never connected.
    assert hook_hits == []
    assert webhook["state"] == "failed"
    assert len(deliveries) == 1 and deliveries[0]["error"].startswith("refused:")
    assert "127.0.0.2, a loopback address" in deliveries[0]["error"]
