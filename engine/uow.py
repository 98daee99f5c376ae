"""The unit of work: one database transaction that rolls back unless committed."""
from .errors import StaleCase


class UnitOfWork:
    """A context manager around one session; `commit()` makes its changes durable, anything else rolls back."""

    def __init__(self, session_factory):
        self._factory = session_factory
        self.session = None

    def __enter__(self):
        self.session = self._factory()
        return self

    def __exit__(self, *exc):
        try:
            self.session.rollback()
        finally:
            self.session.close()
        return False

    def commit(self):
        """Commit everything done in this unit of work."""
        self.session.commit()


def retrying(make_uow, action, attempts=3):
    """Run `action(uow)` in a fresh unit of work, again if another writer changed the case first.

    Two people completing parallel tasks of one case (the review and the organizers' view) both
    succeed this way; a task someone else already completed still ends in TaskNotReady.
    """
    for attempt in range(attempts):
        try:
            with make_uow() as uow:
                return action(uow)
        except StaleCase:
            if attempt == attempts - 1:
                raise
