"""Hostile input through every photo route and the job API, on the session cluster: every
answer is below 500 (JSON with a code when refused), every job item ends, no replica of any
deployment restarts, and the service keeps serving while a client trickles a body."""
import socket
import threading
import time
from urllib.parse import urlparse

import pytest
import ray

from tests import bad_inputs as bad
from tests.jobs.conftest import jpeg
from tests.serve.http import api

pytestmark = pytest.mark.serve

UPLOADS = {
    "polyglot_jpeg_zip": bad.polyglot_jpeg_zip, "huge_icc": bad.huge_icc_jpeg, "huge_xmp": bad.huge_xmp_jpeg,
    "restart_markers_12k": bad.restart_marker_jpeg, "truncated": bad.truncated_jpeg,
    "bomb_header": bad.png_bomb_header, "animated": bad.animated_gif, "empty": lambda: b"",
    "cmyk": bad.cmyk_jpeg, "png16": bad.png16_bytes,
}
ROUTES = ("/jewelry/lightbox", "/listing/enhance", "/listing/bundle")


def replicas() -> set[str]:
    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if "REPLICA" in a["name"].upper()}


@pytest.fixture(scope="module")
def replicas_before(serve_url):
    return replicas()


def refused_in_json(answer) -> bool:
    if answer.status_code < 400:
        return True
    body = answer.json()
    return bool(body.get("code")) and bool(body.get("request_id"))


@pytest.mark.parametrize("route", ROUTES)
def test_hostile_uploads_get_answers_not_crashes(serve_url, replicas_before, route):
    for name, make in UPLOADS.items():
        answer = api.post(serve_url + route, files={"image": (f"{name}.jpg", make(), "image/jpeg")}, timeout=300)
        assert answer.status_code < 500, (route, name, answer.status_code, answer.text[:300])
        assert refused_in_json(answer), (route, name, answer.text[:300])


def test_hostile_uploads_through_the_job_api_end_as_items(serve_url, replicas_before):
    # An empty part refuses the whole submit (nothing is queued for a file that is not there).
    empty = api.post(f"{serve_url}/v1/jobs", files=[("image", ("a.jpg", jpeg(5), "image/jpeg")),
                                                    ("image", ("empty.jpg", b"", "image/jpeg"))],
                     data={"vertical": "jewelry"}, timeout=60)
    assert empty.status_code == 400 and empty.json()["code"] == "empty_upload"
    files = [("image", (f"{name}.jpg", make(), "image/jpeg")) for name, make in UPLOADS.items() if name != "empty"]
    files.append(("image", ("good.jpg", jpeg(5), "image/jpeg")))
    answer = api.post(f"{serve_url}/v1/jobs", files=files, data={"vertical": "jewelry"}, timeout=300)
    assert answer.status_code == 202, answer.text[:300]
    job_id = answer.json()["id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = api.get(f"{serve_url}/v1/jobs/{job_id}", timeout=30).json()
        if status["state"] in ("done", "failed"):
            break
        time.sleep(0.5)
    assert status["state"] in ("done", "failed"), status["state"]
    states = [i["state"] for i in status["items"]]
    assert len(states) == len(files) and all(s in ("done", "rejected", "error") for s in states), states
    assert all(i["error"]["code"] != "internal_error" for i in status["items"] if i["state"] == "error")


def test_hostile_requests(serve_url, replicas_before):
    url = f"{serve_url}/jewelry/lightbox"
    host = urlparse(serve_url)
    # A 1 GB Content-Length with a small body: refused before the body, by the proxy itself.
    with socket.create_connection((host.hostname, host.port), timeout=30) as sock:
        sock.sendall((f"POST /jewelry/lightbox HTTP/1.1\r\nHost: {host.netloc}\r\n"
                      f"Authorization: {api.headers['Authorization']}\r\nContent-Type: image/jpeg\r\n"
                      f"Content-Length: {1 << 30}\r\n\r\n").encode() + b"\xff\xd8\xff" * 100)
        head = b""
        while b"upload_too_large" not in head:
            data = sock.recv(4096)
            if not data:
                break
            head += data
    assert head.startswith(b"HTTP/1.1 413") and b"upload_too_large" in head, head[:300]
    # 1,000 and 5,000 form fields: unknown options, or more fields than the parser takes.
    for n in (1000, 5000):
        answer = api.post(url, files={"image": ("a.jpg", jpeg(1), "image/jpeg")},
                          data={f"f{i}": "x" for i in range(n)}, timeout=60)
        assert answer.status_code in (400, 422) and refused_in_json(answer), (n, answer.text[:300])
    # Deeply nested JSON: as an option value, and as a whole body.
    nested = "[" * 5000 + "]" * 5000
    answer = api.post(url, files={"image": ("a.jpg", jpeg(1), "image/jpeg")}, data={"marketplace": nested},
                      timeout=60)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_options"
    answer = api.post(f"{serve_url}/v1/jobs", data=nested, headers={"Content-Type": "application/json"}, timeout=60)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_request", answer.text[:300]


def test_trickled_bodies_are_cut_and_hold_up_no_one(serve_url, replicas_before):
    """Slow loris: four clients (more than the lightbox's parallel slots) each plan to
    trickle a body one byte every 0.2 s for 60 s. Each is answered 408 upload_timeout in
    JSON once past the upload pace (upload_timeout_s 20 s in local.yaml, plus 1 s per
    1,000 bytes), and meanwhile real photos are answered, never shed as overloaded."""
    host = urlparse(serve_url)
    stop = threading.Event()
    answers: dict[int, tuple[float, bytes]] = {}

    def trickle(n: int) -> None:
        t0 = time.monotonic()
        with socket.create_connection((host.hostname, host.port), timeout=90) as sock:
            sock.sendall((f"POST /jewelry/lightbox HTTP/1.1\r\nHost: {host.netloc}\r\n"
                          f"Authorization: {api.headers['Authorization']}\r\nContent-Type: image/jpeg\r\n"
                          f"X-Request-ID: loris-{n}\r\nContent-Length: 100000\r\n\r\n").encode())
            sock.settimeout(0.2)
            reply = b""
            while not stop.is_set() and time.monotonic() - t0 < 60:
                try:
                    sock.sendall(b"\xff")
                except OSError:  # the server closed its side after answering
                    pass
                try:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
                    if b"\r\n\r\n" in reply and b"}" in reply:
                        break
                except (TimeoutError, socket.timeout):
                    pass
            answers[n] = (time.monotonic() - t0, reply)

    lorises = [threading.Thread(target=trickle, args=(n,), daemon=True) for n in range(4)]
    for loris in lorises:
        loris.start()
    try:
        time.sleep(2.0)
        statuses = [api.post(f"{serve_url}/jewelry/lightbox", files={"image": ("a.jpg", jpeg(2), "image/jpeg")},
                             timeout=120).status_code for _ in range(3)]
        assert all(code in (200, 422) for code in statuses), statuses  # never 503 overloaded
        for loris in lorises:
            loris.join(timeout=70)
    finally:
        stop.set()
    assert sorted(answers) == [0, 1, 2, 3]
    for n, (seconds, reply) in answers.items():
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), (n, seconds, reply[:300])
        assert b'"upload_timeout"' in body and f"loris-{n}".encode() in body
        assert 19 < seconds < 30, (n, seconds)


def test_no_replica_restarted(serve_url, replicas_before):
    assert replicas() == replicas_before
