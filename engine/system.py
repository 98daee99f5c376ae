"""Builds the running system once: settings, database, loaded process versions."""
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from forms import FORMS

from .config import Settings
from .crypto import MasterKey, MasterKeyError, load_master_key
from .errors import DiagramError
from .db import make_engine, session_factories, upgrade
from .models import Case
from .processes import ProcessRegistry
from .uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class Incidents:
    """The collaborators every use case needs, built once per process."""

    settings: Settings
    db: object
    processes: ProcessRegistry
    master_key: MasterKey
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
        upgrade(self.db, master_key=self.master_key)
        with self.writing() as uow:
            self.processes.record_current(uow.session)
            uow.commit()


def build(settings: Settings, forms=None, fall_back=False, create_key=False, need_key=True) -> Incidents:
    """Load and validate every diagram, then connect to the database; raises DiagramError on a broken diagram.

    Raises MasterKeyError when there is no master key (`create_key` makes one, for `incidents init`) or
    when it is not the key the stored cases were sealed with. Without `need_key` a missing key is
    allowed (checking hash chains needs none) and nothing sealed can be read.

    With `fall_back`, a broken directory is logged and the last good version recorded in the
    database is served instead (a worker restarted under a running server keeps serving).
    """
    forms = forms or FORMS
    try:
        master_key = load_master_key(settings, create=create_key)
    except MasterKeyError:
        if need_key:
            raise
        master_key = None
    db = make_engine(settings.database_url)
    read, write = session_factories(db, master_key)
    if master_key is not None:
        check_master_key(read)
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
    return Incidents(settings, db, processes, master_key, read, write)


def check_master_key(read) -> None:
    """Refuse to start with a master key that does not open the stored cases (a wrong key or key file)."""
    with UnitOfWork(read) as uow:
        try:
            wrapped = uow.session.scalars(select(Case.wrapped_key).where(Case.wrapped_key.is_not(None))
                                          .order_by(Case.id.desc()).limit(1)).first()
        except DBAPIError:
            return  # no schema yet: `incidents init` creates it
        if wrapped is not None:
            uow.session.info["master_key"].unwrap(wrapped)
