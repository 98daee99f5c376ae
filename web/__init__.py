"""The Flask front end and JSON API: thin views over the engine's use cases."""
import logging
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask

from engine import faults
from engine.config import Settings
from engine.delivery import start_background_sender
from engine.system import build
from engine.timers import start_background_ticker
from engine.wording import show


def _secret_key(settings: Settings) -> str:
    """The session signing key: from the environment, else a key file created once (shared by all workers)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.secret_key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        except FileExistsError:
            pass  # another worker created it first
    return path.read_text().strip()


class _RedactReporterTokens(logging.Filter):
    """Error logs name the request path; a reporter's private link must not end up in them."""

    _TOKEN = re.compile(r"(/r/|/api/reporter/)[^/\s\]]+")

    def filter(self, record):
        record.msg = self._TOKEN.sub(r"\1<token>", str(record.msg))
        return True


def create_app(test_config=None):
    """Build the application; `test_config` may carry SETTINGS or a ready INCIDENTS system."""
    test_config = test_config or {}
    app = Flask(__name__)
    settings = test_config.get("SETTINGS") or Settings.from_env()
    system = test_config.get("INCIDENTS") or build(settings, fall_back=True)
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_NAME="incidents_session",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_idle_minutes),
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.config.update({k: v for k, v in test_config.items() if k not in ("SETTINGS", "INCIDENTS")})
    app.extensions["incidents"] = system
    app.logger.addFilter(_RedactReporterTokens())
    app.jinja_env.filters["show"] = show  # yes/no/- for people, as in the printed report
    faults.configure(settings.test_pause, settings.test_pause_file)
    if settings.tick_seconds > 0:
        # every worker ticks; row locks make each due timer fire once however many workers share the database
        app.extensions["incidents_ticker"] = start_background_ticker(system, settings.tick_seconds)
    if settings.send_seconds > 0:
        # every worker sends; claims make each message go out once however many workers share the database
        app.extensions["incidents_sender"] = start_background_sender(system, settings.send_seconds)
    # what a stopping worker stops first (cli/gunicorn_conf.py): the message or tick in progress is finished
    app.extensions["incidents_background"] = [app.extensions[name] for name in ("incidents_sender", "incidents_ticker")
                                              if name in app.extensions]

    from . import api, audit, auth, errors, pages, policy, reporter

    app.register_blueprint(auth.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(reporter.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(policy.bp)
    errors.register(app)
    auth.register(app)
    return app
