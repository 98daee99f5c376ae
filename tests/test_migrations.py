"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from engine.db import make_engine, upgrade
from engine.models import Base

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def test_migrations_build_the_schema_the_models_describe(database_url):
    db = make_engine(database_url)
    upgrade(db)
    upgrade(db)  # a second run is a no-op
    with db.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert MigrationContext.configure(conn).get_current_revision() is not None
    assert {"cases", "case_events", "ready_tasks", "users"} <= set(inspect(db).get_table_names())
    db.dispose()

