"""Creates the database engine: SQLite in WAL mode with immediate write transactions, or any SQLAlchemy URL."""
import sqlite3
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from .writes import WRITES, drop_held, send_held

# SQLite's `synchronous` settings a URL may ask for (`sqlite:///cases.sqlite3?synchronous=normal`): FULL, the
# default, syncs the write-ahead log at every commit, so a change the app answered for survives a power cut or a
# crash of the machine; NORMAL syncs only at checkpoints: it survives the app's crash, but the last changes before
# a power cut may be gone (about a millisecond less per change on the development VM's disk)
SQLITE_SYNCHRONOUS = ("full", "normal")


def make_engine(url: str):
    """Return an engine for `url`; SQLite files get WAL, foreign keys, a busy timeout and durable commits."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, future=True)
        ping_when_idle(engine)
        return engine
    synchronous = parsed.query.get("synchronous", "full")
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"database URL: synchronous={synchronous!r} is not one of {', '.join(SQLITE_SYNCHRONOUS)}")
    parsed = parsed.difference_update_query(["synchronous"])
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA secure_delete=ON")  # freed space is zeroed: a purged key does not linger
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # a write takes the lock when it starts, so it never fails half-way on a busy database
        if connection.get_execution_options().get("immediate"):
            begin_immediate(connection.connection.dbapi_connection)
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


IDLE_PING_SECONDS = 5.0


def ping_when_idle(engine, idle=IDLE_PING_SECONDS):
    """Check a pooled server connection before use if it sat idle for `idle` seconds; replace it if it is dead.

    A connection used a moment ago is alive (a restarted server is noticed on the first request after a quiet
    spell); pinging at every checkout, as pool_pre_ping does, cost every request a round trip.
    """
    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _idle_since(dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy):
        if time.monotonic() - record.info.get("idle_since", 0.0) < idle:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()  # the ping's own transaction: the connection goes on as it came
        except Exception as err:  # any failure: the pool drops this connection and takes another
            raise exc.DisconnectionError(f"a pooled connection was dead: {type(err).__name__}") from err


BUSY_TIMEOUT = 30.0  # seconds a write waits for the lock before it fails
_POLL = (0.0005, 0.001, 0.002)  # then every 2 ms


def begin_immediate(dbapi_connection, timeout=BUSY_TIMEOUT):
    """BEGIN IMMEDIATE, waiting for the write lock in steps of at most 2 ms.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and then 100 ms between tries: a
    request waiting behind a 10 ms write slept up to 18 ms, and behind a writer that takes the lock again at
    once (the sender working through a backlog) it lost every race while asleep, for hundreds of
    milliseconds. Here it tries again within 2 ms of the lock coming free. Other waits (a checkpoint, a
    recovery) keep SQLite's handler and its timeout.
    """
    deadline = time.monotonic() + timeout
    tries = 0
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                if time.monotonic() >= deadline:
                    raise
            time.sleep(_POLL[min(tries, len(_POLL) - 1)])
            tries += 1
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")


def session_factories(engine, master_key):
    """Return (read, write) session factories; write sessions take the write lock at BEGIN on SQLite.

    Read sessions cannot write: a flush or an INSERT, UPDATE or DELETE through one raises ReadOnlySession. On
    PostgreSQL they read without a transaction (autocommit): at READ COMMITTED each statement sees what was
    committed when it started, in a transaction or not, so BEGIN and ROLLBACK were two round trips bought for
    nothing. A reader that needs one snapshot asks for REPEATABLE READ (history.one_snapshot). On SQLite a read
    stays one transaction: there it is what gives one snapshot.
    Sessions carry the master key, which opens the case keys (see Case.cipher).
    """
    info = {"master_key": master_key}
    reader = engine.execution_options(isolation_level="AUTOCOMMIT") if engine.dialect.name == "postgresql" else engine
    read = sessionmaker(bind=reader, expire_on_commit=False, info=info)
    event.listen(read, "before_flush", _refuse_flush)
    event.listen(read, "do_orm_execute", _refuse_changes)
    write = sessionmaker(bind=engine.execution_options(immediate=True), expire_on_commit=False,
                         info={**info, WRITES: True})
    # a change's held writes (engine/writes.py) go out before its commit, and die with its rollback
    event.listen(write, "before_commit", lambda session: send_held(session))
    event.listen(write, "after_soft_rollback", lambda session, previous: drop_held(session))
    return read, write


class ReadOnlySession(RuntimeError):
    """Something tried to change the database through a unit of work for reads."""


def _refuse_flush(session, flush_context, instances):
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySession("a unit of work for reads cannot write; use system.writing()")


def _refuse_changes(state):
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySession("a unit of work for reads cannot write; use system.writing()")


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection=None, master_key=None) -> Config:
    """Alembic's configuration for our migrations, bound to `connection`.

    Migrations that encrypt stored data take the master key from `config.attributes["master_key"]`.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["master_key"] = master_key
    return config


# the first revision whose data rewrite must not leave the old plaintext behind in free space
SEALING_REVISION = "0008"
LAST_WIPING_REVISION = "0012"  # 0012 replaces excluded staff names by digests: wipe after it too


def upgrade(engine, revision="head", master_key=None) -> None:
    """Bring the database schema up to `revision` (creating it on an empty database).

    After the migration that seals existing data, the old plaintext is wiped from the database
    files (VACUUM; on SQLite also the write-ahead log), not merely marked as free space.
    """
    with engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection, master_key), revision)
        after = MigrationContext.configure(connection).get_current_revision()
    if before is not None and before < LAST_WIPING_REVISION and SEALING_REVISION <= (after or ""):
        wipe_free_space(engine, ("cases", "case_events", "reporter_links", "idempotency_keys"))


def wipe_free_space(engine, tables) -> None:
    """Rewrite the database files so old row versions (plaintext, destroyed keys) are gone from them too."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # outside SQLAlchemy's BEGIN: VACUUM refuses to run in a transaction
        try:
            raw.driver_connection.execute("VACUUM")
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    elif engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in tables:
                connection.exec_driver_sql(f"VACUUM FULL {table}")
