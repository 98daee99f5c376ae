"""The sender: claims due messages from the outbox, delivers each at most once, retries definite failures.

Messages go through short transactions: a claim of a batch (pending -> sending, under the batch's
token and time; rows locked with SKIP LOCKED on PostgreSQL, the write lock taken at BEGIN on SQLite),
then for each message of the batch, one after the other: its fence (a write that marks it tried and counts
the attempt, only if the batch still holds it), the send (outside any transaction, so a slow SMTP server
never holds a database lock) and its record (sent, or back to pending with exponential backoff, or failed
after MAX_ATTEMPTS).

Never twice: a message is only sent again after a failure that proves it did not arrive (refused,
or no connection). If the connection breaks after the message was handed over, or the sender dies
between sending and recording, the message stays `unknown` and is never sent again: the outbox shows
it, and the task is in the recipient's inbox anyway.

A sender sends a message only after its fence committed, and the fence succeeds only while the message
is still `sending` under that sender's claim. A claim older than LEASE is taken as its sender's death:
its messages that were tried become `unknown`; the ones never tried go back to pending, and the fence
of a sender that was only slow (or whose clock disagrees) then fails for them, so it does not send them.
No clock decides whether a message goes out twice; the lease only decides when a dead sender's batch is
picked up again. A sender that stops mid-batch (killed, or its database failing) thereby loses at most
the one message it was sending; a sender that fails or is asked to stop puts its untried rest back at once.
"""
import logging
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, true, update
from sqlalchemy.orm import defer

from . import users
from .access import is_told_of_task
from .background import run_every
from .channels import Uncertain, Undelivered, email_message, post_webhook, send_email
from .models import Case, EventWebhook, Notification, ReadyTaskRow, utcnow
from .notifications import EMAIL, FAILED, OUTBOX, PENDING, SENDING, SENT, SKIPPED, UNKNOWN
from .webhooks import webhook_url

log = logging.getLogger(__name__)
BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=10)
BATCH = 20


