"""Tenants and API keys: shown once, stored hashed, looked up in constant time, revoked."""
import pytest

from lumograph.access.keys import KeyStore, parse_token
from lumograph.jobs.db import api_keys, open_db, sqlite_url
from lumograph.models.common.errors import InvalidOptions


@pytest.fixture
def store(tmp_path):
    return KeyStore(open_db(sqlite_url(tmp_path)))


def test_a_key_is_shown_once_and_only_its_hash_is_stored(store):
    issued = store.create_key("acme", "ci")
    assert parse_token(issued.token) == (issued.id, issued.token.split("_", 2)[2])
    with store.engine.connect() as conn:
        row = conn.execute(api_keys.select()).one()
    secret = issued.token.split("_", 2)[2]
    assert secret not in str(tuple(row)) and len(row.secret_sha256) == 64
    assert all("token" not in k and secret not in str(v) for k in store.list_keys()[0] for v in store.list_keys()[0].values())


def test_lookup_needs_the_whole_key(store):
    issued = store.create_key("acme")
    assert store.lookup(issued.token).tenant == "acme"
    wrong_secret = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    assert store.lookup(wrong_secret) is None
    assert store.lookup(f"lg_{'0' * 12}_{issued.token.split('_', 2)[2]}") is None
    for junk in ("", "Bearer x", issued.token + "x", issued.id):
        assert store.lookup(junk) is None


def test_revoke_and_disable(store):
    issued = store.create_key("acme")
    assert store.revoke(issued.id) and not store.revoke(issued.id)
    assert store.lookup(issued.token).revoked
    second = store.create_key("acme")
    store.set_disabled("acme", True)
    assert store.lookup(second.token).tenant_disabled and not store.lookup(second.token).revoked
    assert store.has_live_key("acme") and not store.has_live_key("nobody")


def test_tenant_ids_and_limits_are_validated(store):
    with pytest.raises(InvalidOptions):
        store.create_key("Not A Slug")
    with pytest.raises(InvalidOptions):
        store.set_limits("nobody", {"requests_per_s": 1})
    store.ensure_tenant("acme")
    store.set_limits("acme", {"requests_per_s": 1})
    assert store.lookup(store.create_key("acme").token).limits == {"requests_per_s": 1}
