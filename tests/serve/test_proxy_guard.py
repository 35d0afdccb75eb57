"""The proxy's body cap, as pure ASGI: a declared length over the limit is answered before
the app runs; a streamed body is answered 413 the moment it passes the limit, the app is told
the client left, and nothing the app sends afterwards reaches the client."""
import asyncio
import json

from lumograph.serve import cluster
from lumograph.serve.proxy_guard import FRAMING_SLACK, BodyCap, _limits

LIMIT = 1000


def run(headers, chunks, app_reads_all=True):
    sent, pulled = [], []
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        pulled.append(1)
        return messages[len(pulled) - 1] if len(pulled) <= len(messages) else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "path": "/jewelry/lightbox", "headers": headers}
    asyncio.run(BodyCap(app, {"/jewelry/lightbox": LIMIT})(scope, receive, send))
    return sent, len(pulled)


def test_a_declared_length_over_the_limit_is_refused_before_the_body():
    sent, pulled = run([(b"content-length", str(LIMIT + FRAMING_SLACK + 1).encode())], [b"x"])
    assert sent[0]["status"] == 413 and pulled == 0
    assert json.loads(sent[1]["body"])["code"] == "upload_too_large"


def test_a_stream_is_cut_the_moment_it_passes_the_limit():
    chunk = b"x" * 16384
    sent, pulled = run([], [chunk] * 100)  # 1.6 MB offered
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert pulled * len(chunk) <= LIMIT + FRAMING_SLACK + len(chunk)
    assert all(m.get("body") != b"ok" for m in sent)


def test_a_body_within_the_limit_passes_untouched():
    sent, _ = run([], [b"x" * 500, b"y" * 400])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"ok"


def test_the_proxy_and_the_ingresses_read_the_same_limits_from_the_config(monkeypatch):
    config = cluster.load_serve_config(cluster.DEFAULT_CONFIG)
    limits = cluster.body_limits(config)
    assert limits["/jewelry/lightbox"] == 41943040 and limits["/listing/bundle"] == 400 * 1024 * 1024
    assert limits["/v1/jobs"] == 20 * 1024 ** 3
    monkeypatch.delenv("LUMOGRAPH_BODY_LIMITS", raising=False)
    assert _limits() == limits  # the shipped defaults at the shipped prefixes
    monkeypatch.setenv("LUMOGRAPH_BODY_LIMITS", json.dumps({"/x": 5}))
    assert _limits() == {"/x": 5}