@dataclass(frozen=True)
class Outgoing:
    """A claimed message, ready to go: where to and what it says."""

    id: int
    channel: str
    address: str
    subject: str
    text: str
    line: str
    message_id: str
    claim: str


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th definite failure: 30 s, 1 min, 2 min, ... at most an hour."""
    return min(BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF)


def deliver(system, now=None, due_only=True, pause=0.0, stop=None) -> Counter:
    """Deliver every pending message that is due by `now` (with `due_only` False: every pending one), once each.

    Returns how many messages it left in each status. Safe to run from several processes at once:
    each message is claimed by exactly one of them. Between two batches it waits `pause` seconds: a
    served worker's sender working through a backlog would otherwise take the write lock again at once,
    batch after batch, and people's changes would wait behind it. Once the event `stop` is set (the
    worker is shutting down), it tries nothing more: the rest of its batch goes back to pending.
    """
    now = now or utcnow()
    report, seen = Counter(), set()
    while stop is None or not stop.is_set():
        claimed = _claim(system, now, due_only, seen, report)
        if claimed is None:
            return report
        for i, message in enumerate(claimed):
            try:
                if stop is not None and stop.is_set():
                    report[PENDING] += _put_back(system, claimed[i:], "its sender was stopping")
                    return report
                if not _fence(system, message):
                    continue  # its claim ran out and another sender took the batch over: not ours to send
                report[_record(system, message, _send(system.settings, message), now)] += 1
            except BaseException:
                # the message in hand, if it was fenced, may have gone out: it stays `sending`, unknown once its
                # lease runs out; the untried ones (it too, if its fence failed) go back now if the database lets
                # us, else when the lease runs out
                try:
                    _put_back(system, claimed[i:], "its sender failed before trying it")
                except Exception as err:
                    log.error("could not put back %d claimed messages (%s); they go back when their lease runs out",
                              len(claimed) - i, type(err).__name__)
                raise
        if pause:
            time.sleep(pause)
    return report


def _fence(system, message) -> bool:
    """Mark a claimed message tried, and count the attempt, before it is sent; False if the claim no longer
    holds it (recovered after its lease ran out). One conditional write: atomic against a recovery."""
    with system.writing() as uow:
        changed = uow.session.execute(
            update(Notification).where(Notification.id == message.id, Notification.claim == message.claim,
                                       Notification.status == SENDING, Notification.tried.is_(False))
            .values(tried=True, attempts=Notification.attempts + 1)
            .execution_options(synchronize_session=False)).rowcount
        uow.commit()
    if not changed:
        log.warning("notification %d: its claim ran out before it was sent; left to the sender that took it over",
                    message.id)
    return changed == 1


def _put_back(system, messages, why) -> int:
    """Return claimed messages that were not tried to pending, as if never claimed; returns how many.
    One conditional write: a message recovered or taken over meanwhile is left alone."""
    if not messages:
        return 0
    with system.writing() as uow:
        changed = uow.session.execute(
            update(Notification).where(Notification.id.in_([m.id for m in messages]),
                                       Notification.claim == messages[0].claim, Notification.status == SENDING,
                                       Notification.tried.is_(False))
            .values(**_UNCLAIMED, detail=f"not sent: {why}; it goes out again")
            .execution_options(synchronize_session=False)).rowcount
        uow.commit()
    return changed


_UNCLAIMED = {"status": PENDING, "claim": None, "claimed_at": None}


def _claim(system, now, due_only, seen, report):
    """Claim a batch; None when nothing is left. Messages that cannot go out are settled here."""
    waiting = (Notification.status == PENDING, Notification.next_attempt_at <= now if due_only else true(),
               Notification.id.not_in(seen) if seen else true())
    # leases run on the real clock, whatever `now` says about which messages are due
    stale = (Notification.status == SENDING, Notification.claimed_at < utcnow() - LEASE)
    with system.reading() as uow:  # a cheap look first: no write lock when there is nothing to do
        if not uow.session.scalar(select(or_(exists().where(*waiting), exists().where(*stale)))):
            return None
    with system.writing() as uow:
        session = uow.session
        _recover(session, stale, report, now)
        query = select(Notification).where(*waiting).order_by(
            Notification.next_attempt_at, Notification.id).limit(BATCH)
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed, known = [], {}
        claim = Claim(uuid.uuid4().hex, utcnow())
        # the batch's changes are written once, at the commit (not one flush per message before each read)
        with session.no_autoflush:
            batch = session.scalars(query).all()
            ready = select(ReadyTaskRow).where(ReadyTaskRow.id.in_(sorted({n.task_id for n in batch})))
            known.update({("task", t.id): t for t in session.scalars(ready)} if batch else {})
            # and their cases, without the workflow state (the largest column, which no message needs)
            for case in session.scalars(select(Case).options(defer(Case.sealed_state))
                                        .where(Case.id.in_(sorted({n.case_id for n in batch})))) if batch else ():
                known[("case", case.id)] = case
        for n in batch:
            seen.add(n.id)
            try:
                with session.no_autoflush:
                    message = _prepare(uow, system.settings, n, now, known, claim)
            except Exception as err:  # one message that cannot be prepared must not block the queue behind it
                log.error("notification %d: unexpected %s while preparing it", n.id, type(err).__name__)
                message = _settle(n, FAILED, f"could not be prepared ({type(err).__name__})", now)
            if message is None:
                report[n.status] += 1
            else:
                claimed.append(message)
        uow.commit()
    return claimed


@dataclass(frozen=True)
class Claim:
    token: str  # the batch's
    at: datetime  # when it was claimed


def _recover(session, stale, report, now):
    """Settle the messages of senders whose lease ran out: one that was tried may have gone out (unknown,
    never sent again; its claim stays, so its sender, if only slow, can still record how it went); one never
    tried goes back to pending (counted when it is settled), and its sender's fence now fails for it."""
    query = select(Notification).where(*stale).order_by(Notification.id)
    if session.bind.dialect.name == "postgresql":
        # a row being fenced, or recovered by another sender, is skipped: this look decides nothing about it
        query = query.with_for_update(skip_locked=True)
    for n in session.scalars(query):
        if n.tried or n.claim is None:  # (claimed before claims had a token: it may have been tried too)
            _settle(n, UNKNOWN, "the sender stopped while delivering it; not sent again, so never twice", now)
            report[UNKNOWN] += 1
        else:
            for name, value in _UNCLAIMED.items():
                setattr(n, name, value)
            n.detail = "not sent: its sender stopped before trying it; it goes out again"


def _prepare(uow, settings, n, now, known, claim):
    """Claim one message and return it ready to send, or settle it (skipped, outbox) and return None.

    `known` keeps what the batch already read (its tasks and cases, recipients, their addresses): one look each.
    """
    session = uow.session
    task = known.get(("task", n.task_id))  # the batch's ready tasks were read at once
    if task is None:
        return _settle(n, SKIPPED, "the task was done before the message went out", now)
    if n.channel == EMAIL:
        actor = _once(known, ("actor", n.recipient), lambda: users.actor_for(uow, n.recipient))
        if actor is None or not is_told_of_task(
                actor, known[("case", n.case_id)].data, task.role):
            return _settle(n, SKIPPED, "the recipient no longer acts on this task", now)
        address = _once(known, ("email", n.recipient), lambda: users.email_of(session, n.recipient))
        if not settings.smtp_configured or not address:
            why = "no SMTP server is configured" if not settings.smtp_configured else "the user has no email address"
            return _settle(n, OUTBOX, f"kept in the outbox: {why}", now)
    else:
        hook = session.get(EventWebhook, n.recipient)
        if hook is None:
            return _settle(n, SKIPPED, "the event's webhook was removed", now)
        if not settings.public_url:  # set after the webhook was, or removed since: a path alone opens nothing
            return _settle(n, OUTBOX, "kept in the outbox: INCIDENTS_PUBLIC_URL is not set, and a webhook post "
                                      "needs the full link", now)
        address = webhook_url(session, hook)
    n.status, n.claimed_at, n.claim, n.tried = SENDING, claim.at, claim.token, False
    return Outgoing(n.id, n.channel, address, **compose(n, settings.public_url),
                    message_id=_message_id(n, settings.smtp_from), claim=claim.token)


