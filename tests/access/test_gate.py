"""The gate: who is calling (401/403), may they go on (429 with when), tenant overrides."""
import pytest

from lumograph.access.gate import Forbidden, Gate, QuotaExceeded, RateLimited, Unauthorized
from lumograph.access.limits import Limits
from lumograph.jobs.db import open_db, sqlite_url
from lumograph.models.common.errors import InvalidOptions


@pytest.fixture
def gate(tmp_path):
    return Gate(open_db(sqlite_url(tmp_path)), Limits(requests_per_s=1000, requests_burst=3), cache_ttl_s=0.0)


def test_authenticate(gate):
    with pytest.raises(Unauthorized):
        gate.authenticate(None)
    with pytest.raises(Unauthorized):
        gate.authenticate("lg_123")
    issued = gate.keys.create_key("acme")
    assert gate.authenticate(issued.token).tenant == "acme"
    gate.keys.revoke(issued.id)
    with pytest.raises(Forbidden):
        gate.authenticate(issued.token)


def test_tenant_overrides_replace_the_defaults(gate):
    issued = gate.keys.create_key("small")
    gate.keys.set_limits("small", {"requests_burst": 1, "requests_per_s": 0.001})
    principal = gate.authenticate(issued.token)
    assert principal.limits.requests_burst == 1 and principal.limits.images_burst == Limits().images_burst
    gate.admit(principal)
    with pytest.raises(RateLimited) as info:
        gate.admit(principal)
    assert info.value.details["retry_after_s"] > 0 and info.value.details["remaining"] == 0


def test_images_and_bytes(gate):
    issued = gate.keys.create_key("acme")
    gate.keys.set_limits("acme", {"images_burst": 4, "images_per_min": 60, "bytes_per_day": 2000})
    principal = gate.authenticate(issued.token)
    gate.take_images(principal, 3)
    with pytest.raises(RateLimited):
        gate.take_images(principal, 2)
    with pytest.raises(RateLimited, match="split"):
        gate.take_images(principal, 5)
    gate.admit(principal, declared_bytes=1900)
    gate.record(principal, bytes_in=1900, images=1)
    with pytest.raises(QuotaExceeded) as info:
        gate.admit(principal, declared_bytes=200)
    assert 0 < info.value.details["retry_after_s"] <= 86400


def test_a_bad_override_is_refused_quoting_it():
    with pytest.raises(InvalidOptions, match="requests_per_s"):
        Limits().merged({"requests_per_s": -1})
    with pytest.raises(InvalidOptions, match="nonsense"):
        Limits().merged({"nonsense": 1})


def test_lookups_are_cached_for_the_ttl(tmp_path):
    gate = Gate(open_db(sqlite_url(tmp_path)), cache_ttl_s=60.0)
    issued = gate.keys.create_key("acme")
    gate.authenticate(issued.token)
    gate.keys.revoke(issued.id)
    assert gate.authenticate(issued.token).tenant == "acme"  # still cached
    gate.cache_ttl_s = 0.0
    with pytest.raises(Forbidden):
        gate.authenticate(issued.token)
