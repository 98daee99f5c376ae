"""Gunicorn access logging without personal data: no client address, no reporter link tokens."""
import re

from gunicorn.glogging import Logger

_SECRET_PATHS = re.compile(r"^(/r/|/api/reporter/)[^/]+")


class RedactingLogger(Logger):
    """Logs method, path, status and time; a reporter's private link is shown as <token>."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = _SECRET_PATHS.sub(r"\1<token>", atoms.get("U", ""))
        return atoms
