"""The outbox: who is told that a task is ready, written in the transaction that made it ready, and listed.

A message names the task's title, the event and a link to the task, nothing else: never the names,
the account or any other data of the case. The sender (engine/delivery.py) delivers it later.
"""
from sqlalchemy import Text, and_, bindparam, cast, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite

from .access import is_told_of_task
from .errors import InvalidSubmission, NotAllowed
from .models import Case, EventWebhook, Notification, User, UserEvent
from .roles import INCIDENT_TEAM, REPORTER
from .sqljson import json_rows
from .statements import Prepared
from .users import Actor
from .writes import hold

EMAIL = "email"
WEBHOOK = "webhook"

PENDING = "pending"      # waiting for the sender (first try, or a retry after a definite failure)
SENDING = "sending"      # claimed by a sender, being delivered right now
SENT = "sent"            # delivered
FAILED = "failed"        # every attempt failed definitely; given up
OUTBOX = "outbox"        # not emailed (no SMTP server, or the user has no address): read it in the outbox
SKIPPED = "skipped"      # not sent: the task was done first, or the recipient may no longer act on it
UNKNOWN = "unknown"      # the sender stopped mid-delivery: it may have arrived, so it is never sent again
STATUSES = (PENDING, SENDING, SENT, FAILED, OUTBOX, SKIPPED, UNKNOWN)


# run by every change that makes a task ready: built once, from the tables
_N, _U, _UE, _W = Notification.__table__, User.__table__, UserEvent.__table__, EventWebhook.__table__
# one message per task and recipient (uq_notifications_task_recipient): an existing one is left as it is
_ADD_NEW = {dialect.dialect.name: Prepared(dialect.insert(_N).inline().on_conflict_do_nothing(
    index_elements=["task_id", "channel", "recipient"])) for dialect in (postgresql, sqlite)}


def staff_columns(event_name):
    """Who may be told of a task of a case at `event_name` (a column or a parameter), as two columns to read
    with the case: every active user's name, roles and whether they work at the event (one JSON array), and
    whether the event has a webhook. `told_of` turns them into what `enqueue` needs."""
    staff = (select(json_rows(_U.c.username, _U.c.roles, _UE.c.event_name.is_not(None)))
             .select_from(_U.outerjoin(_UE, and_(_UE.c.user_id == _U.c.id, _UE.c.event_name == event_name)))
             .where(_U.c.active.is_(True)).scalar_subquery())
    return staff, exists().where(_W.c.event_name == event_name)


def told_of(event_name, staff, hook) -> tuple:
    """(every active user as an Actor whose events are narrowed to `event_name`, all that matters here;
    whether the event has a webhook), from the columns of `staff_columns`."""
    people = [Actor(username, frozenset(roles), frozenset({event_name}) if at_event else frozenset())
              for username, roles, at_event in staff or ()]
    return people, bool(hook)


_STAFF_OF = select(*staff_columns(bindparam("event_name")))


def enqueue(session, case, rows) -> None:
    """Add, in the caller's transaction (held with the change, engine/writes.py), one message per recipient of
    each newly ready task.

    Recipients are the users whose inbox lists the task (engine/access.is_told_of_task: never excluded
    staff, never the reporter lane) and the event's webhook, which is not told of a case with
    excluded staff (they may read the channel). A task already notified is not notified again: the
    insert skips a (task, channel, recipient) that exists, in the same statement that checks it.
    """
    rows = [r for r in rows if r.lane != REPORTER]
    if not rows:
        return
    connection = session.connection()
    # read with the case where it was (caserecords.case_of_task), else now
    people, hook = case.told or told_of(
        case.event_name, *connection.execute(_STAFF_OF, {"event_name": case.event_name}).one())
    hook = hook and not case.excluded_staff
    messages = []
    for row in rows:
        recipients = [(EMAIL, actor.username) for actor in people if is_told_of_task(actor, case.data, row.role)]
        if hook:
            recipients.append((WEBHOOK, case.event_name))
        messages += [{"task_id": row.id, "case_id": case.id, "channel": channel, "recipient": recipient,
                      "title": row.title, "event_name": case.event_name, "status": PENDING, "attempts": 0}
                     for channel, recipient in recipients]
    if messages:
        hold(session, _ADD_NEW[connection.dialect.name], messages)


def list_for(uow, actor, everyone=False, limit=100) -> list:
    """The messages sent to `actor`, newest first; with `everyone`, every message (the incident team only).

    Never a message of a case that excludes the actor: to them that case does not exist, and its messages
    would show its tasks, its event and who handles it.
    """
    if everyone and INCIDENT_TEAM not in actor.roles:
        raise NotAllowed("only the Incident Response Team sees everyone's notifications")
    mine = uow.session.info["master_key"].exclusion_digest(actor.username)  # case rows keep digests, not names
    # the exclusions' JSON text holds each digest in quotes: a hex digest is matched whole, and has no wildcard
    excluded = func.coalesce(cast(Case.excluded_staff, Text), "").contains(f'"{mine}"', autoescape=True)
    query = select(Notification).outerjoin(Case, Case.id == Notification.case_id).where(~excluded)
    if not everyone:
        query = query.where(Notification.channel == EMAIL, Notification.recipient == actor.username)
    return _listed(uow.session, query, limit)


def list_all(uow, status=None, limit=100) -> list:
    """Every message, newest first, optionally only those in one status (for the operator's command line)."""
    if status is not None and status not in STATUSES:
        raise InvalidSubmission({"status": [f"Choose one of {', '.join(STATUSES)}."]})
    query = select(Notification)
    if status is not None:
        query = query.where(Notification.status == status)
    return _listed(uow.session, query, limit)


def _listed(session, query, limit) -> list:
    rows = session.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit))
    return [{"id": n.id, "task_id": n.task_id, "case_id": n.case_id, "channel": n.channel, "recipient": n.recipient,
             "title": n.title, "event_name": n.event_name, "status": n.status, "attempts": n.attempts,
             "detail": n.detail, "created_at": _iso(n.created_at), "done_at": _iso(n.done_at),
             "next_attempt_at": _iso(n.next_attempt_at) if n.status == PENDING else None} for n in rows]


def _iso(value):
    return value.isoformat() if value is not None else None
