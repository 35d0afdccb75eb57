"""Token buckets in the database: refill, burst, refusal with the wait, and one shared rate
for every process that takes from it."""
import threading

import pytest

from lumograph.access.quotas import Quotas, seconds_to_utc_midnight, utc_day
from lumograph.jobs.db import open_db, sqlite_url


@pytest.fixture
def quotas(tmp_path):
    return Quotas(open_db(sqlite_url(tmp_path)))


def test_a_bucket_gives_its_burst_then_refuses_with_the_wait(quotas):
    takes = [quotas.take("t", "requests", 1, rate_per_s=2.0, capacity=3, at=100.0) for _ in range(4)]
    assert [t.allowed for t in takes] == [True, True, True, False]
    assert takes[2].remaining == 0 and takes[3].retry_after_s == pytest.approx(0.5)
    assert takes[3].reset_s == pytest.approx(1.5)
    # Half a second later one token is back, and only one.
    later = [quotas.take("t", "requests", 1, rate_per_s=2.0, capacity=3, at=100.5) for _ in range(2)]
    assert [t.allowed for t in later] == [True, False]


def test_refill_stops_at_the_capacity_and_a_cost_over_it_never_passes(quotas):
    quotas.take("t", "images", 5, rate_per_s=1.0, capacity=5, at=0.0)
    full = quotas.take("t", "images", 0, rate_per_s=1.0, capacity=5, at=1000.0)
    assert full.remaining == 5
    huge = quotas.take("t", "images", 6, rate_per_s=1.0, capacity=5, at=1000.0)
    assert not huge.allowed and huge.retry_after_s == pytest.approx(5.0)


def test_tenants_and_buckets_are_separate(quotas):
    assert quotas.take("a", "requests", 1, rate_per_s=1, capacity=1, at=0).allowed
    assert quotas.take("b", "requests", 1, rate_per_s=1, capacity=1, at=0).allowed
    assert quotas.take("a", "images", 1, rate_per_s=1, capacity=1, at=0).allowed
    assert not quotas.take("a", "requests", 1, rate_per_s=1, capacity=1, at=0).allowed


def test_concurrent_takers_never_overspend(tmp_path):
    """Many threads, each with its own engine (as replicas have), take from one bucket with
    no refill: exactly its capacity is granted."""
    url = sqlite_url(tmp_path)
    granted = []

    def taker():
        q = Quotas(open_db(url))
        for _ in range(10):
            granted.append(q.take("t", "requests", 1, rate_per_s=1e-9, capacity=25, at=50.0).allowed)

    threads = [threading.Thread(target=taker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 25 and len(granted) == 60


def test_usage_adds_up_per_utc_day(quotas):
    quotas.record("t", requests=1, images=2, bytes_in=100, at=86400 * 10 + 5)
    quotas.record("t", requests=1, images=1, bytes_in=50, at=86400 * 10 + 6)
    quotas.record("t", requests=1, bytes_in=7, at=86400 * 11 + 1)
    assert quotas.today("t", at=86400 * 10 + 7) == {"requests": 2, "images": 3, "bytes_in": 150}
    assert quotas.today("t", at=86400 * 11 + 2)["bytes_in"] == 7
    assert utc_day(0) == "1970-01-01" and seconds_to_utc_midnight(86400 * 3 + 600) == 86400 - 600
