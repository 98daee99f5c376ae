"""Gunicorn access logging without personal data: no client address, no headers, no reporter link tokens."""
import re

from gunicorn.glogging import Logger

_SECRET_PATHS = re.compile(r"^(/r/|/api/reporter/)[^/]+")


class RedactingLogger(Logger):
    """Logs method, path, status and time; a reporter's private link is shown as <token>.

    Only those four are offered to the access log format: gunicorn's own set would also hold the client's
    address, every request header (the bearer token among them), the query string and the environment, and
    a format asking for any of them prints "-". Building only these also saves every request the copy of
    its headers and environment that the full set costs (about 0.1 ms served).
    """

    def atoms(self, resp, req, environ, request_time):
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        return {"m": environ.get("REQUEST_METHOD", "-"),
                "U": _SECRET_PATHS.sub(r"\1<token>", environ.get("PATH_INFO", "")),
                "s": status,
                "L": "%d.%06d" % (request_time.seconds, request_time.microseconds)}
