"""PostgreSQL also refuses TRUNCATE on the case history (row triggers do not see it).

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events
            FOR EACH STATEMENT EXECUTE FUNCTION case_events_append_only()""")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS case_events_no_truncate ON case_events")
