"""Tenants and their API keys, kept hashed in the service database.

A key reads ``lg_<id>_<secret>``: ``id`` (12 hex digits) is public, listed and revoked by;
``secret`` is 32 random bytes, URL-safe base64. Only SHA-256 of the secret is stored, and
the whole key is shown once, when it is created.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from lumograph.jobs.db import api_keys, now, tenants
from lumograph.models.common.errors import InvalidOptions

PREFIX = "lg"
_TOKEN = re.compile(r"^lg_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_TENANT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``token`` is the only time the secret exists outside the caller."""

    id: str
    tenant: str
    token: str


@dataclass(frozen=True)
class KeyRecord:
    """What a presented key resolves to (never the secret)."""

    id: str
    tenant: str
    revoked: bool
    tenant_disabled: bool
    limits: dict[str, Any] | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    match = _TOKEN.match(token or "")
    return (match.group(1), match.group(2)) if match else None


def check_tenant_id(tenant: str) -> str:
    if not _TENANT.match(tenant or ""):
        raise InvalidOptions(f"tenant: lower-case letters, digits, '.', '_' or '-', at most 64, got {tenant!r}")
    return tenant


class KeyStore:
    """Tenants and keys. Every method is one short transaction."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def ensure_tenant(self, tenant: str, name: str | None = None) -> bool:
        """Create the tenant if it does not exist; True when it was created."""
        check_tenant_id(tenant)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(tenants).values(id=tenant, name=name, created_at=now(), disabled=False))
            return True
        except IntegrityError:
            return False

    def create_key(self, tenant: str, name: str | None = None) -> IssuedKey:
        """A new key for ``tenant`` (created if needed)."""
        self.ensure_tenant(tenant)
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(insert(api_keys).values(id=key_id, tenant=tenant, name=name, secret_sha256=_digest(secret),
                                                 created_at=now()))
        return IssuedKey(key_id, tenant, f"{PREFIX}_{key_id}_{secret}")

    def lookup(self, token: str) -> KeyRecord | None:
        """The key behind ``token``, or None when it is malformed, unknown or its secret is
        wrong (compared in constant time)."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_keys.c.id, api_keys.c.tenant, api_keys.c.secret_sha256, api_keys.c.revoked_at,
                       tenants.c.disabled, tenants.c.limits)
                .join(tenants, tenants.c.id == api_keys.c.tenant).where(api_keys.c.id == key_id)).first()
        if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
            return None
        return KeyRecord(row.id, row.tenant, row.revoked_at is not None, bool(row.disabled), row.limits)

    def touch(self, key_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now()))

    def list_keys(self, tenant: str | None = None) -> list[dict[str, Any]]:
        query = select(api_keys.c.id, api_keys.c.tenant, api_keys.c.name, api_keys.c.created_at,
                       api_keys.c.revoked_at, api_keys.c.last_used_at).order_by(api_keys.c.created_at)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such live key."""
        with self.engine.begin() as conn:
            done = conn.execute(update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                                .values(revoked_at=now()))
        return done.rowcount == 1

    def has_live_key(self, tenant: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(api_keys.c.id).where(api_keys.c.tenant == tenant,
                                                            api_keys.c.revoked_at.is_(None)).limit(1)).first() is not None

    def set_limits(self, tenant: str, limits: dict[str, Any] | None) -> None:
        """Replace the tenant's overrides (None: back to the defaults)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(tenants).where(tenants.c.id == tenant).values(limits=limits or None))
        if done.rowcount != 1:
            raise InvalidOptions(f"no tenant {tenant!r}")

    def set_disabled(self, tenant: str, disabled: bool) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(update(tenants).where(tenants.c.id == tenant).values(disabled=disabled))
        if done.rowcount != 1:
            raise InvalidOptions(f"no tenant {tenant!r}")

    def list_tenants(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(tenants).order_by(tenants.c.id))]
