"""The unit of work: one database transaction that rolls back unless committed."""


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
