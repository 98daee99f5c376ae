"""Staff accounts: argon2id password hashes, roles, and API bearer tokens."""
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, select, text

from .errors import AuthenticationFailed, InvalidSubmission, TooManyAttempts
from .models import ApiToken, LoginFailure, User, UserEvent, utcnow
from .roles import REPORTER, STAFF_ROLES
from .sqljson import json_list
from .statements import Prepared, fetch

_HASHER = PasswordHasher()  # argon2id with the library's recommended parameters
_DUMMY_HASH = _HASHER.hash("not a real password")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,79}$")
# one address, nothing that could start another header or recipient
EMAIL = re.compile(r"^[^@\s<>,;:\"()\[\]\\]+@[^@\s<>,;:\"()\[\]\\]+$")
MIN_PASSWORD = 8
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Actor:
    """Whoever acts: a staff user with roles, or the reporter through their private link."""

    username: str
    roles: frozenset
    events: frozenset = frozenset()


REPORTER_ACTOR = Actor("reporter", frozenset({REPORTER}))


def add_user(uow, username: str, roles, password: str, events=(), email=None) -> Actor:
    """Create a user with argon2id-hashed password, roles, events and optional email, or raise InvalidSubmission."""
    errors = {}
    if not USERNAME.match(username or ""):
        errors["username"] = ["Use 2-80 lower-case letters, digits, '.', '_' or '-'."]
    roles = sorted(set(roles or []))
    bad = [r for r in roles if r not in STAFF_ROLES]
    if not roles or bad:
        errors["roles"] = [f"Choose one or more of {', '.join(sorted(STAFF_ROLES))}" +
                           (f"; unknown: {', '.join(bad)}" if bad else "")]
    if len(password or "") < MIN_PASSWORD:
        errors["password"] = [f"Use at least {MIN_PASSWORD} characters."]
    if email and not _valid_email(email):
        errors["email"] = [EMAIL_HELP]
    if not errors and uow.session.scalars(select(User).where(User.username == username)).first():
        errors["username"] = ["This username is taken."]
    if errors:
        raise InvalidSubmission(errors)
    user = User(username=username, password_hash=_HASHER.hash(password), roles=roles, email=email or None)
    uow.session.add(user)
    uow.session.flush()
    events = _clean_events(events)
    uow.session.add_all(UserEvent(user_id=user.id, event_name=event) for event in events)
    uow.commit()
    return Actor(username, frozenset(roles), frozenset(events))


def assign_events(uow, username: str, events) -> Actor:
    """Add events to a user's events; returns the updated actor."""
    user = uow.session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise InvalidSubmission({"username": ["No such user."]})
    have = set(uow.session.scalars(select(UserEvent.event_name).where(UserEvent.user_id == user.id)))
    uow.session.add_all(UserEvent(user_id=user.id, event_name=e) for e in _clean_events(events) if e not in have)
    uow.commit()
    return _actor(uow.session, user)


EMAIL_HELP = "Give one email address such as name@example.org."


def _valid_email(email: str) -> bool:
    # ASCII only: SMTP servers without SMTPUTF8 cannot take anything else
    return len(email) <= 254 and email.isascii() and EMAIL.fullmatch(email) is not None


def set_email(uow, username: str, email) -> str | None:
    """Set (or with None or "" remove) the address a user's notifications are emailed to; returns it."""
    email = (email or "").strip() or None
    if email is not None and not _valid_email(email):
        raise InvalidSubmission({"email": [EMAIL_HELP]})
    user = uow.session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise InvalidSubmission({"username": ["No such user."]})
    user.email = email
    uow.commit()
    return email


def email_of(session, username: str) -> str | None:
    """The address of an active user, or None (no address, no such user, or disabled)."""
    return session.scalar(select(User.email).where(User.username == username, User.active.is_(True)))


def _clean_events(events):
    cleaned = sorted({(event or "").strip() for event in events or ()} - {""})
    if any(len(event) > 300 for event in cleaned):
        raise InvalidSubmission({"events": ["Event names are at most 300 characters."]})
    return cleaned


