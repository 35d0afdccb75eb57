"""Webhooks: signing, verification, the retry schedule, delivery against real local HTTP
servers (flaky, down, slow, trickling, redirecting) and the callback URL SSRF guard."""
from __future__ import annotations

import asyncio
import functools
import hmac
import json
import random
import socket
import time

import httpx
import pytest
from aiohttp import web

from lumograph.jobs import webhooks
from lumograph.jobs.fetch import AddressGuard
from lumograph.jobs.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    REPLAY_WINDOW_S,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Attempt,
    CallbackRejected,
    RetryPolicy,
    encode_body,
    sign,
    validate_callback_url,
    verify,
)
from lumograph.models.common.errors import InvalidOptions

SECRET = b"whsec_test_0123456789"
PAYLOAD = {"event": "job.completed", "job": {"id": "job_1", "status": "succeeded", "items": [1, 2], "note": "bagué"}}
T0 = 1_760_000_000
#: The receivers below listen on 127.0.0.1: their deliveries' guard lets exactly that address
#: through (every other non-public address stays refused; tests/jobs/test_fetch.py).
deliver = functools.partial(webhooks.deliver, guard=AddressGuard(allowed=frozenset({"127.0.0.1"})))

# ------------------------------------------------------------------ encode / sign / verify


def test_encode_body_is_compact_sorted_utf8_json():
    body = encode_body({"b": 1, "a": {"d": [1, 2], "c": "é"}})
    assert body == '{"a":{"c":"é","d":[1,2]},"b":1}'.encode()
    assert json.loads(body) == {"b": 1, "a": {"d": [1, 2], "c": "é"}}
    with pytest.raises(ValueError):
        encode_body({"x": float("nan")})


def test_sign_is_hmac_sha256_over_timestamp_dot_body():
    body = encode_body(PAYLOAD)
    expected = hmac.new(SECRET, f"{T0}.".encode() + body, "sha256").hexdigest()
    assert sign(SECRET, T0, body) == "sha256=" + expected
    with pytest.raises(TypeError):
        sign(SECRET, float(T0), body)
    with pytest.raises(ValueError):
        sign(b"", T0, body)


def test_verify_round_trip_and_window_edges():
    body = encode_body(PAYLOAD)
    signature = sign(SECRET, T0, body)
    assert verify(SECRET, body, str(T0), signature, now=T0)
    assert verify(SECRET, body, str(T0), signature, now=T0 + REPLAY_WINDOW_S)
    assert verify(SECRET, body, str(T0), signature, now=T0 - REPLAY_WINDOW_S)
    assert verify(SECRET, body, str(T0), signature, now=T0 + 30, tolerance_s=30)
    assert not verify(SECRET, body, str(T0), signature, now=T0 + 31, tolerance_s=30)


@pytest.mark.parametrize("case", ["tampered body", "wrong secret", "old timestamp", "future timestamp",
                                  "timestamp swapped", "no timestamp", "no signature", "garbled timestamp",
                                  "garbled signature", "no prefix", "other algorithm", "truncated"])
def test_verify_refuses(case):
    body = encode_body(PAYLOAD)
    signature = sign(SECRET, T0, body)
    args = {"secret": SECRET, "body": body, "timestamp_header": str(T0), "signature_header": signature, "now": T0}
    changes = {
        "tampered body": {"body": body.replace(b"succeeded", b"succeedex")},
        "wrong secret": {"secret": b"whsec_other"},
        "old timestamp": {"now": T0 + REPLAY_WINDOW_S + 1},
        "future timestamp": {"now": T0 - REPLAY_WINDOW_S - 1},
        # A captured signature re-sent with a fresh timestamp must not pass.
        "timestamp swapped": {"timestamp_header": str(T0 + 1)},
        "no timestamp": {"timestamp_header": None},
        "no signature": {"signature_header": None},
        "garbled timestamp": {"timestamp_header": "17e8"},
        "garbled signature": {"signature_header": "sha256=" + "zz" * 32},
        "no prefix": {"signature_header": signature.removeprefix("sha256=")},
        "other algorithm": {"signature_header": "sha1=" + signature.removeprefix("sha256=")},
        "truncated": {"signature_header": signature[:-2]},
    }
    assert verify(**args)  # the unchanged call passes, so each refusal below is the change's doing
    args.update(changes[case])
    assert verify(**args) is False


