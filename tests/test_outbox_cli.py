"""Notification settings and message formats, and the `incidents` commands for emails, webhooks and the outbox."""
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from engine import cases, users
from engine.channels import email_message
from engine.config import ROOT, Settings
from engine.delivery import MAX_BACKOFF, backoff, webhook_payload
from engine.system import build
from engine.webhooks import url_problem
from tests.conftest import MASTER_KEY, collect_replays_of
from tests.sinks import SmtpSink, WebhookSink


def test_smtp_settings_come_from_the_environment_and_the_password_is_not_in_their_repr():
    settings = Settings.from_env({"INCIDENTS_SMTP_HOST": "mail.example.org", "INCIDENTS_SMTP_PORT": "2525",
                                  "INCIDENTS_SMTP_USERNAME": "bot", "INCIDENTS_SMTP_PASSWORD": "hunter2-secret",
                                  "INCIDENTS_SMTP_FROM": "incidents@example.org", "INCIDENTS_SEND_SECONDS": "2.5",
                                  "INCIDENTS_PUBLIC_URL": "https://incidents.example.org"})
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_username, settings.smtp_from) == (
        "mail.example.org", 2525, "bot", "incidents@example.org")
    assert settings.smtp_starttls and settings.smtp_configured and settings.send_seconds == 2.5
    assert "hunter2-secret" not in repr(settings)
    plain = Settings.from_env({"INCIDENTS_SMTP_HOST": "127.0.0.1", "INCIDENTS_SMTP_FROM": "a@b",
                               "INCIDENTS_SMTP_STARTTLS": "0", "INCIDENTS_PUBLIC_URL": "http://127.0.0.1:5000"})
    assert plain.smtp_port == 587 and not plain.smtp_starttls
    assert not Settings.from_env({}).smtp_configured


def test_bad_smtp_settings_are_refused_naming_the_variable():
    with pytest.raises(ValueError, match="INCIDENTS_SMTP_FROM"):
        Settings.from_env({"INCIDENTS_SMTP_HOST": "mail.example.org"})
    with pytest.raises(ValueError, match="INCIDENTS_SMTP_PORT must be a port number, not 'smtp'"):
        Settings.from_env({"INCIDENTS_SMTP_HOST": "h", "INCIDENTS_SMTP_FROM": "a@b", "INCIDENTS_SMTP_PORT": "smtp",
                           "INCIDENTS_PUBLIC_URL": "https://incidents.example.org"})


