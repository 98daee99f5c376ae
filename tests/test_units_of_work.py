"""Units of work for reads cannot write; on PostgreSQL they read without a transaction (two round trips fewer)."""
import time

import pytest
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.pool import NullPool

from engine.db import ReadOnlySession
from engine.history import one_snapshot
from engine.models import EventWebhook, User
from engine.writes import hold

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def test_a_unit_of_work_for_reads_refuses_every_write_and_stores_nothing(system, make_user):
    make_user("olga", "onsite_staff")
    with system.reading() as uow:
        uow.session.add(EventWebhook(event_name="HackRO", sealed_url="sealed"))
        with pytest.raises(ReadOnlySession, match="cannot write; use system.writing"):
            uow.session.flush()
    with system.reading() as uow:
        user = uow.session.scalars(select(User).where(User.username == "olga")).one()
        user.active = False  # a changed object is refused at the flush a query would start
        with pytest.raises(ReadOnlySession):
            uow.session.scalars(select(User)).all()
    with system.reading() as uow:
        with pytest.raises(ReadOnlySession):
            uow.session.execute(insert(EventWebhook).values(event_name="HackRO", sealed_url="sealed"))
    with system.writing() as uow:
        assert uow.session.scalars(select(EventWebhook)).all() == []
        assert uow.session.scalars(select(User.active).where(User.username == "olga")).one() is True
        uow.session.add(EventWebhook(event_name="HackRO", sealed_url="sealed"))
        uow.commit()  # writing units of work still write
    with system.reading() as uow:
        assert [w.event_name for w in uow.session.scalars(select(EventWebhook))] == ["HackRO"]


def test_reads_span_a_transaction_only_where_it_buys_something(system):
    """On PostgreSQL each statement of a read is its own snapshot (as READ COMMITTED gives inside a
    transaction too); SQLite keeps one transaction, its one snapshot. A verifier still gets one snapshot."""
    postgres = system.db.dialect.name == "postgresql"
    clock = text("SELECT now()" if postgres else "SELECT 1")
    with system.reading() as uow:
        first = uow.session.execute(clock).scalar()
        time.sleep(0.02)
        second = uow.session.execute(clock).scalar()
        assert uow.session.connection().in_transaction()  # SQLAlchemy's view; the server's is below
        if postgres:
            assert first != second  # now() is the transaction's start: each statement had its own
    if postgres:
        with system.reading() as uow:
            one_snapshot(uow.session)
            first = uow.session.execute(clock).scalar()
            time.sleep(0.02)
            assert uow.session.execute(clock).scalar() == first
            assert uow.session.execute(text("SHOW transaction_isolation")).scalar() == "repeatable read"
        with system.writing() as uow:  # a change is one transaction, as ever
            first = uow.session.execute(clock).scalar()
            time.sleep(0.02)
            assert uow.session.execute(clock).scalar() == first


def test_a_pooled_connection_killed_while_idle_is_replaced_before_use(system, make_user, monkeypatch):
    """Connections are not pinged at every checkout (a round trip per request); one that sat idle is, and a dead
    one is dropped for a fresh one instead of failing the request."""
    if system.db.dialect.name != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    make_user("olga", "onsite_staff")
    with system.reading() as uow:
        backend = uow.session.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = create_engine(system.db.url, poolclass=NullPool)
    with admin.connect() as connection:  # another engine: the pooled connection stays idle in its pool
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar() is True
    admin.dispose()
    for record in system.db.pool._pool.queue:  # as if it had sat idle past the threshold
        record.info["idle_since"] = time.monotonic() - 3600
    with system.reading() as uow:
        assert uow.session.scalars(select(User.username)).all() == ["olga"]
        assert uow.session.execute(text("SELECT pg_backend_pid()")).scalar() != backend


def test_a_unit_of_work_for_reads_cannot_hold_a_change_s_writes_either(system, make_user):
    """Rows a change writes with the case (engine/writes.py) are refused in a read, not silently dropped."""
    make_user("olga", "onsite_staff")
    with system.reading() as uow:
        with pytest.raises(ReadOnlySession, match="cannot write; use system.writing"):
            hold(uow.session, insert(EventWebhook.__table__).inline(), {"event_name": "HackRO", "sealed_url": "s"})
