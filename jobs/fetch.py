"""Outbound HTTP to a URL someone else gave us (a job's photo URLs, a webhook's target):
the one place such a URL is parsed, resolved, judged and connected to.

- ``parse_url``: ``http`` or ``https``, a host, no ``user:password@``, a valid port, at most
  ``MAX_URL_LENGTH`` characters, no whitespace or control characters. Pure.
- ``AddressGuard.pin``: the name is resolved once (the guard's resolver, default
  ``socket.getaddrinfo``) and every address it resolves to must be one the guard allows
  (public unicast, unless ``allow_private`` or listed in ``allowed``); the request then goes
  to that address itself (``Pinned.request``: the IP in the URL, the real name in ``Host``
  and, for https, in TLS's SNI and certificate check), so httpx never resolves the name a
  second time and a name re-pointed in between (DNS rebinding) cannot reach inside.
- ``fetch``: a GET that follows at most ``max_redirects`` redirects itself, pinning every
  ``Location`` again; the body is streamed and cut the moment it passes ``max_bytes``; one
  deadline (``asyncio.timeout``) covers the whole exchange, resolution and redirects
  included.

Errors are typed with stable codes: ``invalid_url`` (the URL itself), ``fetch_refused`` (an
address or redirect the guard forbids), ``fetch_too_large`` and ``fetch_failed`` (network or
HTTP; ``transient`` says whether trying again later may help).
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx

from lumograph.models.common.errors import InvalidOptions, LumographError, UnsupportedInput

MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 5
USER_AGENT = "lumograph-fetch/1"
_REDIRECTS = (301, 302, 303, 307, 308)
#: 4xx answers that say "later", not "never".
_TRANSIENT_4XX = (408, 425, 429)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``(host, port) -> address texts``; synchronous (run in a thread by the async callers).
Resolver = Callable[[str, int], Sequence[str]]


# --------------------------------------------------------------------------- errors


class FetchError(LumographError):
    """Base of every refusal or failure here; ``details`` carry ``url`` (a password masked)
    and ``reason``. ``transient``: a later attempt may succeed."""

    transient = False


class InvalidURL(FetchError, InvalidOptions):
    """The URL itself is unusable (scheme, credentials, syntax, length)."""

    code = "invalid_url"


class FetchRefused(FetchError, InvalidOptions):
    """The guard forbids it: an address that is not public, or too many redirects."""

    code = "fetch_refused"


class FetchTooLarge(FetchError, UnsupportedInput):
    """The body is over the fetch's byte cap (declared or counted as it streamed)."""

    code = "fetch_too_large"


class FetchFailed(FetchError):
    """The network or the server failed: no answer, a timeout, an error status, a name
    that does not resolve. ``details.status`` holds the HTTP status when one came."""

    code = "fetch_failed"

    def __init__(self, message: str, *, transient: bool, details: dict | None = None):
        super().__init__(message, details={**(details or {}), "transient": transient})
        self.transient = transient


def redact(url: str, parts: SplitResult | None = None) -> str:
    """``url`` with a password masked (messages and details end up in logs)."""
    if parts is None:
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def _error(cls: type[FetchError], url: str, reason: str, parts: SplitResult | None = None,
           **extra) -> FetchError:
    shown = url[:80] + "..." if len(url) > MAX_URL_LENGTH else redact(url, parts)
    verb = "failed" if cls is FetchFailed else "refused"
    details = {"url": shown, "reason": reason, **{k: v for k, v in extra.items() if k != "transient"}}
    message = f"url {shown!r} {verb}: {reason}"
    if cls is FetchFailed:
        return FetchFailed(message, transient=bool(extra.get("transient")), details=details)
    return cls(message, details=details)


# --------------------------------------------------------------------------- parsing and policy