def test_backoff_doubles_from_30_seconds_up_to_an_hour():
    assert [backoff(n).total_seconds() for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert backoff(8) == MAX_BACKOFF == timedelta(hours=1)


def test_the_webhook_body_serves_slack_and_discord_and_pings_no_one():
    body = webhook_payload("Assess safety · Hack <Night> & Day @everyone · https://x.test/tasks/1")
    assert body["content"] == "Task ready: Assess safety · Hack <Night> & Day @everyone · https://x.test/tasks/1"
    assert body["text"] == "Task ready: Assess safety · Hack &lt;Night&gt; &amp; Day @everyone · https://x.test/tasks/1"
    assert body["allowed_mentions"] == {"parse": []}


def test_a_line_break_in_an_event_name_cannot_add_an_email_header():
    message = email_message("incidents@example.org", "olga@example.org", "Task ready: X (Hack\nBcc: eve@evil.test)",
                            "body", "<n-1@example.org>")
    assert message["Subject"] == "Task ready: X (Hack Bcc: eve@evil.test)" and message["Bcc"] is None
    assert b"\nBcc:" not in message.as_bytes()
    accented = email_message("incidents@example.org", "olga@example.org", "Task ready: X (Hack Zürich)", "Zürich",
                             "<n-2@example.org>")
    assert accented["Subject"] == "Task ready: X (Hack Zürich)" and accented.as_bytes().isascii()


@pytest.mark.parametrize("url, problem", [
    ("https://hooks.slack.com/services/T0/B0/XYZ", None),
    ("https://discord.com/api/webhooks/1/abc", None),
    ("ftp://example.org/x", "full URL"),
    ("hooks.slack.com/services/x", "full URL"),
    ("https://example.org/a b", "spaces"),
    ("https://example.org:port/x", "port"),
])
def test_webhook_urls_must_be_absolute_http_urls(url, problem):
    found = url_problem(url)
    assert found is None if problem is None else problem in found


@pytest.fixture
def env(tmp_path, request):
    """The command line's environment on a database of its own; its cases are replayed when the test ends."""
    env = {**os.environ, "INCIDENTS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
           "INCIDENTS_SECRET_KEY_FILE": str(tmp_path / "secret_key"), "INCIDENTS_MASTER_KEY": MASTER_KEY,
           "PYTHONPATH": str(ROOT)}
    yield env
    collect_replays_of(request, Settings(database_url=env["INCIDENTS_DATABASE_URL"], master_key=MASTER_KEY))


def run(env, *args):
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_emails_and_webhooks_are_set_by_command_and_bad_ones_are_refused(env):
    assert run(env, "init").returncode == 0
    for address in ("sam at x", "sam@exämple.org", "sam@x.org\nBcc: eve@x.org"):
        bad = run(env, "user", "add", "sam", "--role", "onsite_staff", "--password", "long enough", "--email", address)
        assert bad.returncode == 1 and "email: Give one email address" in bad.stderr
    added = run(env, "user", "add", "sam", "--role", "onsite_staff", "--password", "long enough",
                "--email", "sam@example.org")
    assert added.returncode == 0
    removed = run(env, "user", "set-email", "sam")
    assert removed.returncode == 0 and "sam: no email address; notifications stay in the outbox" in removed.stdout
    assert "notifications by email to sam@example.org" in run(env, "user", "set-email", "sam", "sam@example.org").stdout
    assert "username: No such user." in run(env, "user", "set-email", "nobody", "n@example.org").stderr
    no_public_url = run(env, "webhook", "set", "HackA", "https://hooks.example.org/services/T0/SECRET")
    assert no_public_url.returncode == 1 and "INCIDENTS_PUBLIC_URL is not set" in no_public_url.stderr
    env = {**env, "INCIDENTS_PUBLIC_URL": "https://incidents.example.org"}
    assert run(env, "webhook", "list").stdout.strip() == "0 webhooks"  # nothing was stored by the refusal
    refused = run(env, "webhook", "set", "HackA", "not-a-url")
    assert refused.returncode == 1 and "url: Give the webhook's full URL" in refused.stderr
    assert run(env, "webhook", "set", "HackA", "https://hooks.example.org/services/T0/SECRET").returncode == 0
    listed = run(env, "webhook", "list").stdout
    assert "HackA\thooks.example.org" in listed and "SECRET" not in listed
    assert run(env, "webhook", "remove", "HackA").returncode == 0
    assert run(env, "webhook", "remove", "HackA").returncode == 1
    missing_from = run({**env, "INCIDENTS_SMTP_HOST": "127.0.0.1"}, "outbox")
    assert missing_from.returncode != 0 and "INCIDENTS_SMTP_FROM" in missing_from.stderr


def test_the_outbox_command_lists_messages_and_sends_the_pending_ones_now(env):
    smtp, hook = SmtpSink(), WebhookSink()
    try:
        assert run(env, "init").returncode == 0
        assert run(env, "user", "add", "sam", "--role", "onsite_staff", "--password", "long enough",
                   "--event", "HackA", "--email", "sam@example.org").returncode == 0
        assert run({**env, "INCIDENTS_PUBLIC_URL": "https://incidents.example.org"},
                   "webhook", "set", "HackA", hook.url).returncode == 0
        system = build(Settings(database_url=env["INCIDENTS_DATABASE_URL"], master_key=MASTER_KEY))
        with system.writing() as uow:
            sam = users.actor_for(uow, "sam")
            case = cases.open_case(uow, system.processes, sam, {
                "event_name": "HackA", "event_format": "digital", "region": "india", "reporter_anonymous": True})
        system.db.dispose()
        listed = run(env, "outbox")
        assert listed.returncode == 0 and "2 notifications shown" in listed.stdout
        assert "pending\temail sam\tHackA: Call the Incident Response Team" in listed.stdout
        assert f"/tasks/{case['tasks'][0]['id']}" in listed.stdout
        sending = {**env, "INCIDENTS_SMTP_HOST": "127.0.0.1", "INCIDENTS_SMTP_PORT": str(smtp.port),
                   "INCIDENTS_SMTP_FROM": "incidents@example.org", "INCIDENTS_SMTP_STARTTLS": "0",
                   "INCIDENTS_PUBLIC_URL": "https://incidents.example.org"}
        sent = run(sending, "outbox", "--send", "--status", "sent")
        assert sent.returncode == 0 and "delivered: 2 sent" in sent.stdout and "2 notifications shown" in sent.stdout
        assert [m["To"] for m in smtp.received] == ["sam@example.org"] and len(hook.bodies) == 1
        assert "delivered: nothing pending" in run(sending, "outbox", "--send").stdout
        assert run(env, "outbox", "--status", "lost").returncode == 2
    finally:
        smtp.stop()
        hook.stop()
