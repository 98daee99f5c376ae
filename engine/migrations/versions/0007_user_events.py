"""Users are assigned to events: on-site staff and organizers see only their events' cases.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_events",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("event_name", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "event_name"),
    )


def downgrade():
    op.drop_table("user_events")
