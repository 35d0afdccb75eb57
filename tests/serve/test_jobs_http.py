"""Asynchronous jobs over real HTTP on the local cluster (configs/local.yaml's ``jobs`` app):
submit, poll, download, archive, idempotency, errors, cancel, and a restart mid-job (the
jobs replica is killed; the job completes with every item exactly once and outputs
byte-identical to an uninterrupted run)."""
import csv
import hashlib
import io
import json
import time
import zipfile

import pytest
import ray
import requests

from lumograph.jobs.db import make_engine, sqlite_url
from lumograph.jobs.store import JobStore
from tests.jobs.conftest import jpeg
from tests.serve.conftest import JOBS_DATA, JOBS_LEASE_S
from tests.serve.http import api

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def photos():
    return [jpeg(seed) for seed in range(6)]


def submit(url, photos, fields=None, headers=None, broken_at=None):
    files = [("image", (f"ring{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)]
    if broken_at is not None:
        files.insert(broken_at, ("image", ("broken.jpg", b"\xff\xd8\xff not a jpeg" * 20, "image/jpeg")))
    return api.post(f"{url}/v1/jobs", files=files, data={"vertical": "jewelry", **(fields or {})},
                         headers=headers or {}, timeout=120)


def wait(url, job_id, timeout_s=300, until=("done", "failed", "cancelled")):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = api.get(f"{url}/v1/jobs/{job_id}", timeout=30).json()
        if status["state"] in until:
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not finished: {status}")


def store() -> JobStore:
    return JobStore(make_engine(sqlite_url(JOBS_DATA)))


def test_submit_poll_download_and_archive(serve_url, photos):
    answer = submit(serve_url, photos[:2], broken_at=1, fields={"quality": "85"})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert answer.headers["location"] == f"/v1/jobs/{body['id']}" and body["n_items"] == 3
    status = wait(serve_url, body["id"])
    assert status["state"] == "done" and status["options"]["quality"] == 85
    assert status["counts"]["error"] == 1 and status["items"][1]["error"]["code"] == "invalid_image"
    delivered = [i for i in status["items"] if i["state"] == "done"]
    assert delivered
    image = api.get(f"{serve_url}{delivered[0]['url']}", timeout=30)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"
    report = api.get(f"{serve_url}{delivered[0]['url']}", params={"report": "json"}, timeout=30).json()
    assert report["state"] == "done" and report["report"]["verdict"] == delivered[0]["verdict"]
    missing = api.get(f"{serve_url}/v1/jobs/{body['id']}/items/1", timeout=30)
    assert missing.status_code == 409 and missing.json()["code"] == "item_not_delivered"
    archive = api.get(f"{serve_url}/v1/jobs/{body['id']}/archive", timeout=60)
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        rows = list(csv.DictReader(io.StringIO(z.read("report.csv").decode())))
        assert [r["state"] for r in rows] == [i["state"] for i in status["items"]]
        first_delivered = next(r for r in rows if int(r["n"]) == delivered[0]["n"])
        assert z.read(first_delivered["output"]) == image.content
        assert json.loads(z.read("report.json"))["job"]["id"] == body["id"]
        assert z.read("sheet.png")[:4] == b"\x89PNG"
        assert len([n for n in z.namelist() if n.startswith("images/")]) == len(delivered)


def test_idempotency_and_errors(serve_url, photos):
    key = {"Idempotency-Key": f"k-{time.time()}"}
    first = submit(serve_url, photos[:1], headers=key)
    again = submit(serve_url, photos[:1], headers=key)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = submit(serve_url, photos[1:2], headers=key)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    bad = api.post(f"{serve_url}/v1/jobs", files=[("image", ("a.jpg", photos[0], "image/jpeg"))],
                        data={"vertical": "watches"}, timeout=30)
    assert bad.status_code == 422 and "watches" in bad.json()["message"]
    bad_option = submit(serve_url, photos[:1], fields={"fill_ratio": "7"})
    assert bad_option.status_code == 422 and bad_option.json()["code"] == "invalid_options"
    unknown = api.get(f"{serve_url}/v1/jobs/nope", timeout=30)
    assert unknown.status_code == 404 and unknown.json()["code"] == "job_not_found"
    no_source = api.post(f"{serve_url}/v1/jobs", data={"vertical": "jewelry", "source": "/etc"}, timeout=30)
    assert no_source.status_code == 422 and "allowed" in no_source.json()["message"]
    wait(serve_url, first.json()["id"])


def test_a_consistency_locked_job_shares_one_look_and_has_a_sheet(serve_url, photos):
    answer = submit(serve_url, photos[:3], fields={"consistency": "lock", "reference": "1"})
    assert answer.status_code == 202, answer.text
    status = wait(serve_url, answer.json()["id"])
    assert status["controls"]["consistency"] == {"lock": True, "reference": 1}
    consistency = status["summary"]["consistency"]
    assert consistency["lock"] == "applied" and len(consistency["canvas_sides"]) <= 1
    assert consistency["white_point_spread_deg"] in (0.0, None)
    sheet = api.get(f"{serve_url}/v1/jobs/{status['id']}/sheet", timeout=60)
    assert sheet.status_code == 200 and sheet.content[:4] == b"\x89PNG"
    wrong = submit(serve_url, photos[:1], fields={"consistency": "always"})
    assert wrong.status_code == 422 and "consistency" in wrong.json()["message"]


def _kill_jobs_replica() -> None:
    names = [a for a in ray.util.list_named_actors(all_namespaces=True)
             if "JobsIngress" in a["name"] and "REPLICA" in a["name"].upper()]
    assert names, ray.util.list_named_actors(all_namespaces=True)
    for actor in names:
        ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True)


def test_a_job_survives_its_replica_being_killed_mid_job(serve_url, photos):
    job_id = submit(serve_url, photos).json()["id"]
    # Kill the replica once the job is under way: some items done, others running or queued.
    deadline = time.monotonic() + 240
    while True:
        status = api.get(f"{serve_url}/v1/jobs/{job_id}", timeout=30).json()
        if status["counts"]["done"] + status["counts"]["rejected"] >= 1:
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["state"] == "running", status
    _kill_jobs_replica()
    # Serve starts a new replica; it takes the dead one's items once their lease ran out.
    deadline = time.monotonic() + 240
    while True:
        try:
            status = api.get(f"{serve_url}/v1/jobs/{job_id}", timeout=30).json()
            if status.get("state") == "done":
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the job did not complete after the restart"
        time.sleep(0.5)
    rows = store().item_rows(job_id)
    assert [r.completions for r in rows] == [1] * len(photos)
    # The items the killed replica was running were taken again by the new one.
    assert sum(r.claims for r in rows) > len(photos), [r.claims for r in rows]
    # The same photos, uninterrupted: byte-identical outputs.
    control = submit(serve_url, photos).json()["id"]
    wait(serve_url, control)
    for interrupted, clean in zip(rows, store().item_rows(control)):
        assert interrupted.state == clean.state
        assert interrupted.output_sha256 == clean.output_sha256
        if interrupted.output_uri:
            with open(interrupted.output_uri, "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == clean.output_sha256
    health = api.get(f"{serve_url}/v1/healthz", timeout=30).json()
    assert health["status"] == "ok" and health["lease_s"] == JOBS_LEASE_S
