"""``lumograph keys``: tenants and API keys in the service database.

    lumograph keys create --tenant acme [--name ci]   # prints the key once
    lumograph keys list [--tenant acme]
    lumograph keys revoke KEY_ID
    lumograph keys limits acme --requests-per-s 5 --images-per-min 60   # overrides; --reset
    lumograph keys disable acme / enable acme
    lumograph keys usage acme                          # today's requests, images, bytes

The database is the one the Serve config's applications use: ``--database-url``, else
$LUMOGRAPH_JOBS_DATABASE_URL, else SQLite under ``--data-dir`` (default ``data``, as in
configs/local.yaml, relative to where `lumograph serve` runs).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

#: The tenant `lumograph serve` makes a key for on first start, and the file (under the
#: data folder, mode 0600) it keeps that key in for the README's curls.
LOCAL_TENANT = "local"
LOCAL_KEY_FILE = "local-api-key"


def _engine(args: argparse.Namespace):
    """The service database named by ``--database-url`` / ``--data-dir`` (resolved as the
    applications resolve theirs)."""
    from lumograph.jobs.db import open_db
    from lumograph.serve.access import database_url_of

    return open_db(database_url_of(args))


def _store(args: argparse.Namespace):
    from lumograph.access.keys import KeyStore

    return KeyStore(_engine(args))


def ensure_local_key(database_url: str, data_dir: str | Path) -> tuple[str, Path] | None:
    """On a first start: a key for the ``local`` tenant, kept in DATA/local-api-key (0600).
    Returns (key, path) when one was made now, None when the tenant already has a live key."""
    from lumograph.access.keys import KeyStore
    from lumograph.jobs.db import open_db

    store = KeyStore(open_db(database_url))
    if store.has_live_key(LOCAL_TENANT):
        return None
    issued = store.create_key(LOCAL_TENANT, name="made by lumograph serve on first start")
    path = Path(data_dir) / LOCAL_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(issued.token + "\n")
    return issued.token, path


def _print(value) -> None:
    print(json.dumps(value, indent=2, default=str))


def _cmd_create(args: argparse.Namespace) -> int:
    issued = _store(args).create_key(args.tenant, args.name)
    _print({"id": issued.id, "tenant": issued.tenant, "key": issued.token})
    print("lumograph: the key is shown only now; the database keeps a hash of it.", file=sys.stderr)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    _print(_store(args).list_keys(args.tenant))
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    if _store(args).revoke(args.key_id):
        _print({"revoked": args.key_id})
        return 0
    print(json.dumps({"code": "not_found", "message": f"no live key {args.key_id!r}"}), file=sys.stderr)
    return 1


def _cmd_limits(args: argparse.Namespace) -> int:
    from lumograph.access.limits import Limits, with_overrides

    store = _store(args)
    given = {name: getattr(args, name) for name in Limits.model_fields if getattr(args, name, None) is not None}
    current = next((t for t in store.list_tenants() if t["id"] == args.tenant), None)
    if current is None:
        print(json.dumps({"code": "not_found", "message": f"no tenant {args.tenant!r}"}), file=sys.stderr)
        return 1
    overrides = {} if args.reset else {**(current["limits"] or {}), **given}
    with_overrides(Limits(), overrides)  # a bad value fails here, quoting it
    store.set_limits(args.tenant, overrides or None)
    _print({"tenant": args.tenant, "overrides": overrides or None})
    return 0


def _cmd_enable(args: argparse.Namespace, disabled: bool) -> int:
    _store(args).set_disabled(args.tenant, disabled)
    _print({"tenant": args.tenant, "disabled": disabled})
    return 0


def _cmd_usage(args: argparse.Namespace) -> int:
    from lumograph.access.quotas import Quotas

    _print({"tenant": args.tenant, "today": Quotas(_engine(args)).today(args.tenant)})
    return 0


def _guarded(func):
    def run(args: argparse.Namespace) -> int:
        from lumograph.models.common.errors import LumographError

        try:
            return func(args)
        except LumographError as err:
            print(json.dumps({"code": err.code, "message": err.message}), file=sys.stderr)
            return 2
    return run


def register(sub: argparse._SubParsersAction) -> None:
    from lumograph.access.limits import Limits

    k = sub.add_parser("keys", help="tenants and API keys (stored hashed in the service database)")
    k.add_argument("--data-dir", default="data", help="the service's data folder (SQLite), default: data")
    k.add_argument("--database-url", default=None, help="SQLAlchemy URL (default: $LUMOGRAPH_JOBS_DATABASE_URL, "
                                                        "else SQLite under --data-dir)")
    ks = k.add_subparsers(dest="keys_command", required=True)
    c = ks.add_parser("create", help="a new key for a tenant (made if new); printed once")
    c.add_argument("--tenant", required=True)
    c.add_argument("--name", default=None, help="what the key is for")
    c.set_defaults(func=_guarded(_cmd_create))
    ls = ks.add_parser("list", help="keys (never their secrets)")
    ls.add_argument("--tenant", default=None)
    ls.set_defaults(func=_guarded(_cmd_list))
    r = ks.add_parser("revoke", help="revoke a key by its id (403 within 2 s on every replica)")
    r.add_argument("key_id")
    r.set_defaults(func=_guarded(_cmd_revoke))
    li = ks.add_parser("limits", help="a tenant's overrides of the configured limits")
    li.add_argument("tenant")
    for name, field in Limits.model_fields.items():
        kind = int if field.annotation is int else float
        li.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None, help=field.description)
    li.add_argument("--reset", action="store_true", help="back to the configured defaults")
    li.set_defaults(func=_guarded(_cmd_limits))
    for verb, disabled in (("disable", True), ("enable", False)):
        d = ks.add_parser(verb, help=f"{verb} a tenant (its keys answer 403 while disabled)")
        d.add_argument("tenant")
        d.set_defaults(func=_guarded(lambda a, flag=disabled: _cmd_enable(a, flag)))
    u = ks.add_parser("usage", help="a tenant's requests, images and upload bytes today (UTC)")
    u.add_argument("tenant")
    u.set_defaults(func=_guarded(_cmd_usage))
