"""job controls: smart retry and the catalog-consistency lock (the job's look, and items
held until the reference item has set it)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("controls", sa.JSON, nullable=True))
        batch.add_column(sa.Column("look", sa.JSON, nullable=True))
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("held")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("look")
        batch.drop_column("controls")