def _actor(session, user) -> Actor:
    events = session.scalars(select(UserEvent.event_name).where(UserEvent.user_id == user.id))
    return Actor(user.username, frozenset(user.roles), frozenset(events))


def authenticate(uow, username: str, password: str) -> Actor:
    """Return the actor for a correct username and password (in a writing unit of work).

    Raises AuthenticationFailed, or TooManyAttempts once a username has MAX_FAILURES failures
    within FAILURE_WINDOW; failures are stored in the database, so the limit holds across workers.
    """
    username = (username or "")[:80]
    if not USERNAME.match(username):  # no account has such a name: nothing is looked up or stored
        _spend_a_check(password)
        raise AuthenticationFailed("wrong username or password")
    session = uow.session
    if session.get_bind().dialect.name == "postgresql":
        # attempts on one name take turns, so parallel guesses cannot all pass the count before any is stored
        # (SQLite's writers already take turns: BEGIN IMMEDIATE)
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"login:{username}"})
    since = utcnow() - FAILURE_WINDOW
    failures = session.scalar(select(func.count()).select_from(LoginFailure)
                              .where(LoginFailure.username == username, LoginFailure.at > since))
    if failures >= MAX_FAILURES:
        raise TooManyAttempts("too many failed logins for this account; wait 15 minutes and try again")
    user = session.scalars(select(User).where(User.username == username)).first()
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password or "")
        if user is None or not user.active:
            raise VerificationError()
    except (VerificationError, InvalidHashError):
        session.add(LoginFailure(username=username))
        uow.commit()
        raise AuthenticationFailed("wrong username or password") from None
    session.execute(delete(LoginFailure).where(LoginFailure.username == username))
    uow.commit()
    return _actor(session, user)


def _spend_a_check(password):
    """Verify against a dummy hash, so a refusal takes as long as one for a real account."""
    try:
        _HASHER.verify(_DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        pass


# Every request runs one of these: built once, from the tables (building a statement, and loading through the
# mapped classes, cost more than running it). The user's events come along as one JSON array: one query, one
# round trip (joined row by row instead, the user's columns would be decoded again for each of their events).
_T, _U, _E = ApiToken.__table__, User.__table__, UserEvent.__table__
_EVENTS = select(json_list(_E.c.event_name)).where(_E.c.user_id == _U.c.id).scalar_subquery().label("events")
_TOKEN_USER = (select(_T.c.expires_at, _U.c.username, _U.c.roles, _U.c.active, _EVENTS)
               .join(_U, _U.c.id == _T.c.user_id).where(_T.c.token_hash == bindparam("token_hash")))
_TOKEN_USER_FETCH = Prepared(_TOKEN_USER)  # every API request runs it (engine/statements.py)
_ACTIVE_USER = select(_U.c.roles, _EVENTS).where(_U.c.username == bindparam("username"), _U.c.active.is_(True))


def actor_for(uow, username: str):
    """The active user's actor, or None when the account is gone or disabled."""
    user = uow.session.connection().execute(_ACTIVE_USER, {"username": username}).first()
    if user is None:
        return None
    return Actor(username, frozenset(user.roles), frozenset(user.events or ()))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(uow, actor: Actor, hours: int) -> str:
    """Create an API bearer token for `actor`; only its SHA-256 is stored."""
    user = uow.session.scalars(select(User).where(User.username == actor.username)).one()
    token = secrets.token_urlsafe(32)
    uow.session.add(ApiToken(token_hash=_digest(token), user_id=user.id,
                             expires_at=utcnow() + timedelta(hours=hours)))
    uow.commit()
    return token


def actor_for_token(uow, token: str) -> Actor:
    """The actor a live token belongs to, or raise AuthenticationFailed.

    One small prebuilt query (the token with its user and the user's events): every API request pays for it.
    """
    found = fetch(uow.session.connection(), _TOKEN_USER_FETCH, {"token_hash": _digest(token or "")})
    if not found:
        raise AuthenticationFailed("unknown token")
    found = found[0]
    if found["expires_at"] < utcnow():
        raise AuthenticationFailed("token expired")
    if not found["active"]:
        raise AuthenticationFailed("account disabled")
    return Actor(found["username"], frozenset(found["roles"]), frozenset(found["events"] or ()))
