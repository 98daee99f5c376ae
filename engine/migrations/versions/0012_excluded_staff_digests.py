"""Cases keep keyed digests of the staff a reporter excluded, not their usernames.

Revision ID: 0012
Revises: 0011
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("excluded_staff", sa.JSON))
    bind = op.get_bind()
    rows = [(r.id, json.loads(r.excluded_staff) if isinstance(r.excluded_staff, str) else r.excluded_staff)
            for r in bind.execute(sa.select(cases))]
    rows = [(case_id, names) for case_id, names in rows if names]
    if not rows:
        return
    master = op.get_context().config.attributes.get("master_key")
    if master is None:
        raise RuntimeError("migration 0012 replaces excluded staff names by keyed digests and needs the master key: "
                           "run `incidents init` (it reads INCIDENTS_MASTER_KEY or the master key file)")
    for case_id, names in rows:
        bind.execute(cases.update().where(cases.c.id == case_id).values(
            excluded_staff=[master.exclusion_digest(name) for name in names]))


def downgrade():
    raise RuntimeError("migration 0012 cannot be undone: the digests do not give the names back")
