"""Webhook deliveries resolve, judge and pin the receiver's address on every attempt: a name
re-pointed at an internal address after the job was accepted (DNS rebinding) is refused and
never connected to. Names resolve through a stub; receivers listen on loopback addresses."""
from __future__ import annotations

import asyncio
from typing import Self

import pytest
from aiohttp import web

from lumograph.jobs import webhooks
from lumograph.jobs.fetch import AddressGuard
from tests.jobs.netstub import StubDNS, bar_system_dns

SECRET = b"whsec_pinning"
PAYLOAD = {"event": "job.completed", "job": {"id": "job_1"}}
POLICY = webhooks.RetryPolicy(max_attempts=3, base_delay_s=0.0, max_delay_s=0.0, timeout_s=2.0)


@pytest.fixture(autouse=True)
def no_system_dns(monkeypatch):
    bar_system_dns(monkeypatch)


class Receiver:
    """A webhook receiver on ``host`` answering ``answers`` in order (the last repeats)."""

    def __init__(self, host: str = "127.0.0.1", answers=(200,)):
        self.host = host
        self.answers = list(answers)
        self.hosts: list[str] = []

    async def hook(self, request: web.Request) -> web.Response:
        await request.read()
        self.hosts.append(request.headers.get("Host", ""))
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return web.Response(status=status)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, 0).start()
        self.port = self.runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


def test_every_attempt_resolves_again_and_posts_to_the_pinned_address_with_the_real_host():
    attempts: list[webhooks.Attempt] = []

    async def main():
        async with Receiver(answers=(500, 200)) as receiver:
            dns = StubDNS({"hooks.example.com": ["127.0.0.1"]})
            guard = AddressGuard(allowed=frozenset({"127.0.0.1"}), resolver=dns)
            url = f"http://hooks.example.com:{receiver.port}/hook"
            ok = await webhooks.deliver(url, PAYLOAD, secret=SECRET, event="job.completed", policy=POLICY,
                                        record=attempts.append, guard=guard)
            return ok, receiver, dns.lookups, url

    ok, receiver, lookups, url = asyncio.run(main())
    assert ok is True and [a.status_code for a in attempts] == [500, 200]
    assert lookups == ["hooks.example.com", "hooks.example.com"]  # once per attempt, never by httpx
    assert receiver.hosts == [f"hooks.example.com:{receiver.port}"] * 2
    assert all(a.url == url for a in attempts)  # the log keeps the URL as given, not the IP


def test_dns_rebinding_between_submit_and_delivery_is_refused_and_never_connects():
    attempts: list[webhooks.Attempt] = []

    async def main():
        # The receiver an attacker wants reached: an internal service on a loopback address.
        async with Receiver(host="127.0.0.2") as internal:
            answers = {"now": ["93.184.216.34"]}
            dns = StubDNS({"hooks.example.com": lambda: answers["now"]})
            guard = AddressGuard(resolver=dns)
            url = f"http://hooks.example.com:{internal.port}/hook"
            assert webhooks.validate_callback_url(url, guard=guard) == url  # public at submit
            answers["now"] = ["127.0.0.2"]  # ... and re-pointed before the delivery
            ok = await webhooks.deliver(url, PAYLOAD, secret=SECRET, event="job.completed", policy=POLICY,
                                        record=attempts.append, guard=guard)
            return ok, internal.hosts

    ok, hits = asyncio.run(main())
    assert ok is False and hits == []
    assert len(attempts) == 1  # refused is permanent: no retries against it
    attempt = attempts[0]
    assert attempt.status_code is None and not attempt.delivered
    assert attempt.error.startswith("refused:") and "127.0.0.2, a loopback address" in attempt.error


def test_a_name_with_one_private_address_among_public_ones_is_refused_at_delivery():
    attempts: list[webhooks.Attempt] = []
    dns = StubDNS({"hooks.example.com": ["93.184.216.34", "10.0.0.8"]})
    ok = asyncio.run(webhooks.deliver("https://hooks.example.com/hook", PAYLOAD, secret=SECRET, event="job.completed",
                                      policy=POLICY, record=attempts.append, guard=AddressGuard(resolver=dns)))
    assert ok is False and len(attempts) == 1 and "10.0.0.8, a private address" in attempts[0].error


def test_a_name_that_stops_resolving_is_a_failed_attempt_not_a_crash():
    attempts: list[webhooks.Attempt] = []
    dns = StubDNS({})
    ok = asyncio.run(webhooks.deliver("https://gone.example/hook", PAYLOAD, secret=SECRET, event="job.completed",
                                      policy=POLICY, record=attempts.append, guard=AddressGuard(resolver=dns)))
    assert ok is False and attempts and all("does not resolve" in a.error for a in attempts)