@dataclass(frozen=True)
class Target:
    """A parsed, well-formed URL: ``host`` is lowercase ASCII (IDNA), without brackets for
    IPv6; ``port`` the explicit or default one; ``path`` the path and query (at least "/")."""

    url: str
    scheme: str
    host: str
    port: int
    explicit_port: bool
    path: str
    parts: SplitResult

    @property
    def literal(self) -> IPAddress | None:
        """The host as an IP address when the URL names one, else None."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.explicit_port else host


def parse_url(url: str) -> Target:
    """The ``Target`` of ``url``, or ``InvalidURL`` saying why it cannot be fetched: not a
    string, over ``MAX_URL_LENGTH``, whitespace or control characters, unparsable, a scheme
    other than http/https, credentials, no host, a bad port, a name IDNA cannot encode."""
    if not isinstance(url, str):
        raise InvalidURL(f"a URL must be a string, got {type(url).__name__}",
                         details={"reason": "not a string"})
    if len(url) > MAX_URL_LENGTH:
        raise _error(InvalidURL, url, f"longer than {MAX_URL_LENGTH} characters")
    if url != url.strip() or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise _error(InvalidURL, url, "contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _error(InvalidURL, url, f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _error(InvalidURL, url, f"scheme must be http or https, got {parts.scheme or 'none'!r}", parts)
    if "@" in parts.netloc:
        raise _error(InvalidURL, url, "credentials in the URL are not allowed", parts)
    if not parts.hostname:
        raise _error(InvalidURL, url, "no host", parts)
    try:
        host = parts.hostname.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise _error(InvalidURL, url, f"host is not a valid name ({exc})", parts) from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80),
                  explicit_port=port is not None, path=path, parts=parts)


def non_public_reason(address: IPAddress) -> str | None:
    """Why a server must not connect to ``address`` uninvited ("a loopback address", ...),
    or None when it is a globally routable unicast address. An IPv4-mapped IPv6 address
    (``::ffff:127.0.0.1``) is judged as the IPv4 address it reaches."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    for attribute, kind in (("is_loopback", "loopback"), ("is_unspecified", "unspecified"),
                            ("is_link_local", "link-local"), ("is_private", "private"),
                            ("is_multicast", "multicast"), ("is_reserved", "reserved")):
        if getattr(address, attribute):
            return f"a {kind} address"
    # Shared (100.64/10), documentation, benchmarking and other special-purpose ranges.
    return None if address.is_global else "not a globally routable address"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``, TCP), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _is_localhost(host: str) -> bool:
    name = host.rstrip(".")
    return name == "localhost" or name.endswith(".localhost")  # RFC 6761: always loopback


@dataclass(frozen=True)
class Pinned:
    """A ``Target`` and the one address its requests go to."""

    target: Target
    address: str

    def request(self, client: httpx.AsyncClient, method: str, *, headers: dict[str, str] | None = None,
                **kwargs) -> httpx.Request:
        """A request to ``address`` for ``target``: the URL carries the IP, ``Host`` the
        name as the URL gave it, and an https request names the host in SNI (so the
        certificate is checked against the name, not the IP). ``kwargs`` go to
        ``client.build_request`` (``content``, ``timeout``)."""
        t = self.target
        ip = f"[{self.address}]" if ":" in self.address else self.address
        extensions = {"sni_hostname": t.host} if t.scheme == "https" and t.literal is None else {}
        return client.build_request(method, f"{t.scheme}://{ip}:{t.port}{t.path}",
                                    headers={**(headers or {}), "Host": t.host_header},
                                    extensions=extensions, **kwargs)


@dataclass(frozen=True)
class AddressGuard:
    """Which addresses an outbound request may reach, and how names are resolved.

    allow_private: any address at all (a deployment whose receivers or photo servers live
        on its own network: the ``allow_private_*`` settings).
    allowed: exact addresses allowed although not public (a test's local server, or the
        one internal host a deployment trusts); everything else non-public stays refused.
    resolver: ``(host, port) -> address texts``, synchronous; None: ``system_resolver``."""

    allow_private: bool = False
    allowed: frozenset[str] = field(default_factory=frozenset)
    resolver: Resolver | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", frozenset(str(ipaddress.ip_address(a)) for a in self.allowed))

    def refusal(self, address: IPAddress) -> str | None:
        """Why this guard refuses ``address``, or None when it may be reached."""
        if self.allow_private:
            return None
        mapped = getattr(address, "ipv4_mapped", None)
        if str(address) in self.allowed or (mapped is not None and str(mapped) in self.allowed):
            return None
        return non_public_reason(address)

    def precheck(self, url: str) -> Target:
        """``parse_url`` plus what needs no DNS: a literal address or a ``localhost`` name
        the guard refuses (``FetchRefused``). For a submit, which must not wait on DNS."""
        target = parse_url(url)
        self._judge_literal(target)
        return target

    def _judge_literal(self, target: Target) -> bool:
        literal = target.literal
        if literal is not None:
            reason = self.refusal(literal)
            if reason:
                raise _error(FetchRefused, target.url, f"{literal} is {reason}", target.parts)
            return True
        if _is_localhost(target.host) and not self.allow_private:
            raise _error(FetchRefused, target.url, f"{target.host!r} is a loopback name", target.parts)
        return False

    def pin(self, url: str) -> Pinned:
        """Parse ``url``, resolve its host once and judge every address it resolves to: all
        must be allowed (one private address among public ones refuses the name: a client
        cannot pick which one a resolver answers first). Returns the first address pinned.
        Synchronous (DNS): async callers run it in a thread. Raises ``InvalidURL``,
        ``FetchRefused``, or ``FetchFailed`` for a name that does not resolve (transient
        when the resolver says "try again")."""
        target = parse_url(url)
        if self._judge_literal(target):
            return Pinned(target, str(target.literal))
        resolver = self.resolver or system_resolver
        try:
            addresses = list(resolver(target.host, target.port))
        except (OSError, UnicodeError) as exc:
            again = isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_AGAIN
            raise _error(FetchFailed, url, f"host {target.host!r} does not resolve ({exc})", target.parts,
                         transient=again) from None
        if not addresses:
            raise _error(FetchFailed, url, f"host {target.host!r} does not resolve", target.parts)
        for text in addresses:
            # getaddrinfo may append an IPv6 zone ("fe80::1%eth0"); ip_address accepts it.
            reason = self.refusal(ipaddress.ip_address(text))
            if reason:
                raise _error(FetchRefused, url, f"host {target.host!r} resolves to {text}, {reason}", target.parts)
        return Pinned(target, addresses[0])


