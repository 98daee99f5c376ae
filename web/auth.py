"""Staff login with a session cookie, CSRF tokens for forms, and bearer tokens for the API."""
import functools
import hmac
import secrets
import time

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from engine import users
from engine.errors import AuthenticationFailed, TooManyAttempts

from .context import system

bp = Blueprint("auth", __name__)


class _PagesOnlySessions(SecureCookieSessionInterface):
    """The JSON API authenticates with bearer tokens: its requests neither read nor set the session cookie (a
    browser's cookie gives an API request nothing, and opening a signed cookie on every API call cost time)."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def register(app):
    """Load the signed-in user, expire idle sessions and check CSRF tokens on every page POST."""
    app.session_interface = _PagesOnlySessions()

    @app.before_request
    def _load_user():
        g.actor = None
        username = session.get("user")
        if not username:
            return
        idle = system().settings.session_idle_minutes * 60
        if time.time() - session.get("seen", 0) > idle:
            session.clear()
            return
        session["seen"] = int(time.time())
        with system().reading() as uow:
            g.actor = users.actor_for(uow, username)
        if g.actor is None:
            session.clear()

    @app.before_request
    def _check_csrf():
        if request.method != "POST" or request.path.startswith("/api/"):
            return
        sent = request.form.get("csrf_token", "")
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(sent, expected):
            abort(400, "The form expired or did not come from this site. Reload the page and try again.")

    @app.context_processor
    def _template_globals():
        return {"csrf_token": csrf_token, "actor": g.get("actor")}

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        if request.path.startswith(("/cases", "/tasks", "/outbox", "/r/", "/api/")) or request.path == "/":
            response.headers["Cache-Control"] = "no-store"
        return response


def csrf_token():
    """The session's CSRF token, created on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def login_required(view):
    """Send anonymous visitors to the login page."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("actor") is None:
            return redirect(url_for("auth.login", next=request.path))
        return view(*args, **kwargs)
    return wrapped


def api_actor(uow=None):
    """The actor of the request's bearer token, or raise AuthenticationFailed (401).

    A read-only view passes its own unit of work: one transaction (one connection) for the whole request.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("send Authorization: Bearer <token> (POST /api/tokens gives one)")
    if uow is not None:
        return users.actor_for_token(uow, token.strip())
    with system().reading() as uow:
        return users.actor_for_token(uow, token.strip())


@bp.route("/login", methods=("GET", "POST"))
def login():
    """Show the login form; on success start a fresh session."""
    error = None
    if request.method == "POST":
        try:
            with system().writing() as uow:
                actor = users.authenticate(uow, request.form.get("username", ""), request.form.get("password", ""))
        except AuthenticationFailed:
            error = "Wrong username or password."
        except TooManyAttempts:
            return render_template("auth/login.html", error="Too many failed attempts. Wait 15 minutes."), 429
        else:
            session.clear()  # a new session at login: nothing from before carries over
            session.permanent = True
            session["user"] = actor.username
            session["seen"] = int(time.time())
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("pages.inbox"))
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=("POST",))
def logout():
    """End the session."""
    session.clear()
    return redirect(url_for("auth.login"))
