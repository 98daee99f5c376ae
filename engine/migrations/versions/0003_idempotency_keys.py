"""Stored answers for POSTs that carried an Idempotency-Key.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from engine.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key"),
    )


def downgrade():
    op.drop_table("idempotency_keys")
