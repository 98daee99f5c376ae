"""The SMTP settings refuse what would fail later or leak: no sender address, a login sent in plain text."""
import pytest

from engine.config import Settings

BASE = {"INCIDENTS_SMTP_HOST": "mail.example.org", "INCIDENTS_SMTP_FROM": "incidents@example.org",
        "INCIDENTS_PUBLIC_URL": "https://incidents.example.org"}


def test_a_login_without_starttls_to_another_machine_is_refused_naming_the_variables():
    with pytest.raises(ValueError, match="INCIDENTS_SMTP_STARTTLS=0 with INCIDENTS_SMTP_USERNAME .* 'mail.example.org'"):
        Settings.from_env({**BASE, "INCIDENTS_SMTP_USERNAME": "u", "INCIDENTS_SMTP_STARTTLS": "0"})


@pytest.mark.parametrize("env", [
    {**BASE, "INCIDENTS_SMTP_USERNAME": "u"},  # STARTTLS, the default
    {**BASE, "INCIDENTS_SMTP_STARTTLS": "0"},  # no login to protect
    {**BASE, "INCIDENTS_SMTP_HOST": "127.0.0.1", "INCIDENTS_SMTP_USERNAME": "u", "INCIDENTS_SMTP_STARTTLS": "0"},
])
def test_starttls_a_relay_without_login_or_one_on_this_machine_are_accepted(env):
    settings = Settings.from_env(env)
    assert settings.smtp_host == env["INCIDENTS_SMTP_HOST"]


def test_a_host_without_a_sender_address_is_refused():
    with pytest.raises(ValueError, match="INCIDENTS_SMTP_FROM"):
        Settings.from_env({"INCIDENTS_SMTP_HOST": "mail.example.org"})


def test_a_host_without_a_public_url_is_refused_as_its_links_would_lead_nowhere():
    env = {key: value for key, value in BASE.items() if key != "INCIDENTS_PUBLIC_URL"}
    for public_url in (None, "", "  "):
        with pytest.raises(ValueError, match="INCIDENTS_PUBLIC_URL .* is required when INCIDENTS_SMTP_HOST is set"):
            Settings.from_env(env if public_url is None else {**env, "INCIDENTS_PUBLIC_URL": public_url})
    assert not Settings.from_env({"INCIDENTS_SMTP_FROM": "a@b"}).smtp_configured  # no host: the outbox, no link needed
