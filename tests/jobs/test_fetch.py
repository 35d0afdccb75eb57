"""The URL fetcher's guard (jobs/fetch.py) against a stub resolver and local servers only:
every name below resolves through ``StubDNS``; the local servers listen on 127.0.0.1, which
the tests' guard allows as the one exception, so every other non-public address is still
refused. No test reaches an outside address: the system resolver is barred for names."""
from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import time
from typing import Self

import httpx
import pytest
from aiohttp import web

from lumograph.jobs import fetch
from lumograph.jobs.fetch import AddressGuard, FetchFailed, FetchRefused, FetchTooLarge, InvalidURL
from tests.jobs.netstub import StubDNS, bar_system_dns

PHOTO = b"\xff\xd8\xff\xe0" + b"photo-bytes" * 100
CAP = 64 * 1024


@pytest.fixture(autouse=True)
def no_system_dns(monkeypatch):
    bar_system_dns(monkeypatch)


def local_guard(dns: StubDNS, **kwargs) -> AddressGuard:
    return AddressGuard(allowed=frozenset({"127.0.0.1"}), resolver=dns, **kwargs)


class PhotoServer:
    """An aiohttp server on 127.0.0.1 that records each request's path and Host header."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None):
        self.ssl_context = ssl_context
        self.requests: list[tuple[str, str]] = []
        self.streamed = 0

    async def _log(self, request: web.Request) -> None:
        self.requests.append((request.path_qs, request.headers.get("Host", "")))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await self._log(request)
        path = request.path
        if path == "/photo.jpg":
            return web.Response(body=PHOTO, content_type="image/jpeg")
        if path == "/exact":
            return web.Response(body=b"x" * CAP, content_type="image/jpeg")
        if path == "/redirect":
            return web.Response(status=302, headers={"Location": request.query["to"]})
        if path == "/loop":
            return web.Response(status=301, headers={"Location": "/loop"})
        if path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            return web.Response(status=307, headers={"Location": f"/chain/{left - 1}" if left else "/photo.jpg"})
        if path.startswith("/status/"):
            return web.Response(status=int(path.rsplit("/", 1)[1]), text="no")
        if path == "/declared-big":
            return web.Response(body=b"x" * (CAP + 1), content_type="image/jpeg")
        if path == "/endless":  # chunked, no Content-Length, would go on for 256 MB
            response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                for _ in range(4096):
                    await response.write(b"x" * 65536)
                    self.streamed += 65536
            except (ConnectionError, RuntimeError):
                pass
            return response
        if path == "/trickle":  # a byte every 50 ms: each read is quick, the whole is not
            response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
            await response.prepare(request)
            try:
                for _ in range(200):
                    await response.write(b"x")
                    await asyncio.sleep(0.05)
            except (ConnectionError, RuntimeError):
                pass
            return response
        return web.Response(status=404)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


def run(coro):
    return asyncio.run(coro)


# ------------------------------------------------------------------ the URL itself


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://photos.example.com/a.jpg", "scheme"), ("file:///etc/passwd", "scheme"),
    ("gopher://photos.example.com/", "scheme"), ("//photos.example.com/a.jpg", "scheme"),
    ("https://user:secret@photos.example.com/a.jpg", "credentials"),
    ("https://user@photos.example.com/a.jpg", "credentials"), ("https:///a.jpg", "no host"),
    ("https://photos.example.com:99999/a.jpg", "not a valid URL"),
    (" https://photos.example.com/a.jpg", "whitespace"), ("https://photos.example.com/a\n.jpg", "control"),
    ("https://photos.example.com/" + "a" * fetch.MAX_URL_LENGTH, "longer than"),
])
def test_an_unusable_url_is_invalid_url_before_any_lookup(url, reason):
    dns = StubDNS({"photos.example.com": ["93.184.216.34"]})
    with pytest.raises(InvalidURL) as info:
        local_guard(dns).pin(url)
    assert info.value.code == "invalid_url" and reason in info.value.details["reason"]
    assert "secret" not in info.value.message and "secret" not in str(info.value.details)
    assert dns.lookups == []


# ------------------------------------------------------------------ addresses


REFUSED_LITERALS = [
    ("http://127.0.0.2/a.jpg", "loopback"), ("http://10.1.2.3/a.jpg", "private"),
    ("http://192.168.0.4/a.jpg", "private"), ("http://172.16.0.9/a.jpg", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"), ("http://[::1]/a.jpg", "loopback"),
    ("http://[::ffff:169.254.169.254]/a.jpg", "link-local"), ("http://[::ffff:10.0.0.1]/a.jpg", "private"),
    ("http://[fe80::1]/a.jpg", "link-local"), ("http://[fd00::1]/a.jpg", "private"),
    ("http://0.0.0.0/a.jpg", "unspecified"), ("http://224.0.0.1/a.jpg", "multicast"),
    ("http://240.0.0.1/a.jpg", "240.0.0.1 is a"), ("http://100.64.0.1/a.jpg", "not a globally routable"),
    ("http://localhost:8080/a.jpg", "loopback name"), ("http://img.localhost/a.jpg", "loopback name"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_LITERALS)
def test_a_literal_non_public_address_is_refused_without_a_lookup(url, reason):
    dns = StubDNS({})
    with pytest.raises(FetchRefused) as info:
        local_guard(dns).pin(url)
    assert info.value.code == "fetch_refused" and reason in info.value.details["reason"], info.value.details
    with pytest.raises(FetchRefused):  # precheck (a submit's) judges the same without DNS
        local_guard(dns).precheck(url)
    assert dns.lookups == []


def test_the_allowed_address_is_the_only_exception():
    dns = StubDNS({})
    assert local_guard(dns).pin("http://127.0.0.1:8000/a.jpg").address == "127.0.0.1"
    with pytest.raises(FetchRefused, match="loopback"):
        AddressGuard(resolver=dns).pin("http://127.0.0.1:8000/a.jpg")
    assert AddressGuard(allow_private=True, resolver=dns).pin("http://10.0.0.1/a.jpg").address == "10.0.0.1"


NAMES = {"internal.example": ["10.0.0.5"], "metadata.example": ["169.254.169.254"], "v6loop.example": ["::1"],
         "mapped.example": ["::ffff:127.0.0.2"], "mixed.example": ["93.184.216.34", "172.16.0.9"],
         "mixed-first.example": ["10.9.9.9", "93.184.216.34"], "shared.example": ["100.64.1.2"],
         "photos.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]}


@pytest.mark.parametrize(("host", "reason"), [
    ("internal.example", "10.0.0.5, a private"), ("metadata.example", "169.254.169.254, a link-local"),
    ("v6loop.example", "::1, a loopback"), ("mapped.example", "::ffff:127.0.0.2, a loopback"),
    ("mixed.example", "172.16.0.9, a private"), ("mixed-first.example", "10.9.9.9, a private"),
    ("shared.example", "not a globally routable"),
])
def test_a_name_is_refused_when_any_address_it_resolves_to_is_not_public(host, reason):
    dns = StubDNS(NAMES)
    with pytest.raises(FetchRefused) as info:
        local_guard(dns).pin(f"https://{host}/a.jpg")
    assert reason in info.value.details["reason"], info.value.details
    assert dns.lookups == [host]


def test_a_public_name_is_resolved_once_and_pinned_to_its_first_address():
    dns = StubDNS(NAMES)
    pinned = local_guard(dns).pin("https://Photos.Example.com/shop/a.jpg?v=2")
    assert pinned.address == "93.184.216.34" and dns.lookups == ["photos.example.com"]
    request = pinned.request(httpx.AsyncClient(), "GET")
    # The IP in the URL (httpx never resolves), the name in Host and in TLS's SNI.
    assert str(request.url) == "https://93.184.216.34/shop/a.jpg?v=2"
    assert request.headers["host"] == "photos.example.com"
    assert request.extensions["sni_hostname"] == "photos.example.com"
    v6 = fetch.Pinned(pinned.target, "2606:2800:220:1:248:1893:25c8:1946").request(httpx.AsyncClient(), "GET")
    assert v6.url.host == "2606:2800:220:1:248:1893:25c8:1946" and v6.headers["host"] == "photos.example.com"


def test_a_name_that_does_not_resolve_fails_and_says_whether_to_try_again():
    with pytest.raises(FetchFailed) as info:
        local_guard(StubDNS({})).pin("https://nowhere.invalid/a.jpg")
    assert info.value.code == "fetch_failed" and info.value.transient is False

    def busy(host, port):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(FetchFailed) as info:
        local_guard(busy).pin("https://photos.example.com/a.jpg")
    assert info.value.transient is True


# ------------------------------------------------------------------ fetching from a local server


def test_a_fetch_connects_to_the_pinned_address_with_the_real_host_header():
    async def main():
        async with PhotoServer() as server:
            dns = StubDNS({"photos.example.com": ["127.0.0.1"]})
            got = await fetch.fetch(f"http://photos.example.com:{server.port}/photo.jpg", guard=local_guard(dns),
                                    max_bytes=CAP, timeout_s=5)
            return got, server.requests, dns.lookups, server.port

    got, requests, lookups, port = run(main())
    assert got.data == PHOTO and got.address == "127.0.0.1" and got.redirects == 0
    assert got.content_type == "image/jpeg"
    assert requests == [("/photo.jpg", f"photos.example.com:{port}")]
    assert lookups == ["photos.example.com"]


def test_redirects_are_followed_and_every_location_is_resolved_again():
    async def main():
        async with PhotoServer() as server:
            dns = StubDNS({"photos.example.com": ["127.0.0.1"], "cdn.example.com": ["127.0.0.1"]})
            target = f"http://cdn.example.com:{server.port}/photo.jpg"
            got = await fetch.fetch(f"http://photos.example.com:{server.port}/redirect?to={target}",
                                    guard=local_guard(dns), max_bytes=CAP, timeout_s=5)
            return got, server.requests, dns.lookups, server.port

    got, requests, lookups, port = run(main())
    assert got.data == PHOTO and got.redirects == 1 and got.url.startswith("http://cdn.example.com")
    assert lookups == ["photos.example.com", "cdn.example.com"]
    assert requests[1] == ("/photo.jpg", f"cdn.example.com:{port}")


@pytest.mark.parametrize(("location", "error", "reason"), [
    ("http://10.0.0.5/photo.jpg", FetchRefused, "private"),
    ("http://169.254.169.254/latest/meta-data/iam", FetchRefused, "link-local"),
    ("http://[::1]:{port}/photo.jpg", FetchRefused, "loopback"),
    ("http://internal.example/photo.jpg", FetchRefused, "10.0.0.5"),
    ("http://rebound.example:{port}/photo.jpg", FetchRefused, "127.0.0.2"),
    ("file:///etc/passwd", InvalidURL, "scheme"), ("ftp://photos.example.com/a.jpg", InvalidURL, "scheme"),
])
def test_a_redirect_to_a_forbidden_place_is_refused_before_it_is_requested(location, error, reason):
    async def main():
        async with PhotoServer() as server:
            dns = StubDNS({"photos.example.com": ["127.0.0.1"], "internal.example": ["10.0.0.5"],
                           "rebound.example": ["127.0.0.2"]})
            to = location.format(port=server.port)
            with pytest.raises(error) as info:
                await fetch.fetch(f"http://photos.example.com:{server.port}/redirect?to={to}",
                                  guard=local_guard(dns), max_bytes=CAP, timeout_s=5)
            return info.value, server.requests

    err, requests = run(main())
    assert reason in err.details["reason"], err.details
    assert len(requests) == 1  # only the redirect itself was ever requested


def test_redirects_stop_at_the_maximum():
    async def main():
        async with PhotoServer() as server:
            dns = StubDNS({"photos.example.com": ["127.0.0.1"]})
            base = f"http://photos.example.com:{server.port}"
            got = await fetch.fetch(f"{base}/chain/1", guard=local_guard(dns), max_bytes=CAP, timeout_s=5,
                                    max_redirects=2)  # /chain/1 -> /chain/0 -> /photo.jpg: exactly 2
            with pytest.raises(FetchRefused, match="more than 2 redirects"):
                await fetch.fetch(f"{base}/chain/2", guard=local_guard(dns), max_bytes=CAP, timeout_s=5,
                                  max_redirects=2)
            server.requests.clear()
            with pytest.raises(FetchRefused, match="more than 5 redirects"):
                await fetch.fetch(f"{base}/loop", guard=local_guard(dns), max_bytes=CAP, timeout_s=5)
            return got, len(server.requests)

    got, loop_requests = run(main())
    assert got.data == PHOTO and got.redirects == 2
    assert loop_requests == fetch.MAX_REDIRECTS + 1


def test_a_body_over_the_cap_is_refused_declared_or_streamed_and_the_cap_itself_passes():
    async def main():
        async with PhotoServer() as server:
            dns = StubDNS({"photos.example.com": ["127.0.0.1"]})
            base = f"http://photos.example.com:{server.port}"
            exact = await fetch.fetch(f"{base}/exact", guard=local_guard(dns), max_bytes=CAP, timeout_s=5)
            with pytest.raises(FetchTooLarge) as declared:
                await fetch.fetch(f"{base}/declared-big", guard=local_guard(dns), max_bytes=CAP, timeout_s=5)
            started = time.monotonic()
            with pytest.raises(FetchTooLarge) as streamed:
                await fetch.fetch(f"{base}/endless", guard=local_guard(dns), max_bytes=CAP, timeout_s=20)
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.2)
            return exact, declared.value, streamed.value, elapsed, server.streamed

    exact, declared, streamed, elapsed, written = run(main())
    assert len(exact.data) == CAP
    assert declared.code == "fetch_too_large" and "Content-Length" in declared.details["reason"]
    assert "passed" in streamed.details["reason"] and streamed.details["limit"] == CAP
    # Cut the moment it passed: the server was stopped far short of its 256 MB.
    assert elapsed < 5 and written < 64 * 1024 * 1024, (elapsed, written)


def test_a_trickling_server_is_cut_at_the_time_cap():
    async def main():
        async with PhotoServer() as server:
            dns = StubDNS({"photos.example.com": ["127.0.0.1"]})
            started = time.monotonic()
            with pytest.raises(FetchFailed) as info:
                await fetch.fetch(f"http://photos.example.com:{server.port}/trickle", guard=local_guard(dns),
                                  max_bytes=CAP, timeout_s=0.5)
            return info.value, time.monotonic() - started

    err, elapsed = run(main())
    assert "timed out" in err.details["reason"] and err.transient is True
    assert 0.45 <= elapsed < 2.0, elapsed  # without a whole-exchange deadline: 10 s


@pytest.mark.parametrize(("status", "transient"), [(404, False), (403, False), (410, False), (429, True),
                                                   (500, True), (503, True)])
def test_an_error_status_fails_and_says_whether_to_try_again(status, transient):
    async def main():
        async with PhotoServer() as server:
            dns = StubDNS({"photos.example.com": ["127.0.0.1"]})
            with pytest.raises(FetchFailed) as info:
                await fetch.fetch(f"http://photos.example.com:{server.port}/status/{status}",
                                  guard=local_guard(dns), max_bytes=CAP, timeout_s=5)
            return info.value

    err = run(main())
    assert err.details["status"] == status and err.transient is transient and err.details["transient"] is transient


def test_a_dead_port_is_a_transient_failure():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dns = StubDNS({"photos.example.com": ["127.0.0.1"]})
    with pytest.raises(FetchFailed) as info:
        run(fetch.fetch(f"http://photos.example.com:{port}/a.jpg", guard=local_guard(dns), max_bytes=CAP,
                        timeout_s=5))
    assert info.value.transient is True


# ------------------------------------------------------------------ TLS against the name, not the IP


def _tls_pair(tmp_path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for ``name`` only, and a client context
    that trusts it (hostname checking on)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


@pytest.mark.parametrize("cert_name", ["photos.example.com", "other.example.com"])
def test_https_to_a_pinned_address_checks_the_certificate_against_the_name(tmp_path, cert_name):
    server_ctx, client_ctx = _tls_pair(tmp_path, cert_name)

    async def main():
        async with PhotoServer(ssl_context=server_ctx) as server, \
                httpx.AsyncClient(verify=client_ctx, trust_env=False) as client:
            dns = StubDNS({"photos.example.com": ["127.0.0.1"]})
            return await fetch.fetch(f"https://photos.example.com:{server.port}/photo.jpg",
                                     guard=local_guard(dns), max_bytes=CAP, timeout_s=5, client=client)

    if cert_name == "photos.example.com":
        assert run(main()).data == PHOTO  # connected to 127.0.0.1, verified as photos.example.com
    else:
        with pytest.raises(FetchFailed, match="(?i)certificate|hostname"):
            run(main())
