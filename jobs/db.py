"""The jobs database: tables (SQLAlchemy Core), the engine, and migrations on start-up.

SQLite in WAL mode is the embedded default (one file under the data folder); PostgreSQL
by URL on a cluster. The schema is owned by Alembic (``jobs/migrations``): ``open_db``
upgrades a database to head before use, so a new release migrates an old file in place.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
)

metadata = MetaData()

#: Job states. ``queued``: no item started; ``running``; ``done``: every item ended (each
#: has its own state); ``failed``: every item ended and none was delivered; ``cancelled``.
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
#: Item states. ``done``: an image delivered (verdict pass or review); ``rejected``: the QA
#: gate failed it (no image, the report says why); ``error``: it could not be processed
#: (the error's code); ``cancelled``: the job was cancelled before it started.
ITEM_STATES = ("queued", "running", "done", "rejected", "error", "cancelled")
FINAL_ITEM_STATES = ("done", "rejected", "error", "cancelled")
FINAL_JOB_STATES = ("done", "failed", "cancelled")

jobs = Table(
    "jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("vertical", String(16), nullable=False),
    Column("state", String(16), nullable=False, default="queued"),
    Column("options", JSON, nullable=False),
    Column("bundle", JSON, nullable=True),
    Column("callback_url", Text, nullable=True),
    Column("callback_per_item", Boolean, nullable=False, default=False),
    Column("idempotency_key", String(255), nullable=True),
    Column("request_hash", String(64), nullable=True),
    Column("tenant", String(64), nullable=False, default="default"),
    Column("n_items", Integer, nullable=False),
    Column("bytes_in", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("webhook_state", String(16), nullable=True),
    Column("summary", JSON, nullable=True),
    # Per-job switches the workers read: {"smart_retry": bool, "consistency": {...}} (0002).
    Column("controls", JSON, nullable=True),
    # The catalog look a consistency-locked job's reference item measured (0002).
    Column("look", JSON, nullable=True),
    UniqueConstraint("tenant", "idempotency_key", name="uq_jobs_idempotency"),
)

items = Table(
    "items", metadata,
    # A global sequence: workers take queued items oldest first across jobs.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("n", Integer, nullable=False),
    Column("filename", Text, nullable=True),
    Column("input_uri", Text, nullable=False),
    Column("bytes_in", Integer, nullable=False, default=0),
    Column("context", JSON, nullable=True),
    Column("state", String(16), nullable=False, default="queued"),
    # Held back until the job's look is set (a consistency-locked job's other items, 0002).
    Column("held", Boolean, nullable=False, default=False, server_default=false()),
    # The claim: who runs it and until when (a worker renews its lease while it runs; an
    # expired lease means the worker died and the item goes back to the queue).
    Column("claim", String(32), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("claims", Integer, nullable=False, default=0),
    Column("completions", Integer, nullable=False, default=0),
    Column("verdict", String(16), nullable=True),
    Column("billable", Boolean, nullable=False, default=False),
    Column("media_type", String(32), nullable=True),
    Column("output_uri", Text, nullable=True),
    Column("output_sha256", String(64), nullable=True),
    Column("report_uri", Text, nullable=True),
    Column("error", JSON, nullable=True),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("seconds", Float, nullable=True),
    UniqueConstraint("job_id", "n", name="uq_items_job_n"),
    Index("ix_items_state_id", "state", "id"),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("delivery_id", String(32), nullable=False),
    Column("event", String(32), nullable=False),
    Column("item_n", Integer, nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("url", Text, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_s", Float, nullable=False),
    Column("at", Float, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Index("ix_deliveries_job", "job_id", "id"),
)


# ---------------------------------------------------------------- tenants, keys, quotas (0003)
# Owned by ``lumograph.access``; they live here so one Alembic history owns the database.

tenants = Table(
    "tenants", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=True),
    # Overrides of the configured default limits ({"requests_per_s": 5, ...}); null: defaults.
    Column("limits", JSON, nullable=True),
    Column("disabled", Boolean, nullable=False, default=False, server_default=false()),
    Column("created_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    # The public half of a key ("lg_<id>_<secret>"): looked up, listed, revoked by it.
    Column("id", String(16), primary_key=True),
    Column("tenant", String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=True),
    # SHA-256 of the secret half. Keys are 256 random bits, so a fast hash is enough: there
    # is nothing to brute-force; a slow KDF would only cost every request.
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
    Index("ix_api_keys_tenant", "tenant"),
)

buckets = Table(
    "buckets", metadata,
    # One token bucket per tenant and limit ("requests", "images"): shared by every ingress
    # replica, so a tenant's rate is one rate however many replicas serve it.
    Column("tenant", String(64), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

usage = Table(
    "usage", metadata,
    # Per tenant and UTC day: what was taken in (the bytes-per-day quota) and served.
    Column("tenant", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("requests", Integer, nullable=False, default=0),
    Column("images", Integer, nullable=False, default=0),
    Column("bytes_in", BigInteger, nullable=False, default=0),
)


_UPGRADE_LOCK = threading.Lock()


def now() -> float:
    return time.time()


def sqlite_url(data_dir: str | Path) -> str:
    """The embedded default: ``DATA/jobs.sqlite3``."""
    path = Path(data_dir).expanduser().resolve() / "jobs.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; a busy writer waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema with Alembic (idempotent)."""
    from alembic import command
    from alembic.config import Config

    from sqlalchemy.exc import DatabaseError

    here = Path(__file__).resolve().parent / "migrations"
    config = Config()
    config.set_main_option("script_location", str(here))
    # Every ingress replica opens the database as it starts, often at the same moment: one
    # migrates, another may read the old version, then find the tables made ("already
    # exists"). Upgrading again reads the new version and does nothing.
    for attempt in range(4):
        try:
            # Alembic's command context is module-global: one upgrade at a time per process.
            with _UPGRADE_LOCK, engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            return
        except DatabaseError:
            if attempt == 3:
                raise
            time.sleep(0.2 * (attempt + 1))


def open_db(url: str) -> Engine:
    """An engine on ``url``, migrated to head."""
    engine = make_engine(url)
    upgrade(engine)
    return engine