# --------------------------------------------------------------------------- GET


@dataclass(frozen=True)
class Fetched:
    """A fetched body: ``url`` the last URL (after redirects), ``address`` the IP it came
    from, ``redirects`` how many were followed."""

    data: bytes
    url: str
    address: str
    content_type: str | None
    redirects: int


async def _read_capped(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _error(FetchTooLarge, url, f"Content-Length {declared} is over {max_bytes} bytes",
                     limit=max_bytes)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:  # stop reading at once: the rest is never taken
            raise _error(FetchTooLarge, url, f"the body passed {max_bytes} bytes", limit=max_bytes)
    return bytes(body)


def _status_error(url: str, status: int) -> FetchFailed:
    transient = status >= 500 or status in _TRANSIENT_4XX
    return _error(FetchFailed, url, f"HTTP {status}", transient=transient, status=status)


async def fetch(url: str, *, guard: AddressGuard, max_bytes: int, timeout_s: float,
                max_redirects: int = MAX_REDIRECTS, client: httpx.AsyncClient | None = None) -> Fetched:
    """GET ``url`` through ``guard``: at most ``max_bytes`` of body, within ``timeout_s``
    seconds for the whole exchange (every resolution, redirect and byte).

    Redirects (301, 302, 303, 307, 308) are followed here, each ``Location`` parsed, resolved
    and judged again; more than ``max_redirects`` is ``FetchRefused``. A 2xx is read;
    another status is ``FetchFailed`` (transient for 5xx, 408, 425 and 429). ``client``: a
    test's or caller's client (its redirect setting is overridden per request; it must have
    no proxy, which would resolve the name itself); without one a client is made for this
    fetch alone (no shared pool, so a connection opened for one name is never reused for
    another, and no proxy from the environment)."""
    if max_bytes < 1 or not timeout_s > 0:
        raise ValueError(f"max_bytes must be >= 1 and timeout_s > 0, got {max_bytes}, {timeout_s}")
    owned = client is None
    client = client or httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=timeout_s)
    current = url
    try:
        async with asyncio.timeout(timeout_s):
            for hop in range(max_redirects + 1):
                pinned = await asyncio.to_thread(guard.pin, current)
                request = pinned.request(client, "GET", timeout=timeout_s,
                                         headers={"User-Agent": USER_AGENT, "Accept": "image/*",
                                                  "Accept-Encoding": "identity"})
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    if response.status_code in _REDIRECTS:
                        location = response.headers.get("location")
                        if not location:
                            raise _error(FetchFailed, current, f"HTTP {response.status_code} without a Location",
                                         transient=False, status=response.status_code)
                        current = urljoin(current, location)
                        continue
                    if not 200 <= response.status_code < 300:
                        raise _status_error(current, response.status_code)
                    data = await _read_capped(response, current, max_bytes)
                    return Fetched(data=data, url=current, address=pinned.address,
                                   content_type=response.headers.get("content-type"), redirects=hop)
                finally:
                    await response.aclose()
            raise _error(FetchRefused, url, f"more than {max_redirects} redirects (last to {redact(current)!r})")
    except TimeoutError:
        raise _error(FetchFailed, url, f"timed out after {timeout_s:g} s", transient=True) from None
    except httpx.TimeoutException:
        raise _error(FetchFailed, url, f"timed out after {timeout_s:g} s", transient=True) from None
    except httpx.HTTPError as exc:  # connection refused or reset, a protocol error
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise _error(FetchFailed, current, reason, transient=True) from None
    finally:
        if owned:
            await client.aclose()


def is_fetchable(uri: str) -> bool:
    """Whether ``uri`` is an http(s) URL (fetched here) rather than a storage URI."""
    return uri[:8].lower().startswith(("http://", "https://"))
