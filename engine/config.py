"""Settings, read once from INCIDENTS_* environment variables by whoever builds the application."""
import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with defaults that work on a fresh clone."""

    database_url: str = f"sqlite:///{ROOT / 'instance' / 'incidents.sqlite3'}"
    bpmn_dir: str = str(ROOT / "bpmn")
    secret_key_file: str = str(ROOT / "instance" / "secret_key")
    secret_key: str | None = None
    master_key_file: str = str(ROOT / "instance" / "master_key")
    master_key: str | None = None
    token_hours: int = 12
    session_idle_minutes: int = 60
    public_url: str | None = None
    tick_seconds: float = 0
    secure_cookies: bool = False
    test_pause: str | None = None
    test_pause_file: str | None = None
    send_seconds: float = 0
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    smtp_starttls: bool = True

    @property
    def smtp_configured(self) -> bool:
        """True when notifications go out by email; without it they stay in the outbox."""
        return bool(self.smtp_host)

    @classmethod
    def from_env(cls, environ=None):
        """Build settings from `environ` (default: os.environ); unset variables keep their defaults."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            database_url=env.get("INCIDENTS_DATABASE_URL", defaults.database_url),
            bpmn_dir=env.get("INCIDENTS_BPMN_DIR", defaults.bpmn_dir),
            secret_key_file=env.get("INCIDENTS_SECRET_KEY_FILE", defaults.secret_key_file),
            secret_key=env.get("INCIDENTS_SECRET_KEY") or None,
            master_key_file=env.get("INCIDENTS_MASTER_KEY_FILE", defaults.master_key_file),
            master_key=env.get("INCIDENTS_MASTER_KEY") or None,
            token_hours=int(env.get("INCIDENTS_TOKEN_HOURS", defaults.token_hours)),
            session_idle_minutes=int(env.get("INCIDENTS_SESSION_IDLE_MINUTES", defaults.session_idle_minutes)),
            public_url=env.get("INCIDENTS_PUBLIC_URL") or None,
            tick_seconds=float(env.get("INCIDENTS_TICK_SECONDS", defaults.tick_seconds)),
            secure_cookies=env.get("INCIDENTS_SECURE_COOKIES") == "1",
            test_pause=env.get("INCIDENTS_TEST_PAUSE") or None,
            test_pause_file=env.get("INCIDENTS_TEST_PAUSE_FILE") or None,
            send_seconds=float(env.get("INCIDENTS_SEND_SECONDS", defaults.send_seconds)),
            **_smtp(env, defaults),
        )


def _smtp(env, defaults) -> dict:
    """The INCIDENTS_SMTP_* settings; a host without a sender address or a public URL is refused, naming the
    variable."""
    host = env.get("INCIDENTS_SMTP_HOST") or None
    sender = env.get("INCIDENTS_SMTP_FROM") or None
    if host and not sender:
        raise ValueError("INCIDENTS_SMTP_FROM (the sender address) is required when INCIDENTS_SMTP_HOST is set")
    port = env.get("INCIDENTS_SMTP_PORT") or str(defaults.smtp_port)
    if not port.isdigit():
        raise ValueError(f"INCIDENTS_SMTP_PORT must be a port number, not {port!r}")
    username = env.get("INCIDENTS_SMTP_USERNAME") or None
    starttls = env.get("INCIDENTS_SMTP_STARTTLS", "1") != "0"
    if host and not (env.get("INCIDENTS_PUBLIC_URL") or "").strip():
        # a message's link is the public URL and the task's path: without it an email carries "/tasks/<id>"
        raise ValueError("INCIDENTS_PUBLIC_URL (where staff open the app, e.g. https://incidents.example.org) is "
                         "required when INCIDENTS_SMTP_HOST is set: every email links to the task with it")
    if host and username and not starttls and host not in _LOOPBACK:
        # the login would cross the network in plain text
        raise ValueError("INCIDENTS_SMTP_STARTTLS=0 with INCIDENTS_SMTP_USERNAME is only allowed for a relay on "
                         f"this machine (localhost), not {host!r}: the password would be sent unencrypted")
    return {"smtp_host": host, "smtp_port": int(port), "smtp_username": username,
            "smtp_password": env.get("INCIDENTS_SMTP_PASSWORD") or None, "smtp_from": sender,
            "smtp_starttls": starttls}


_LOOPBACK = ("localhost", "127.0.0.1", "::1")
