"""Writes run on the driver's cursor store exactly what the same statement stores through SQLAlchemy Core."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, select, update

from engine.models import CaseEvent, EventWebhook, Notification
from engine.statements import Prepared, fetch, run

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

_W = EventWebhook.__table__


def _rows(system, table, key):
    with system.reading() as uow:
        return [tuple(row) for row in uow.session.execute(select(table).order_by(key))]


def test_a_prepared_insert_stores_what_a_core_insert_stores_defaults_and_time_zones_included(system):
    local = datetime(2026, 12, 4, 23, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    prepared = Prepared(insert(_W).inline())
    with system.writing() as uow:
        connection = uow.session.connection()
        run(connection, prepared, {"event_name": "Driver", "sealed_url": "s1.x", "created_at": local})
        run(connection, prepared, [{"event_name": "Driver 2", "sealed_url": "s1.y"},
                                   {"event_name": "Driver 3", "sealed_url": "s1.z"}])
        connection.execute(insert(_W), [{"event_name": "Core", "sealed_url": "s1.x", "created_at": local}])
        uow.commit()
    rows = {row[0]: row for row in _rows(system, _W, _W.c.event_name)}
    assert rows["Driver"][1:] == rows["Core"][1:]  # the same text, the same instant read back in UTC
    assert rows["Driver"][2] == local and rows["Driver"][2].utcoffset() == timedelta(0)
    assert all(rows[name][2] is not None for name in ("Driver 2", "Driver 3"))  # the column's default filled it


def test_a_prepared_update_changes_the_rows_its_parameters_name(system):
    with system.writing() as uow:
        uow.session.connection().execute(insert(_W), [{"event_name": n, "sealed_url": "old"} for n in ("A", "B")])
        run(uow.session.connection(), Prepared(update(_W).where(_W.c.event_name == bindparam("b_name"))
                                               .values(sealed_url=bindparam("b_url"))),
            [{"b_name": "B", "b_url": "new"}])
        uow.commit()
    assert [(row[0], row[1]) for row in _rows(system, _W, _W.c.event_name)] == [("A", "old"), ("B", "new")]


def test_statements_that_would_ask_something_back_or_vary_their_text_are_refused(system):
    with system.writing() as uow:
        connection = uow.session.connection()
        values = {name: 1 for name in ("case_id", "seq")}
        if connection.dialect.name == "postgresql":  # a new id is asked back with RETURNING unless .inline()
            with pytest.raises(TypeError, match="asks nothing back"):
                run(connection, Prepared(insert(CaseEvent.__table__)), values)
        with pytest.raises(TypeError, match="expanding"):
            run(connection, Prepared(update(_W).where(_W.c.event_name.in_(bindparam("names", expanding=True)))
                                     .values(sealed_url="x")), {"names": ["A"]})


def test_a_row_without_a_value_for_a_required_parameter_names_it(system):
    prepared = Prepared(update(Notification.__table__).where(Notification.__table__.c.id == bindparam("b_id"))
                        .values(status=bindparam("b_status")))
    with system.writing() as uow:
        with pytest.raises(KeyError, match="b_status"):
            run(uow.session.connection(), prepared, {"b_id": 1})


def test_a_connection_lost_under_a_driver_read_leaves_the_pool_and_the_next_change_works(system, make_user):
    if system.db.dialect.name != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from engine.users import _TOKEN_USER_FETCH
    make_user("olga", "onsite_staff")
    admin = create_engine(system.db.url, poolclass=NullPool)
    with system.writing() as uow:
        connection = uow.session.connection()
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        with pytest.raises(connection.dialect.loaded_dbapi.OperationalError):
            fetch(connection, _TOKEN_USER_FETCH, {"token_hash": "0" * 64})
        assert connection.invalidated
    admin.dispose()
    with system.writing() as uow:  # at once, not after the idle ping's delay: the dead one was dropped
        assert uow.session.execute(text("SELECT pg_backend_pid()")).scalar() != backend