def test_verify_compares_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)
    body = encode_body(PAYLOAD)
    assert verify(SECRET, body, str(T0), sign(SECRET, T0, body), now=T0)
    assert not verify(b"other", body, str(T0), sign(SECRET, T0, body), now=T0)
    assert len(calls) == 2


# ------------------------------------------------------------------ retry policy


def test_delay_full_jitter_bounds_and_growth():
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=60.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 32.0), (7, 60.0), (12, 60.0), (5000, 60.0)]:
        samples = [policy.delay(attempt, rng) for _ in range(400)]
        assert all(0.0 <= s <= ceiling for s in samples), attempt
        # Full jitter spreads over the whole [0, ceiling): not a fixed back-off, not a capped-low one.
        assert max(samples) > 0.9 * ceiling and min(samples) < 0.1 * ceiling, attempt
    assert policy.delay(3, random.Random(1)) == policy.delay(3, random.Random(1))
    with pytest.raises(ValueError):
        policy.delay(0, rng)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_default_policy():
    policy = webhooks.DEFAULT_POLICY
    assert policy == RetryPolicy()
    assert (policy.max_attempts, policy.base_delay_s, policy.max_delay_s, policy.timeout_s) == (6, 1.0, 60.0, 10.0)


# ------------------------------------------------------------------ delivery against real servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """An aiohttp server on 127.0.0.1 in the test's own loop, answering from a script."""

    def __init__(self, answers, *, slow_s: float = 0.0):
        self.answers = list(answers)  # statuses, in order; the last one repeats
        self.slow_s = slow_s
        self.requests: list[dict] = []
        self.elsewhere_hits = 0
        self.release = asyncio.Event()

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if self.slow_s:
            try:
                await asyncio.wait_for(self.release.wait(), self.slow_s)
            except TimeoutError:
                pass
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if 300 <= status < 400:
            return web.Response(status=status, headers={"Location": f"{self.url_base}/elsewhere"})
        return web.Response(status=status, text="ok" if status < 300 else "nope")

    async def elsewhere(self, request: web.Request) -> web.Response:
        self.elsewhere_hits += 1
        return web.Response(status=200)

    async def __aenter__(self):
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        app.router.add_route("*", "/elsewhere", self.elsewhere)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url_base = f"http://{host}:{port}"
        self.url = f"{self.url_base}/hook"
        return self

    async def __aexit__(self, *exc):
        self.release.set()
        await self.runner.cleanup()


class Sleeps:
    """A recording stand-in for asyncio.sleep that also notes how many attempts were recorded."""

    def __init__(self, attempts: list):
        self.attempts = attempts
        self.calls: list[tuple[float, int]] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append((seconds, len(self.attempts)))


def test_deliver_retries_500s_then_succeeds_with_verifiable_signatures():
    attempts: list[Attempt] = []

    async def record(attempt: Attempt) -> None:  # async record is awaited
        attempts.append(attempt)

    sleeps = Sleeps(attempts)
    ticks = iter(range(T0, T0 + 100, 7))  # each attempt reads a later clock

    async def main():
        async with Receiver([500, 500, 200]) as receiver:
            ok = await deliver(receiver.url, PAYLOAD, secret=SECRET, event="job.completed",
                               policy=RetryPolicy(base_delay_s=0.01), record=record, sleep=sleeps,
                               rng=random.Random(3), clock=lambda: float(next(ticks)))
            return ok, receiver.requests

    ok, requests = asyncio.run(main())
    assert ok is True
    assert len(requests) == 3 and len(attempts) == 3
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert [a.delivered for a in attempts] == [False, False, True]
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert attempts[0].error == "HTTP 500" and attempts[2].error is None
    assert len({a.delivery_id for a in attempts}) == 1
    timestamps = []
    for request, attempt in zip(requests, attempts, strict=True):
        headers = request["headers"]
        assert request["body"] == encode_body(PAYLOAD)
        assert headers["Content-Type"] == "application/json"
        assert headers[EVENT_HEADER] == "job.completed"
        assert headers[DELIVERY_HEADER] == attempt.delivery_id
        timestamp = headers[TIMESTAMP_HEADER]
        assert verify(SECRET, request["body"], timestamp, headers[SIGNATURE_HEADER], now=int(timestamp))
        assert attempt.at == int(timestamp)
        timestamps.append(int(timestamp))
    assert timestamps == sorted(set(timestamps))  # a fresh timestamp (and signature) per attempt
    # Two pauses, each after its attempt was recorded, drawn from the policy with the given rng.
    replay = random.Random(3)
    policy = RetryPolicy(base_delay_s=0.01)
    assert sleeps.calls == [(policy.delay(1, replay), 1), (policy.delay(2, replay), 2)]


