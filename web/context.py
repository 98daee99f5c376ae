"""Access to the running system and the reporter link format, for views."""
from flask import current_app, url_for


def system():
    """The engine's collaborators built by the application factory."""
    return current_app.extensions["incidents"]


def reporter_url(token):
    """The absolute private link for a reporter token, or None."""
    if not token:
        return None
    public = system().settings.public_url
    if public:
        return public.rstrip("/") + url_for("reporter.task", token=token)
    return url_for("reporter.task", token=token, _external=True)


def with_link(case: dict) -> dict:
    """The API shape of a case: the reporter token replaced by its link."""
    out = {k: v for k, v in case.items() if k != "reporter_token"}
    out["reporter_link"] = reporter_url(case.get("reporter_token"))
    return out
