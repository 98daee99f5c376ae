"""Keeps the loaded process versions: the current one from `bpmn/`, older ones from the database."""
import logging
from pathlib import Path

from sqlalchemy import select

from .diagrams import content_hash, describe_forms, load_directory, load_files
from .errors import DiagramError
from .models import ProcessVersionRow
from .runtime import CaseRunner

log = logging.getLogger(__name__)


def _read_directory(directory) -> dict:
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir())
            if p.suffix in (".bpmn", ".dmn") and p.is_file()}


class ProcessRegistry:
    """Parses each process version once and hands out a CaseRunner per version hash."""

    def __init__(self, current, forms, directory=None):
        self.current = current
        self.directory = directory
        self._forms = forms
        self._runners = {current.hash: CaseRunner(current)}
        self._rejected = None

    @classmethod
    def from_directory(cls, directory, forms):
        """Load and validate every diagram in `directory`; raises DiagramError when one is broken."""
        return cls(load_directory(directory, forms), forms, directory)

    @classmethod
    def last_good(cls, session, forms, directory=None):
        """The most recently recorded version from the database (used when the directory is broken)."""
        row = session.scalars(select(ProcessVersionRow).order_by(ProcessVersionRow.created_at.desc())).first()
        if row is None:
            return None
        return cls(load_files({n: t.encode("utf-8") for n, t in row.files.items()}, forms, stored=True), forms,
                   directory)

    def reload(self) -> bool:
        """Adopt the directory's files if they changed and validate; a broken change is logged and ignored."""
        if self.directory is None:
            return False
        seen = None
        try:
            files = _read_directory(self.directory)
            seen = content_hash(files, self._forms)
            if seen in (self.current.hash, self._rejected):
                return False
            version = load_files(files, self._forms)
        except (DiagramError, OSError) as err:
            self._rejected = seen  # log each broken change once, not on every tick
            log.error("diagrams in %s not adopted, still serving version %s: %s",
                      self.directory, self.current.hash[:12], err)
            return False
        self._runners.setdefault(version.hash, CaseRunner(version))
        self.current = version
        log.info("now serving process version %s", version.hash[:12])
        return True

    def record_current(self, session) -> None:
        """Store the current version's files so cases started on it can always be run again."""
        if session.get(ProcessVersionRow, self.current.hash) is None:
            session.add(ProcessVersionRow(hash=self.current.hash, files=self.current.files,
                                          forms=describe_forms(self.current.forms)))
            session.flush()

    def runner(self, version_hash, session=None) -> CaseRunner:
        """The runner for a version, loading an older version's files from the database if needed."""
        runner = self._runners.get(version_hash)
        if runner is None:
            row = session.scalars(select(ProcessVersionRow).where(ProcessVersionRow.hash == version_hash)).one()
            files = {name: text.encode("utf-8") for name, text in row.files.items()}
            if row.forms is not None and row.forms != describe_forms(self._forms):
                # forms are Python in this release: an old version runs with today's form code
                log.warning("process version %s was recorded with other forms than the code has now",
                            version_hash[:12])
            runner = CaseRunner(load_files(files, self._forms, stored=True))
            self._runners[version_hash] = runner
        return runner
