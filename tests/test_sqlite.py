"""SQLite, the embedded default: WAL mode, and write transactions that take the lock up front."""
import threading
import time

from sqlalchemy import text

from engine.db import make_engine, session_factories, upgrade


def test_sqlite_runs_in_wal_mode_and_writers_take_the_lock_when_they_begin(tmp_path):
    db = make_engine(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    upgrade(db)
    _, write = session_factories(db, None)
    with db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    order = []
    first = write()
    first.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is held from here

    def second():
        with write() as session:
            session.execute(text("SELECT 1"))
            order.append("second began")
    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)
    order.append("first commits")
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert order == ["first commits", "second began"]
    db.dispose()


def test_sqlite_commits_are_durable_unless_the_url_asks_for_normal(tmp_path):
    """FULL syncs the log at each commit (a change the app answered for survives a power cut); NORMAL is an
    operator's choice in the URL; anything else is refused naming the parameter, before a file is made."""
    import pytest

    for url, expected in ((f"sqlite:///{tmp_path / 'full.sqlite3'}", 2),
                          (f"sqlite:///{tmp_path / 'normal.sqlite3'}?synchronous=normal", 1)):
        db = make_engine(url)
        with db.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == expected
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        db.dispose()
    assert (tmp_path / "normal.sqlite3").exists() and not (tmp_path / "normal.sqlite3?synchronous=normal").exists()
    with pytest.raises(ValueError, match="synchronous='off' is not one of full, normal"):
        make_engine(f"sqlite:///{tmp_path / 'off.sqlite3'}?synchronous=off")
    assert not (tmp_path / "off.sqlite3").exists()


def test_a_waiting_writer_fails_after_its_timeout_and_leaves_sqlites_own_wait_in_place(tmp_path):
    import sqlite3

    import pytest

    from engine.db import BUSY_TIMEOUT, begin_immediate

    path = tmp_path / "lock.sqlite3"
    holder, waiter = (sqlite3.connect(path, isolation_level=None) for _ in range(2))
    holder.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(waiter, timeout=0.2)
    assert time.monotonic() - started >= 0.2
    # every other wait (a checkpoint, a recovery) keeps SQLite's handler with the full timeout
    assert waiter.execute("PRAGMA busy_timeout").fetchone()[0] == int(BUSY_TIMEOUT * 1000)
    holder.execute("COMMIT")
    begin_immediate(waiter, timeout=0.2)
    assert waiter.in_transaction
    waiter.execute("COMMIT")
    with pytest.raises(sqlite3.OperationalError, match="syntax|no such"):  # not a lock: no waiting, no retry
        begin_immediate(sqlite3.connect(":memory:", isolation_level=None, factory=_BrokenBegin))


class _BrokenBegin(__import__("sqlite3").Connection):
    def execute(self, sql, *args):
        return super().execute("BEGIN IMMEDIATE nonsense" if sql == "BEGIN IMMEDIATE" else sql, *args)


def test_a_writer_that_takes_the_lock_again_and_again_does_not_starve_a_waiting_one(tmp_path):
    """The sender working through a backlog commits a batch, pauses, takes the lock again. A request waiting
    meanwhile must get in at the first pause, not sleep through them (SQLite's own handler sleeps up to 100 ms)."""
    db = make_engine(f"sqlite:///{tmp_path / 'turns.sqlite3'}")
    upgrade(db)
    _, write = session_factories(db, None)
    order, started = [], threading.Event()

    def busy_writer():
        for round_ in range(20):
            with write() as session:
                session.execute(text("SELECT 1"))  # holds the write lock for this round
                started.set()
                time.sleep(0.01)
                session.commit()
            order.append(round_)
            time.sleep(0.005)  # the sender's pause between batches

    thread = threading.Thread(target=busy_writer)
    thread.start()
    started.wait(timeout=30)
    with write() as session:
        session.execute(text("SELECT 1"))
        order.append("request")
        session.commit()
    thread.join(timeout=60)
    assert order.index("request") <= 3, order  # in at one of the first pauses, not after the whole backlog
    db.dispose()
