"""Incoming webhooks per event (Slack- or Discord-compatible): set, remove, list; URLs kept sealed."""
from urllib.parse import urlsplit

from sqlalchemy import select

from .errors import InvalidSubmission
from .models import EventWebhook

PURPOSE = "webhook url"


def set_webhook(uow, event_name: str, url: str) -> dict:
    """Tell the incoming webhook at `url` about ready tasks of `event_name`'s cases (replacing any earlier one)."""
    event_name = (event_name or "").strip()
    url = (url or "").strip()
    errors = {}
    if not event_name or len(event_name) > 300:
        errors["event_name"] = ["Give the event's name (at most 300 characters)."]
    problem = url_problem(url)
    if problem:
        errors["url"] = [problem]
    if errors:
        raise InvalidSubmission(errors)
    sealed = uow.session.info["master_key"].system_cipher.seal(PURPOSE, url)
    hook = uow.session.get(EventWebhook, event_name)
    if hook is None:
        uow.session.add(EventWebhook(event_name=event_name, sealed_url=sealed))
    else:
        hook.sealed_url = sealed
    uow.commit()
    return {"event_name": event_name, "host": urlsplit(url).hostname}


def url_problem(url: str) -> str | None:
    """What is wrong with a webhook URL, or None: it must be an absolute http(s) URL without spaces."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Give the webhook's full URL, starting with https://."
    if any(c.isspace() for c in url) or len(url) > 2000:
        return "The URL has spaces in it or is too long."
    try:
        parts.port
    except ValueError:
        return "The URL's port is not a number."
    return None


def remove_webhook(uow, event_name: str) -> bool:
    """Stop telling the event's webhook; False when it had none."""
    hook = uow.session.get(EventWebhook, (event_name or "").strip())
    if hook is None:
        return False
    uow.session.delete(hook)
    uow.commit()
    return True


def list_webhooks(uow) -> list:
    """Each event with a webhook and its host (the full URL is a credential and is not shown)."""
    hooks = uow.session.scalars(select(EventWebhook).order_by(EventWebhook.event_name))
    return [{"event_name": h.event_name, "host": urlsplit(webhook_url(uow.session, h)).hostname} for h in hooks]


def webhook_url(session, hook: EventWebhook) -> str:
    """The webhook's URL, unsealed with the master key."""
    return session.info["master_key"].system_cipher.open(PURPOSE, hook.sealed_url)
