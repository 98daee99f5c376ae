"""Case events record the state after them (ready tasks, a keyed digest of the data) and a digest of their data.

Both columns are covered by the hash chain when present; events written before this revision keep
them empty and their chains verify unchanged.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("case_events", sa.Column("after", sa.Text(), nullable=True))
    op.add_column("case_events", sa.Column("data_mac", sa.String(length=64), nullable=True))


def downgrade():
    op.drop_column("case_events", "data_mac")
    op.drop_column("case_events", "after")
