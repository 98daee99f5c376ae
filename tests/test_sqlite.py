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
