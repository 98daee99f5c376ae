"""The database tables: users and tokens, process versions, cases, their ready tasks and history."""
from datetime import datetime, timezone

from sqlalchemy import (
    JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, object_session
from sqlalchemy.types import TypeDecorator

from .crypto import PUBLIC, open_public
from .errors import CasePurged


MAX_ID = 2**31 - 1  # ids are 32-bit integer columns: a larger id names nothing (and PostgreSQL would refuse it)


def utcnow():
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp that always comes back timezone-aware in UTC (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.astimezone(timezone.utc) if value is not None and value.tzinfo else value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    """Declarative base of every table."""


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # where notifications go; without one they are kept in the outbox only
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessVersionRow(Base):
    """A published process version: its files and forms, who published it, when and why."""

    __tablename__ = "process_versions"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    files: Mapped[dict] = mapped_column(JSON)
    forms: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    published_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    based_on: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the process tests it passed when published; the next draft must pass them (or change them)
    tests: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class ProcessDraft(Base):
    """Changed diagrams, tables and forms on their way to becoming a version: validated, then published."""

    __tablename__ = "process_drafts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    based_on: Mapped[str] = mapped_column(String(64))
    files: Mapped[dict] = mapped_column(JSON)
    tests: Mapped[dict] = mapped_column(JSON, default=dict)
    errors: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12))
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SealedCase:
    """A case's sealed columns read and written in the clear: the mapped Case and the CaseRecord of the change path.

    The subclass says where the master key is (`_master_key`); the case key is unwrapped once per object.
    """

    ready = None  # its ready tasks (ReadyRows) when known without reading them: read with it, or a new case's none
    told = None  # who may be told of its tasks (notifications.told_of) when read with it

    def _master_key(self):
        return object_session(self).info["master_key"]

    @property
    def purged(self) -> bool:
        """True once the case key was destroyed (its data no longer exists)."""
        return self.wrapped_key is None

    @property
    def cipher(self):
        """The case's own cipher, unwrapped with the master key the first time it is needed."""
        cipher = getattr(self, "_cipher", None)
        if cipher is None:
            if self.wrapped_key is None:
                raise CasePurged(f"case {self.id} was purged: its data no longer exists")
            cipher = self._cipher = self._master_key().unwrap(self.wrapped_key, self.id)
        return cipher

    def use_key(self, cipher, wrapped: str) -> None:
        """Give a new case its key (see MasterKey.new_case_key)."""
        self.wrapped_key, self._cipher = wrapped, cipher

    @property
    def data(self) -> dict:
        """The case data, decrypted; a purged case keeps only what access checks need."""
        if self.purged:
            return {"event_name": self.event_name, "excluded_staff": []}  # a purge forgets the exclusions
        sealed = self.sealed_data
        cached = getattr(self, "_data", None)
        if cached is None or cached[0] is not sealed:
            cached = self._data = (sealed, self.cipher.open("case data", sealed) if sealed else {})
        return cached[1]

    @data.setter
    def data(self, value: dict) -> None:
        self.sealed_data = self.cipher.seal("case data", value)
        self._data = (self.sealed_data, value)

    @property
    def state(self) -> str:
        """The serialized workflow state, decrypted."""
        sealed = self.sealed_state
        cached = getattr(self, "_state", None)
        if cached is None or cached[0] is not sealed:
            cached = self._state = (sealed, self.cipher.open_text("case state", sealed))
        return cached[1]

    @state.setter
    def state(self, value: str) -> None:
        self.sealed_state = self.cipher.seal_text("case state", value)
        self._state = (self.sealed_state, value)


class Case(SealedCase, Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_version: Mapped[str] = mapped_column(ForeignKey("process_versions.hash"))
    status: Mapped[str] = mapped_column(String(10), default="open")
    event_name: Mapped[str] = mapped_column(String(300), index=True)
    # keyed digests of the excluded staff's usernames (MasterKey.exclusion_digest), for the inbox filter
    excluded_staff: Mapped[list] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    head_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    next_due: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # the case key, wrapped by the master key; None once the case is purged (its data is then unreadable)
    wrapped_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    sealed_state: Mapped[str] = mapped_column(Text, default="")
    sealed_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __mapper_args__ = {"version_id_col": version}


class ReadyTaskRow(Base):
    """A user task waiting for input: kept in step with the case state so inboxes need no engine."""

    __tablename__ = "ready_tasks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    task: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    lane: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(40))
    ready_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (Index("ix_ready_tasks_role", "role", "case_id"),)


EVENT_DATA = "event data"


class CaseEvent(Base):
    """One entry of a case's append-only history."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(40))
    task: Mapped[str | None] = mapped_column(String(100), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # the data entered, sealed with the case key (public only for records that must outlive it)
    sealed_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    process_version: Mapped[str] = mapped_column(String(64))
    # the ready tasks and a keyed digest of the case data after this event (snapshots.py); None before 0009
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    # a keyed digest of the data entered, so exported plaintext can be checked without the key
    data_mac: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),)

    @property
    def data(self) -> dict | None:
        """The data entered, decrypted; None once the case is purged."""
        if self.sealed_data.startswith(PUBLIC):
            return open_public(self.sealed_data)
        case = object_session(self).get(Case, self.case_id)
        return None if case.purged else case.cipher.open(EVENT_DATA, self.sealed_data)


class ReporterLink(Base):
    """The private link a reporter uses to write their account; works until the task is done.

    Found by a digest of its token; the token itself is kept sealed, for the case's staff to hand over.
    """

    __tablename__ = "reporter_links"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IdempotencyRow(Base):
    """The answer to a POST that carried an Idempotency-Key, written with the change it made."""

    __tablename__ = "idempotency_keys"
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    # the answer, sealed with the key of the case it is about
    sealed_response: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginFailure(Base):
    """One failed login, kept in the database so throttling holds across worker processes."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserEvent(Base):
    """An event a user works at: on-site staff and organizers see only their events' cases."""

    __tablename__ = "user_events"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    event_name: Mapped[str] = mapped_column(String(300), primary_key=True)


class Notification(Base):
    """One message telling one recipient (a user by email, or an event's webhook) that a task is ready.

    Written in the same transaction as the state change that made the task ready; the sender
    delivers it later. It holds only what the message says: the task's title, the event and the task id.
    """

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # "email" (to a user) or "webhook" (of an event)
    recipient: Mapped[str] = mapped_column(String(300))  # the username, or the event name of the webhook
    title: Mapped[str] = mapped_column(String(300))
    event_name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the batch of the sender that claimed it, and whether that sender tried it yet (engine/delivery.py)
    claim: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tried: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # why it is in its state: the last error, or why it was not sent; never personal data
    detail: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (UniqueConstraint("task_id", "channel", "recipient", name="uq_notifications_task_recipient"),
                      Index("ix_notifications_due", "status", "next_attempt_at"),
                      Index("ix_notifications_recipient", "channel", "recipient", "created_at"))


class EventWebhook(Base):
    """The incoming webhook (Slack- or Discord-compatible) told about ready tasks of one event's cases.

    Its URL is a credential (whoever has it can post to the channel), so it is kept sealed with the master key.
    """

    __tablename__ = "event_webhooks"
    event_name: Mapped[str] = mapped_column(String(300), primary_key=True)
    sealed_url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
