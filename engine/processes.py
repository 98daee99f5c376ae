"""Keeps the loaded process versions: the current one from `bpmn/`, older ones from the database."""
from sqlalchemy import select

from .diagrams import load_directory, load_files
from .models import ProcessVersionRow
from .runtime import CaseRunner


class ProcessRegistry:
    """Parses each process version once and hands out a CaseRunner per version hash."""

    def __init__(self, current, forms):
        self.current = current
        self._forms = forms
        self._runners = {current.hash: CaseRunner(current)}

    @classmethod
    def from_directory(cls, directory, forms):
        """Load and validate every diagram in `directory`; raises DiagramError when one is broken."""
        return cls(load_directory(directory, forms), forms)

    def record_current(self, session) -> None:
        """Store the current version's files so cases started on it can always be run again."""
        if session.get(ProcessVersionRow, self.current.hash) is None:
            session.add(ProcessVersionRow(hash=self.current.hash, files=self.current.files))
            session.flush()

    def runner(self, version_hash, session=None) -> CaseRunner:
        """The runner for a version, loading an older version's files from the database if needed."""
        runner = self._runners.get(version_hash)
        if runner is None:
            row = session.scalars(select(ProcessVersionRow).where(ProcessVersionRow.hash == version_hash)).one()
            files = {name: text.encode("utf-8") for name, text in row.files.items()}
            runner = CaseRunner(load_files(files, self._forms))
            self._runners[version_hash] = runner
        return runner
