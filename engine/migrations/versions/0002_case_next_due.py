"""Cases remember when their earliest timer is due, so a tick loads only due cases.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from engine.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_due", UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_next_due"), ["next_due"], unique=False)


def downgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_next_due"))
        batch_op.drop_column("next_due")
