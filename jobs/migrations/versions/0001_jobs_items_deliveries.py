"""jobs, items and webhook deliveries

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("vertical", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("bundle", sa.JSON, nullable=True),
        sa.Column("callback_url", sa.Text, nullable=True),
        sa.Column("callback_per_item", sa.Boolean, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("n_items", sa.Integer, nullable=False),
        sa.Column("bytes_in", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("webhook_state", sa.String(16), nullable=True),
        sa.Column("summary", sa.JSON, nullable=True),
        sa.UniqueConstraint("tenant", "idempotency_key", name="uq_jobs_idempotency"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("filename", sa.Text, nullable=True),
        sa.Column("input_uri", sa.Text, nullable=False),
        sa.Column("bytes_in", sa.Integer, nullable=False),
        sa.Column("context", sa.JSON, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claim", sa.String(32), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("claims", sa.Integer, nullable=False),
        sa.Column("completions", sa.Integer, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("billable", sa.Boolean, nullable=False),
        sa.Column("media_type", sa.String(32), nullable=True),
        sa.Column("output_uri", sa.Text, nullable=True),
        sa.Column("output_sha256", sa.String(64), nullable=True),
        sa.Column("report_uri", sa.Text, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.UniqueConstraint("job_id", "n", name="uq_items_job_n"),
    )
    op.create_index("ix_items_state_id", "items", ["state", "id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("item_n", sa.Integer, nullable=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("delivered", sa.Boolean, nullable=False),
    )
    op.create_index("ix_deliveries_job", "deliveries", ["job_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_job", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_items_state_id", table_name="items")
    op.drop_table("items")
    op.drop_table("jobs")
