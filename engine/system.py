"""Builds the running system once: settings, database, loaded process versions."""
import logging
from dataclasses import dataclass

from forms import FORMS

from .config import Settings
from .errors import DiagramError
from .db import make_engine, session_factories, upgrade
from .processes import ProcessRegistry
from .uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class Incidents:
    """The collaborators every use case needs, built once per process."""

    settings: Settings
    db: object
    processes: ProcessRegistry
    _read: object
    _write: object

    def reading(self) -> UnitOfWork:
        """A unit of work for reads."""
        return UnitOfWork(self._read)

    def writing(self) -> UnitOfWork:
        """A unit of work for changes (takes the write lock up front on SQLite)."""
        return UnitOfWork(self._write)

    def create_schema(self) -> None:
        """Create or upgrade the schema (Alembic migrations) and record the current process version."""
        upgrade(self.db)
        with self.writing() as uow:
            self.processes.record_current(uow.session)
            uow.commit()


def build(settings: Settings, forms=None, fall_back=False) -> Incidents:
    """Load and validate every diagram, then connect to the database; raises DiagramError on a broken diagram.

    With `fall_back`, a broken directory is logged and the last good version recorded in the
    database is served instead (a worker restarted under a running server keeps serving).
    """
    logging.getLogger("spiff").setLevel(logging.INFO)  # at DEBUG SpiffWorkflow logs whole task data
    forms = forms or FORMS
    db = make_engine(settings.database_url)
    read, write = session_factories(db)
    try:
        processes = ProcessRegistry.from_directory(settings.bpmn_dir, forms)
    except DiagramError as err:
        if not fall_back:
            raise
        with UnitOfWork(read) as uow:
            processes = ProcessRegistry.last_good(uow.session, forms, settings.bpmn_dir)
        if processes is None:
            raise
        log.error("diagrams not loaded (%s); serving the last good version %s", err, processes.current.hash[:12])
    return Incidents(settings, db, processes, read, write)