def _once(known, key, read):
    if key not in known:
        known[key] = read()
    return known[key]


def _settle(n, status, detail, now):
    n.status, n.detail, n.done_at = status, detail, now
    return None


def compose(n, public_url) -> dict:
    """A message's subject, email text and one-line form: the task's title, the event, the link; nothing else."""
    link = f"{(public_url or '').rstrip('/')}/tasks/{n.task_id}"
    return {"subject": f"Task ready: {n.title} ({n.event_name})",
            "text": f"A task is waiting in Incidents.\n\nTask: {n.title}\nEvent: {n.event_name}\nOpen it: {link}\n\n"
                    "This message names no one on purpose: sign in to see the case.\n",
            "line": f"{n.title} · {n.event_name} · {link}"}


def _message_id(n, sender) -> str:
    domain = (sender or "").rpartition("@")[2] or "incidents.invalid"
    return f"<notification-{n.id}.{n.task_id}@{domain}>"


def _send(settings, message):
    """Deliver one message; returns None when delivered, else the exception saying how it failed."""
    try:
        if message.channel == EMAIL:
            send_email(settings, email_message(settings.smtp_from, message.address, message.subject, message.text,
                                               message.message_id))
        else:
            post_webhook(message.address, webhook_payload(message.line))
    except (Undelivered, Uncertain) as err:
        return err
    except Exception as err:  # a bug or an unexpected library error: we cannot tell whether it went out
        # no traceback: its message could quote the address; the type names the problem
        log.error("notification %d: unexpected %s while sending", message.id, type(err).__name__)
        return Uncertain(f"unexpected error ({type(err).__name__})")
    return None


def webhook_payload(line: str) -> dict:
    """One JSON body that Slack ("text") and Discord ("content") both accept; neither may ping anyone."""
    line = f"Task ready: {line}"
    slack = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # Slack's control characters
    return {"text": slack, "content": line, "allowed_mentions": {"parse": []}}


def _record(system, message, error, now) -> str:
    """Write how the delivery went; a message is never put back to pending unless it certainly did not arrive.

    Only while the claim still holds it: `sending`, or `unknown` if its lease ran out during the send (what
    the sender learned is then the better answer)."""
    with system.writing() as uow:
        # locked (PostgreSQL; SQLite's writers take turns): a recovery settling it meanwhile is seen whole
        n = uow.session.get(Notification, message.id, with_for_update=True, populate_existing=True)
        if n is None:  # its case was purged meanwhile
            log.warning("notification %d: deleted while it was being sent; outcome not recorded", message.id)
            return SKIPPED
        if n.claim != message.claim or n.status not in (SENDING, UNKNOWN):
            log.warning("notification %d: no longer held by the claim that sent it; outcome not recorded", message.id)
            return n.status
        if error is None:
            n.status, n.detail, n.done_at = SENT, None, now
        elif isinstance(error, Uncertain):
            _settle(n, UNKNOWN, f"{error}; not sent again, so never twice", now)
        elif n.attempts >= MAX_ATTEMPTS:
            _settle(n, FAILED, f"gave up after {n.attempts} attempts: {error}", now)
        else:
            n.status, n.detail, n.next_attempt_at, n.done_at = PENDING, str(error), now + backoff(n.attempts), None
        uow.commit()
        if error is not None:
            log.warning("notification %d (%s): %s; now %s", n.id, n.channel, error, n.status)
        return n.status


SENDER_PAUSE = 0.05  # between batches of the background sender: people's changes go first


def start_background_sender(system, seconds: float):
    """Every `seconds`, deliver the due messages, in a daemon thread (`incidents serve` runs one per worker)."""
    stop = threading.Event()  # set when the worker stops: the sender ends after the message it is sending
    return run_every(seconds, "incidents-sender", lambda: deliver(system, pause=SENDER_PAUSE, stop=stop), stop)
