"""Keeps the loaded process versions: the bpmn/ directory's, the published ones and older ones from the database."""
import logging

from sqlalchemy import select

from .diagrams import content_hash, describe_forms, load_directory, load_files, read_directory
from .errors import DiagramError
from .models import ProcessVersionRow, utcnow
from .runtime import CaseRunner

log = logging.getLogger(__name__)
DIRECTORY_PUBLISHER = "bpmn/ directory"


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
            files = read_directory(self.directory)
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

    @property
    def forms(self) -> dict:
        """The forms in the code (declarative forms travel with each version's files)."""
        return self._forms

    def record_current(self, session) -> None:
        """Store the directory's version (published by the bpmn/ directory) if it is new.

        Cases start on the latest published version, so a changed bpmn/ directory is published
        here; drafts published through the policy pages, the API or `incidents publish` come after it.
        """
        # the hash only: loading the row would decode every file of the version, on every case opened
        if session.scalar(select(ProcessVersionRow.hash).where(ProcessVersionRow.hash == self.current.hash)) is None:
            now = utcnow()
            session.add(ProcessVersionRow(hash=self.current.hash, files=self.current.files,
                                          forms=describe_forms(self.current.forms), created_at=now,
                                          published_at=now, published_by=DIRECTORY_PUBLISHER,
                                          note="the bpmn/ directory changed",
                                          based_on=self.latest_hash(session, record=False)))
            session.flush()

    def latest_hash(self, session, record=True) -> str:
        """The version new cases start on: the one published last."""
        if record:
            self.record_current(session)
        latest = session.scalars(select(ProcessVersionRow.hash).where(ProcessVersionRow.published_at.is_not(None))
                                 .order_by(ProcessVersionRow.published_at.desc()).limit(1)).first()
        return latest or self.current.hash

    def adopt(self, version) -> None:
        """Keep a just-published version's runner (other workers load it from the database when needed)."""
        self._runners.setdefault(version.hash, CaseRunner(version))

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