def test_deliver_accepts_any_2xx_first_time_with_sync_record():
    attempts: list[Attempt] = []

    async def main():
        async with Receiver([204]) as receiver:
            return await deliver(receiver.url, PAYLOAD, secret=SECRET, event="job.item", record=attempts.append,
                                 delivery_id="dlv_fixed")

    assert asyncio.run(main()) is True
    assert [(a.attempt, a.status_code, a.delivered, a.delivery_id) for a in attempts] == [(1, 204, True, "dlv_fixed")]


def test_deliver_to_a_dead_port_gives_up_without_raising():
    attempts: list[Attempt] = []
    sleeps = Sleeps(attempts)
    url = f"http://127.0.0.1:{_free_port()}/hook"
    ok = asyncio.run(deliver(url, PAYLOAD, secret=SECRET, event="job.completed", record=attempts.append,
                             policy=RetryPolicy(max_attempts=4, base_delay_s=0.01), sleep=sleeps))
    assert ok is False
    assert len(attempts) == 4 and len(sleeps.calls) == 3
    assert all(a.status_code is None and a.error and not a.delivered for a in attempts)
    assert all(seconds <= 0.01 * 2 ** (n - 1) for seconds, n in sleeps.calls)


@pytest.mark.parametrize("server", ["sleeps", "trickles"])
def test_deliver_cuts_each_attempt_at_timeout(server):
    timeout_s = 0.4
    attempts: list[Attempt] = []

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Every byte arrives well inside httpx's per-read timeout; only a whole-exchange
        # deadline stops this receiver from holding the attempt for seconds.
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(60):
                writer.write(b"X")
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main():
        policy = RetryPolicy(max_attempts=2, base_delay_s=0.01, timeout_s=timeout_s)
        if server == "sleeps":
            async with Receiver([200], slow_s=3.0) as receiver:
                return await deliver(receiver.url, PAYLOAD, secret=SECRET, event="job.completed",
                                     policy=policy, record=attempts.append)
        listener = await asyncio.start_server(trickle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        async with listener:
            return await deliver(f"http://127.0.0.1:{port}/hook", PAYLOAD, secret=SECRET, event="job.completed",
                                 policy=policy, record=attempts.append)

    started = time.monotonic()
    ok = asyncio.run(main())
    elapsed = time.monotonic() - started
    assert ok is False and len(attempts) == 2
    for attempt in attempts:
        assert attempt.status_code is None and "timed out" in attempt.error
        assert timeout_s * 0.9 <= attempt.duration_s <= timeout_s + 0.5, attempt.duration_s
    assert elapsed < 2 * timeout_s + 1.5  # without a whole-exchange deadline: > 3 s


def test_deliver_does_not_follow_redirects():
    attempts: list[Attempt] = []

    async def main():
        async with Receiver([302]) as receiver:
            ok = await deliver(receiver.url, PAYLOAD, secret=SECRET, event="job.completed", record=attempts.append,
                               policy=RetryPolicy(max_attempts=2, base_delay_s=0.01))
            return ok, receiver

    ok, receiver = asyncio.run(main())
    assert ok is False
    assert receiver.elsewhere_hits == 0 and len(receiver.requests) == 2
    assert [(a.status_code, a.delivered) for a in attempts] == [(302, False), (302, False)]
    assert "redirect" in attempts[0].error and "/elsewhere" in attempts[0].error


def test_deliver_with_a_callers_client_still_refuses_redirects():
    attempts: list[Attempt] = []

    async def main():
        async with Receiver([307]) as receiver, httpx.AsyncClient(follow_redirects=True) as client:
            ok = await deliver(receiver.url, PAYLOAD, secret=SECRET, event="job.completed", record=attempts.append,
                               policy=RetryPolicy(max_attempts=1), client=client)
            return ok, receiver.elsewhere_hits, client.is_closed

    assert asyncio.run(main()) == (False, 0, False)  # the caller's client is left open for its owner
    assert attempts[0].status_code == 307


def test_deliver_does_not_retry_an_unusable_url():
    attempts: list[Attempt] = []
    ok = asyncio.run(deliver("ftp://127.0.0.1/hook", PAYLOAD, secret=SECRET, event="job.completed",
                             record=attempts.append, policy=RetryPolicy(base_delay_s=0.01)))
    assert ok is False and len(attempts) == 1 and attempts[0].status_code is None


# ------------------------------------------------------------------ callback URL guard


def _no_dns(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected DNS lookup {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _fake_dns(monkeypatch, table: dict[str, list[str]]):
    def resolve(host, port, *args, **kwargs):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in table[host]]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


ALWAYS_REFUSED = ["ftp://hooks.example.com/x", "https:///hook", "https://user:pass@hooks.example.com/x",
                  "https://user@hooks.example.com/x", "file:///etc/passwd", "https://hooks.example.com:99999/x",
                  " https://hooks.example.com/x"]
PRIVATE = ["http://127.0.0.1/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data",
           "http://[::1]:8080/hook", "http://localhost:8000/hook", "http://0.0.0.0/hook", "http://192.168.1.5/hook",
           "http://[::ffff:127.0.0.1]/hook", "http://internal.example/hook", "http://mixed.example/hook"]
DNS = {"internal.example": ["10.0.0.5"], "mixed.example": ["93.184.216.34", "172.16.0.9"],
       "hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"], "localhost": ["127.0.0.1"], "empty.example": []}


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
@pytest.mark.parametrize("allow_private", [False, True])
def test_callback_url_shape_refused(monkeypatch, url, allow_private):
    _fake_dns(monkeypatch, DNS)
    with pytest.raises(InvalidOptions) as info:
        validate_callback_url(url, allow_private=allow_private)
    assert isinstance(info.value, CallbackRejected)
    assert info.value.code == "invalid_options"
    assert "pass@" not in info.value.message  # a password is masked, never logged


@pytest.mark.parametrize("url", PRIVATE)
def test_callback_url_private_refused_unless_allowed(monkeypatch, url):
    _fake_dns(monkeypatch, DNS)
    with pytest.raises(CallbackRejected) as info:
        validate_callback_url(url)
    assert repr(url) in info.value.message and info.value.code == "invalid_options"
    assert validate_callback_url(url, allow_private=True) == url


def test_localhost_refused_with_the_real_resolver():
    with pytest.raises(CallbackRejected):
        validate_callback_url("http://localhost./hook")


def test_callback_url_public_accepted(monkeypatch):
    _no_dns(monkeypatch)
    for url in ["https://93.184.216.34/hook", "http://93.184.216.34:8080/a?b=c", "https://[2606:4700:4700::1111]/x"]:
        assert validate_callback_url(url) == url
    _fake_dns(monkeypatch, DNS)
    assert validate_callback_url("https://hooks.example.com/lumograph") == "https://hooks.example.com/lumograph"


def test_callback_url_unresolvable_refused(monkeypatch):
    _fake_dns(monkeypatch, DNS)
    with pytest.raises(CallbackRejected, match="does not resolve"):
        validate_callback_url("https://nowhere.invalid/hook")
    with pytest.raises(CallbackRejected, match="does not resolve"):
        validate_callback_url("https://empty.example/hook")


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1/hook", "loopback"), ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # an IPv4-mapped address is judged as its IPv4
    ("http://169.254.169.254/latest", "link-local"), ("http://10.1.2.3/hook", "private"),
    ("http://0.0.0.0/hook", "unspecified"), ("http://224.0.0.1/hook", "multicast"),
    ("http://100.64.0.1/hook", "not a globally routable"),
    ("http://app.localhost/hook", "loopback name"), ("http://localhost./hook", "loopback name"),
])
def test_callback_url_refusal_names_the_reason_without_dns(monkeypatch, url, reason):
    _no_dns(monkeypatch)  # literals and localhost names are judged without a lookup
    with pytest.raises(CallbackRejected) as info:
        validate_callback_url(url)
    assert reason in info.value.details["reason"], info.value.details
