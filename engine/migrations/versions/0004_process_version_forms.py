"""Process versions record the field descriptions of the forms they were published with.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("process_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("forms", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("process_versions", schema=None) as batch_op:
        batch_op.drop_column("forms")
