"""Tenants, API keys, limits and streamed body caps over real HTTP on the session cluster:
every API route needs a key (health and docs do not), another tenant's jobs are "no such
job" on every job route, buckets answer 429 with Retry-After and RateLimit headers, and a
chunked body is refused the moment it passes its limit."""
import select
import socket
import time
from urllib.parse import urlparse

import pytest
import requests

from lumograph.access.keys import KeyStore
from lumograph.jobs.db import open_db, sqlite_url
from tests.jobs.conftest import jpeg
from tests.serve.conftest import JOBS_DATA
from tests.serve.http import api

pytestmark = pytest.mark.serve

#: Every keyed route (method, path); job routes get a real job id filled in.
KEYED = [("POST", "/jewelry/lightbox"), ("POST", "/listing/enhance"), ("POST", "/listing/bundle"),
         ("POST", "/listing/stage"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/{job}"),
         ("GET", "/v1/jobs/{job}/items/0"), ("GET", "/v1/jobs/{job}/archive"), ("GET", "/v1/jobs/{job}/sheet"),
         ("GET", "/v1/jobs/{job}/deliveries"), ("POST", "/v1/jobs/{job}/redeliver"), ("DELETE", "/v1/jobs/{job}")]
OPEN = ["/healthz", "/jewelry/healthz", "/jewelry/docs", "/jewelry/openapi.json", "/listing/healthz",
        "/listing/redoc", "/listing/openapi.json", "/v1/healthz", "/v1/docs", "/v1/openapi.json"]


def keys() -> KeyStore:
    return KeyStore(open_db(sqlite_url(JOBS_DATA)))


def session(tenant: str, limits: dict | None = None, header: str = "bearer") -> requests.Session:
    store = keys()
    token = store.create_key(tenant, "test").token
    if limits:
        store.set_limits(tenant, limits)
    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {token}"} if header == "bearer" else {"X-API-Key": token})
    return s


@pytest.fixture(scope="module")
def job_id(serve_url):
    answer = api.post(f"{serve_url}/v1/jobs", files=[("image", ("a.jpg", jpeg(1), "image/jpeg"))],
                      data={"vertical": "jewelry", "callback_url": "http://127.0.0.1:9/hook"}, timeout=120)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def call(client, url, method, path, job):
    return client.request(method, url + path.format(job=job), timeout=60,
                          files=[("image", ("a.jpg", jpeg(2), "image/jpeg"))] if method == "POST" else None)


def test_every_api_route_needs_a_key_and_health_and_docs_do_not(serve_url, job_id):
    for method, path in KEYED:
        for headers in ({}, {"Authorization": "Bearer lg_000000000000_" + "x" * 43}, {"X-API-Key": "nonsense"}):
            answer = requests.request(method, serve_url + path.format(job=job_id), headers=headers, timeout=60,
                                      files=[("image", ("a.jpg", b"abc", "image/jpeg"))] if method == "POST" else None)
            assert answer.status_code == 401, (method, path, headers, answer.text)
            body = answer.json()
            assert body["code"] == "unauthorized" and body["request_id"], body
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert answer.headers["x-request-id"] == body["request_id"]
    for path in OPEN:
        assert requests.get(serve_url + path, timeout=60).status_code == 200, path


def test_the_body_and_the_header_carry_the_same_request_id(serve_url):
    for given in ("order 42/retry#1", "plain-id"):
        answer = api.get(f"{serve_url}/v1/jobs/nope", headers={"X-Request-ID": given}, timeout=30)
        assert answer.status_code == 404
        assert answer.json()["request_id"] == answer.headers["x-request-id"] == given


def test_either_header_carries_the_key_and_answers_carry_ratelimit_headers(serve_url):
    for header in ("bearer", "x-api-key"):
        client = session(f"either-{header}", header=header)
        answer = client.get(f"{serve_url}/v1/jobs/nope", timeout=30)
        assert answer.status_code == 404 and answer.json()["code"] == "job_not_found"
        assert int(answer.headers["ratelimit-limit"]) == 40
        assert 0 <= int(answer.headers["ratelimit-remaining"]) < 40 and "ratelimit-reset" in answer.headers


def test_another_tenants_jobs_are_not_found_on_every_job_route(serve_url, job_id):
    other = session("someone-else")
    for method, path in KEYED:
        if "{job}" not in path:
            continue
        answer = call(other, serve_url, method, path, job_id)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "job_not_found" and job_id not in answer.text.replace(
            f"no job '{job_id}'", ""), answer.text
    # The owner still sees it, and it was not cancelled by the other tenant's DELETE.
    mine = api.get(f"{serve_url}/v1/jobs/{job_id}", timeout=30).json()
    assert mine["state"] != "cancelled" and mine["counts"].get("cancelled", 0) == 0


def test_a_revoked_key_is_refused_within_the_cache_time(serve_url):
    store = keys()
    issued = store.create_key("revoking", "test")
    headers = {"X-API-Key": issued.token}
    assert requests.get(f"{serve_url}/v1/jobs/nope", headers=headers, timeout=30).status_code == 404
    store.revoke(issued.id)
    time.sleep(2.2)
    answer = requests.get(f"{serve_url}/v1/jobs/nope", headers=headers, timeout=30)
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"


def test_request_rate_answers_429_with_retry_after(serve_url):
    client = session("slow-tenant", {"requests_per_s": 0.5, "requests_burst": 2})
    answers = [client.get(f"{serve_url}/v1/jobs/nope", timeout=30) for _ in range(3)]
    assert [a.status_code for a in answers] == [404, 404, 429]
    refused = answers[-1]
    body = refused.json()
    assert body["code"] == "rate_limited" and body["details"]["limit"] == "requests_per_s"
    assert int(refused.headers["retry-after"]) >= 1 and refused.headers["ratelimit-remaining"] == "0"
    time.sleep(float(refused.headers["retry-after"]))
    assert client.get(f"{serve_url}/v1/jobs/nope", timeout=30).status_code == 404


def test_a_bundle_takes_one_image_per_photo(serve_url):
    client = session("few-images", {"images_burst": 2, "images_per_min": 1})
    files = [("image", (f"p{i}.jpg", jpeg(i), "image/jpeg")) for i in range(3)]
    answer = client.post(f"{serve_url}/listing/bundle", files=files, timeout=60)
    assert answer.status_code == 429 and answer.json()["details"]["limit"] == "images_per_min", answer.text
    assert int(answer.headers["retry-after"]) >= 1


def test_bytes_per_day_answers_quota_exceeded(serve_url):
    client = session("tiny-quota", {"bytes_per_day": 4096})
    answer = client.post(f"{serve_url}/jewelry/lightbox", files={"image": ("a.jpg", jpeg(3), "image/jpeg")},
                         timeout=60)
    assert answer.status_code == 429 and answer.json()["code"] == "quota_exceeded", answer.text
    assert int(answer.headers["retry-after"]) <= 86400


def test_a_chunked_body_is_refused_the_moment_it_passes_the_limit(serve_url):
    """No Content-Length: the body is counted as it streams. The 413 must come back while the
    client is still sending (the jewelry limit is 40 MB; the client offers 400 MB). Serve's proxy itself counts it
    (serve/proxy_guard.py): without that it took in ~200 MB before the ingress's refusal came back."""
    token = api.headers["Authorization"]
    host = urlparse(serve_url)
    sock = socket.create_connection((host.hostname, host.port), timeout=60)
    sock.sendall((f"POST /jewelry/lightbox HTTP/1.1\r\nHost: {host.netloc}\r\nAuthorization: {token}\r\n"
                  "Content-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
    chunk = b"%x\r\n" % (1 << 20) + b"\xff" * (1 << 20) + b"\r\n"
    sent = 0
    answer = b""
    try:
        while sent < 400:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(chunk)
            sent += 1
        deadline = time.monotonic() + 60
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except (BrokenPipeError, ConnectionResetError):
        answer += sock.recv(65536)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"upload_too_large" in answer or b"content-length" in answer.lower()
    assert sent < 64, f"the client sent {sent} MB before the refusal (limit 40 MB)"
    print(f"chunked upload: refused after the client sent {sent} MB")
