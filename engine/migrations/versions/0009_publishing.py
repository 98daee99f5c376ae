"""Process versions record who published them, when and why; drafts wait for validation and publishing;
cases are indexed by event for the inboxes.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

from engine.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    # inboxes of on-site staff and organizers select their events' cases
    op.create_index("ix_cases_event_name", "cases", ["event_name"])
    op.add_column("process_versions", sa.Column("published_at", UTCDateTime(), nullable=True))
    op.add_column("process_versions", sa.Column("published_by", sa.String(length=80), nullable=True))
    op.add_column("process_versions", sa.Column("note", sa.Text(), nullable=True))
    op.add_column("process_versions", sa.Column("based_on", sa.String(length=64), nullable=True))
    op.add_column("process_versions", sa.Column("tests", sa.JSON(), nullable=True))
    op.create_index("ix_process_versions_published_at", "process_versions", ["published_at"])
    # every version recorded so far was served from the bpmn/ directory
    op.execute("UPDATE process_versions SET published_at = created_at, published_by = 'bpmn/ directory'")
    op.create_table(
        "process_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("based_on", sa.String(length=64), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("tests", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_index("ix_cases_event_name", "cases")
    op.drop_table("process_drafts")
    op.drop_index("ix_process_versions_published_at", "process_versions")
    for column in ("tests", "based_on", "note", "published_by", "published_at"):
        op.drop_column("process_versions", column)
