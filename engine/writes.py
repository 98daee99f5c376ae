"""The writes of one change of a case, held until the case itself is written, then sent together.

A change of state writes several rows besides the case: its ready tasks, reporter links, messages and
the history event. Nothing reads them back before the case is written, so they are held (`hold`) and
sent at once (`send_held`), with the case's own write (a case whose row the change has locked,
caserecords.save) or right after it: on PostgreSQL in one round trip (the driver's pipeline mode),
elsewhere one after the other. A unit of work never commits with writes still held: the session sends
them first (see db.session_factories), so none is lost by a caller that commits without writing the case.
"""
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from .errors import StaleCase
from .statements import Prepared, run

_HELD = "incidents held writes"
WRITES = "incidents writes"  # in the info of sessions for changes (db.session_factories): only they hold writes
STALE = "the case changed while you were working on it; reload and try again"


def hold(session, statement, params) -> None:
    """Keep a write (a Core statement and its parameters, or a list of them) for `send_held`.

    It must ask nothing back, as a pipeline gives no result before it ends: an INSERT is `.inline()`, so
    SQLAlchemy neither asks for the new row's id (RETURNING) nor fetches it from its sequence first.
    """
    if not session.info.get(WRITES):
        from .db import ReadOnlySession  # (db builds the sessions that send held writes)
        raise ReadOnlySession("a unit of work for reads cannot write; use system.writing()")
    session.info.setdefault(_HELD, []).append((statement, params))


def send_held(session) -> None:
    """Run the held writes in the session's transaction, in the order they were held; a clash with a
    concurrent change of the same case (a history seq or task id taken meanwhile) becomes StaleCase.

    A prepared statement (engine/statements.py) runs on the driver's cursor, anything else through Core.
    """
    held = session.info.pop(_HELD, None)
    if not held:
        return
    connection = session.connection()
    driver = connection.dialect.loaded_dbapi
    try:
        with sent_together(connection):
            for statement, params in held:
                if isinstance(statement, Prepared):
                    run(connection, statement, params)
                else:
                    connection.execute(statement, params)
    except (IntegrityError, driver.IntegrityError):
        raise StaleCase(STALE) from None
    except driver.Error as err:  # the pipeline's own errors come when it ends: a dead connection leaves the pool
        if not connection.invalidated and connection.dialect.is_disconnect(err, connection.connection, None):
            connection.invalidate()
        raise


def drop_held(session) -> None:
    """Forget held writes (the transaction they belonged to rolled back)."""
    session.info.pop(_HELD, None)


@contextmanager
def sent_together(connection):
    """Statements whose results nobody reads, sent in one round trip on PostgreSQL (pipeline mode); their errors
    arrive when the block ends. Other databases run each statement as it comes."""
    if connection.dialect.name != "postgresql":
        yield
        return
    with connection.connection.driver_connection.pipeline():
        yield
