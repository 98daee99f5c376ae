"""Notifications remember the batch that claimed them and whether its sender tried them yet, so a sender
that stops mid-batch loses at most one message, and one whose claim ran out sends none of it.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    # messages claimed before this have no batch: if their sender stopped, they become `unknown`, as they did
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("claim", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("tried", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("tried")
        batch.drop_column("claim")
