"""Notifications on SQLite and PostgreSQL: a real SMTP server and webhook on loopback receive what is sent.

Who is told, that a change rolled back tells no one, retries with backoff, never twice, never a name.
"""
import os
import signal
import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import cases, delivery, history, notifications, users, views, webhooks
from engine.models import EventWebhook, Notification, ReadyTaskRow, User, utcnow
from tests.net import request
from tests.sinks import SmtpSink, WebhookSink

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

EVENT = "HackTest"
INTAKE = {"event_name": EVENT, "event_format": "in_person", "region": "europe", "opened_by_role": "onsite_staff",
          "reporter_anonymous": True}
PUBLIC_URL = "https://incidents.example.test"
CALL = {"team_member_contacted": "Tess", "called_at": "2026-11-24T10:00"}
SAFE = [("call_incident_team", CALL), ("assess_safety", {"general_threat": False}),
        ("ask_victim_law_enforcement", {"victim_requests_law_enforcement": False}),
        ("support_victim", {"offered_private_place": True, "explained_role_and_asked": True,
                            "gave_emergency_contacts": True})]


def address(username):
    return f"{username}@staff.example.test"


@pytest.fixture
def people(system, staff):
    """The staff of conftest, with email addresses (bea is on-site staff and organizer at every test event)."""
    with system.writing() as uow:
        for name in ("olga", "tom", "orla", "bea"):
            users.set_email(uow, name, address(name))
    return staff


@pytest.fixture
def smtp(system):
    """A real SMTP server on loopback, and the system configured to send through it."""
    sink = SmtpSink()
    system.settings = replace(system.settings, smtp_host="127.0.0.1", smtp_port=sink.port,
                              smtp_from="incidents@example.test", smtp_starttls=False, public_url=PUBLIC_URL)
    yield sink
    sink.stop()


@pytest.fixture
def hook(system):
    """A webhook receiver on loopback, configured for the test event."""
    sink = WebhookSink()
    with system.writing() as uow:
        webhooks.set_webhook(uow, EVENT, sink.url)
    yield sink
    sink.stop()


@pytest.fixture
def _public(system):
    """Links in messages start with the public URL."""
    system.settings = replace(system.settings, public_url=PUBLIC_URL)


def open_case(system, actor, **intake):
    with system.writing() as uow:
        return cases.open_case(uow, system.processes, actor, {**INTAKE, **intake})


def ready(system, case_id, task):
    with system.reading() as uow:
        return uow.session.scalars(select(ReadyTaskRow.id).where(ReadyTaskRow.case_id == case_id,
                                                                 ReadyTaskRow.task == task)).one()


def do(system, actor, case_id, task, data):
    with system.writing() as uow:
        return cases.complete_task(uow, system.processes, actor, ready(system, case_id, task), data)


def messages(system, **where):
    """(task title, channel, recipient, status) of every notification, optionally filtered by column values."""
    with system.reading() as uow:
        query = select(Notification).order_by(Notification.id)
        for column, value in where.items():
            query = query.where(getattr(Notification, column) == value)
        return [(n.title, n.channel, n.recipient, n.status) for n in uow.session.scalars(query)]


def test_a_ready_task_is_emailed_to_the_staff_of_its_role_at_the_event(system, people, smtp):
    case = open_case(system, people["onsite"])
    task_id = case["tasks"][0]["id"]
    assert delivery.deliver(system) == {"sent": 2}
    assert sorted(m["To"] for m in smtp.received) == [address("bea"), address("olga")]
    mail = smtp.to(address("olga"))[0]
    assert mail["Subject"] == f"Task ready: Call the Incident Response Team ({EVENT})"
    assert mail["From"] == "incidents@example.test" and mail["Auto-Submitted"] == "auto-generated"
    body = mail.get_content()
    assert f"{PUBLIC_URL}/tasks/{task_id}" in body and f"Event: {EVENT}" in body
    assert mail["Message-ID"].endswith("@example.test>") and task_id in mail["Message-ID"]
    assert {status for *_, status in messages(system)} == {"sent"}
    assert delivery.deliver(system) == {}  # nothing is sent twice


def test_the_team_hears_of_every_case_and_organizers_only_of_their_events(system, people, make_user):
    make_user("oscar", "organizer", events=("Elsewhere",))
    make_user("tina", "incident_team", events=())
    make_user("gone", "incident_team", events=())
    with system.writing() as uow:
        uow.session.scalars(select(User).where(User.username == "gone")).one().active = False
        uow.commit()
    case = open_case(system, people["onsite"])
    for task, data in [*SAFE, ("choose_account_writer", {"written_by": "staff_transcription"}),
                       ("transcribe_account", {"harasser_identification": "H", "behavior": "B",
                                               "approximate_time": "22:00"}),
                       ("send_report", {"report_reviewed": True})]:
        do(system, people["onsite"], case["id"], task, data)
    review = "Review the report against the Disciplinary Action Policy"
    assert sorted(r for title, _, r, _ in messages(system) if title == review) == ["tina", "tom"]
    assert sorted(r for title, _, r, _ in messages(system) if title == "Add the organizers' view") == ["bea", "orla"]
    assert {r for *_, r, _ in messages(system)} == {"olga", "bea", "tom", "tina", "orla"}  # never auditor or policy
    with system.reading() as uow:  # told of a task exactly when it is in one's inbox
        waiting = set(uow.session.scalars(select(ReadyTaskRow.id)))
        for name in ("olga", "tom", "orla", "audrey", "pol", "bea", "oscar", "tina"):
            inbox = {t["id"] for t in views.list_inbox(uow, users.actor_for(uow, name))}
            told = set(uow.session.scalars(select(Notification.task_id).where(Notification.recipient == name)))
            assert inbox == told & waiting, name


def test_excluded_staff_are_never_told_and_the_event_webhook_stays_silent_about_their_case(
        system, people, make_user, smtp, hook):
    otto = make_user("otto", "onsite_staff", "incident_team")
    with system.writing() as uow:
        users.set_email(uow, "otto", address("otto"))
    case = open_case(system, people["onsite"], excluded_staff=["otto"])
    for task, data in SAFE:
        do(system, people["onsite"], case["id"], task, data)
        delivery.deliver(system)
    assert smtp.to(address("olga")) and not smtp.to(address("otto"))
    assert not messages(system, recipient="otto") and not messages(system, channel="webhook")
    assert hook.bodies == []
    open_case(system, otto)  # the same people on a case that excludes no one: otto and the webhook are told
    delivery.deliver(system)
    assert len(smtp.to(address("otto"))) == 1 and len(hook.bodies) == 1


def test_the_reporter_task_is_no_ones_notification(system, people):
    case = open_case(system, people["onsite"])
    for task, data in [*SAFE, ("choose_account_writer", {"written_by": "reporter"})]:
        do(system, people["onsite"], case["id"], task, data)
    write_account = ready(system, case["id"], "write_account")
    with system.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Notification)
                                  .where(Notification.task_id == write_account)) == 0


def test_a_change_that_rolls_back_sends_nothing(system, people, smtp, monkeypatch):
    case = open_case(system, people["onsite"])
    delivery.deliver(system)
    before = len(smtp.received)

    def history_fails(*args, **kwargs):
        raise RuntimeError("the disk is full")
    monkeypatch.setattr(history, "append", history_fails)  # before the change's writes leave for the database
    with pytest.raises(RuntimeError):
        do(system, people["onsite"], case["id"], "call_incident_team", CALL)
    monkeypatch.undo()
    assert [title for title, *_ in messages(system)] == ["Call the Incident Response Team"] * 2
    assert delivery.deliver(system) == {} and len(smtp.received) == before


def test_messages_written_by_a_change_that_then_fails_are_rolled_back_with_it(system, people, smtp, monkeypatch):
    """The failure comes after the case, its new ready tasks and their messages were written in the change's
    transaction (seen from inside it): the rollback takes the messages too, and the sender finds nothing."""
    case = open_case(system, people["onsite"])
    delivery.deliver(system)
    before, written = len(smtp.received), []

    def answer_fails(case, rows, actor, session):
        written.append(session.scalar(select(func.count()).select_from(Notification)
                                      .where(Notification.task_id.in_([r.id for r in rows]))))
        raise RuntimeError("the answer could not be built")
    monkeypatch.setattr(cases, "case_view", answer_fails)
    with pytest.raises(RuntimeError):
        do(system, people["onsite"], case["id"], "call_incident_team", CALL)
    monkeypatch.undo()
    assert written and written[0] > 0  # the messages of the tasks it made ready were in the database
    assert [title for title, *_ in messages(system)] == ["Call the Incident Response Team"] * 2
    assert delivery.deliver(system) == {} and len(smtp.received) == before
    assert ready(system, case["id"], "call_incident_team")  # and the case still waits where it was


def test_a_refusing_smtp_server_is_retried_with_growing_backoff_until_it_accepts(system, people, smtp):
    with system.writing() as uow:
        users.set_email(uow, "bea", None)
    smtp.refuse = 2
    open_case(system, people["onsite"])
    t0 = utcnow()
    assert delivery.deliver(system, now=t0) == {"pending": 1, "outbox": 1}
    assert delivery.deliver(system, now=t0 + timedelta(seconds=29)) == {}  # waits 30 s
    assert delivery.deliver(system, now=t0 + timedelta(seconds=31)) == {"pending": 1}
    with system.reading() as uow:
        n = uow.session.scalars(select(Notification).where(Notification.recipient == "olga")).one()
        assert n.attempts == 2 and n.detail == "SMTP 451 after the message"
        assert n.next_attempt_at == t0 + timedelta(seconds=31) + timedelta(seconds=60)  # then waits twice as long
    assert delivery.deliver(system, now=t0 + timedelta(seconds=90)) == {}
    assert delivery.deliver(system, now=t0 + timedelta(seconds=92)) == {"sent": 1}
    assert [m["To"] for m in smtp.received] == [address("olga")]
    assert messages(system, recipient="bea")[0][3] == "outbox"


def test_a_message_that_never_gets_through_is_marked_failed(system, people, smtp, hook):
    smtp.stop()  # nobody listens on the port any more
    hook.fail = 100
    open_case(system, people["onsite"])
    now = utcnow()
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        report = delivery.deliver(system, now=now)
        assert report == ({"pending": 3} if attempt < delivery.MAX_ATTEMPTS else {"failed": 3})
        now += delivery.backoff(attempt)
    with system.reading() as uow:
        listed = notifications.list_all(uow, status="failed")
    assert len(listed) == 3 and {m["attempts"] for m in listed} == {delivery.MAX_ATTEMPTS}
    details = {m["detail"] for m in listed}
    assert details == {"gave up after 8 attempts: cannot connect to the SMTP server (ConnectionRefusedError)",
                       "gave up after 8 attempts: the webhook answered HTTP 429"}
    assert delivery.deliver(system, now=now + timedelta(days=1)) == {}


def test_two_senders_at_once_send_each_message_exactly_once(system, people, smtp):
    for _ in range(6):
        open_case(system, people["onsite"])
    reports, barrier = [], threading.Barrier(3)

    def sender():
        barrier.wait()
        reports.append(delivery.deliver(system))
    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [m["Message-ID"] for m in smtp.received]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert sum(r["sent"] for r in reports) == 12


def test_a_message_that_may_have_arrived_is_never_sent_again(system, people, smtp):
    with system.writing() as uow:
        users.set_email(uow, "bea", None)
    smtp.drop = 1  # the server takes the message, then the connection breaks before it answers
    open_case(system, people["onsite"])
    assert delivery.deliver(system) == {"unknown": 1, "outbox": 1}
    (n,) = [m for m in _listed(system) if m["recipient"] == "olga"]
    assert n["status"] == "unknown" and "not sent again" in n["detail"]
    assert delivery.deliver(system, due_only=False, now=utcnow() + timedelta(days=1)) == {}
    assert smtp.received == []


def test_a_sender_that_died_between_claim_and_record_leaves_the_message_unknown(system, people, smtp):
    open_case(system, people["onsite"])
    now = utcnow()
    with system.writing() as uow:  # as a sender that claimed both and then died (or is still sending one)
        olga, bea = uow.session.scalars(select(Notification).order_by(Notification.recipient.desc())).all()
        olga.status, olga.claimed_at, olga.attempts = "sending", now - delivery.LEASE - timedelta(seconds=1), 1
        bea.status, bea.claimed_at, bea.attempts = "sending", now - timedelta(seconds=5), 1
        uow.commit()
    assert delivery.deliver(system, now=now) == {"unknown": 1}
    assert {m["recipient"]: m["status"] for m in _listed(system)} == {"olga": "unknown", "bea": "sending"}
    assert smtp.received == []


def _statuses(system):
    with system.reading() as uow:
        return [(n.status, n.attempts) for n in uow.session.scalars(select(Notification).order_by(Notification.id))]


def _age_claims(system):
    """As if the lease of every claim ran out."""
    with system.writing() as uow:
        for n in uow.session.scalars(select(Notification).where(Notification.status == "sending")):
            n.claimed_at -= delivery.LEASE + timedelta(seconds=1)
        uow.commit()


def test_a_sender_that_fails_mid_batch_puts_back_what_it_did_not_try(system, people, smtp, monkeypatch):
    for _ in range(3):
        open_case(system, people["onsite"])  # 6 messages: olga and bea for each case, one batch
    record, calls = delivery._record, []

    def failing_record(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database gone")  # the second message went out, its record did not
        return record(*args)
    monkeypatch.setattr(delivery, "_record", failing_record)
    with pytest.raises(RuntimeError):
        delivery.deliver(system)
    assert len(smtp.received) == 2
    assert _statuses(system) == [("sent", 1), ("sending", 1)] + [("pending", 0)] * 4  # untried, as never claimed
    monkeypatch.setattr(delivery, "_record", record)
    assert delivery.deliver(system) == {"sent": 4}  # the untried ones at once; the one in flight waits its lease
    _age_claims(system)
    assert delivery.deliver(system) == {"unknown": 1}
    ids = [m["Message-ID"] for m in smtp.received]
    assert len(ids) == 6 and len(set(ids)) == 6  # every message once, the uncertain one included
    assert [status for status, _ in _statuses(system)] == ["sent", "unknown", "sent", "sent", "sent", "sent"]


def test_a_fence_that_fails_leaves_its_message_untried_and_back_in_the_queue(system, people, smtp, monkeypatch):
    for _ in range(2):
        open_case(system, people["onsite"])
    fence, calls = delivery._fence, []

    def failing_fence(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database is locked")  # before its write: the second message was not tried
        return fence(*args)
    monkeypatch.setattr(delivery, "_fence", failing_fence)
    with pytest.raises(RuntimeError):
        delivery.deliver(system)
    assert _statuses(system) == [("sent", 1)] + [("pending", 0)] * 3  # none waits for a lease to run out
    monkeypatch.setattr(delivery, "_fence", fence)
    assert delivery.deliver(system) == {"sent": 3} and len(smtp.received) == 4


def test_a_sender_killed_mid_batch_loses_only_the_message_it_was_sending(system, people, smtp):
    for _ in range(2):
        open_case(system, people["onsite"])
    now = utcnow()
    with system.writing() as uow:  # a batch claimed by a sender killed while sending its first message
        rows = uow.session.scalars(select(Notification).order_by(Notification.id)).all()
        for n in rows:
            n.status, n.claim, n.claimed_at = "sending", "a" * 32, now - delivery.LEASE
        rows[0].tried, rows[0].attempts = True, 1
        rows[3].claim, rows[3].attempts = None, 1  # claimed before claims had a token: it may have been tried
        uow.commit()
    assert delivery.deliver(system) == {"unknown": 2, "sent": 2}
    assert _statuses(system) == [("unknown", 1), ("sent", 1), ("sent", 1), ("unknown", 1)]
    assert len(smtp.received) == 2


def test_a_slow_sender_whose_claim_was_taken_over_sends_none_of_what_it_did_not_try(system, people, smtp,
                                                                                     monkeypatch):
    for _ in range(2):
        open_case(system, people["onsite"])
    send, taken_over = delivery._send, []

    def slow_send(settings, message):
        if not taken_over:  # while the first sender sends its first message, its lease runs out (a stall, or
            taken_over.append(1)  # a clock that jumped) and another sender takes the batch over
            _age_claims(system)
            assert delivery.deliver(system) == {"unknown": 1, "sent": 3}
        return send(settings, message)
    monkeypatch.setattr(delivery, "_send", slow_send)
    assert delivery.deliver(system) == {"sent": 1}  # its first message, which it had tried; none of the others
    ids = [m["Message-ID"] for m in smtp.received]
    assert len(ids) == 4 and len(set(ids)) == 4  # every message once
    assert [status for status, _ in _statuses(system)] == ["sent"] * 4  # the slow one's outcome recorded too


def test_a_stopping_sender_puts_back_the_rest_of_its_batch(system, people, smtp, monkeypatch):
    for _ in range(2):
        open_case(system, people["onsite"])
    stop, send = threading.Event(), delivery._send

    def send_then_stop(*args):
        stop.set()  # the worker is asked to stop while this message goes out
        return send(*args)
    monkeypatch.setattr(delivery, "_send", send_then_stop)
    assert delivery.deliver(system, stop=stop) == {"sent": 1, "pending": 3}
    assert _statuses(system) == [("sent", 1)] + [("pending", 0)] * 3
    assert delivery.deliver(system, stop=stop) == {}  # and a stopped sender claims nothing more
    monkeypatch.setattr(delivery, "_send", send)
    assert delivery.deliver(system) == {"sent": 3} and len(smtp.received) == 4


def test_a_served_worker_that_is_stopped_finishes_its_message_and_leaves_the_rest_pending(
        system, people, smtp, serve, tmp_path):
    for _ in range(5):
        open_case(system, people["onsite"])  # a backlog of 10 messages, one batch
    smtp.delay = 0.3
    serve(workers=1, INCIDENTS_SEND_SECONDS="0.1", INCIDENTS_SMTP_HOST="127.0.0.1",
          INCIDENTS_SMTP_PORT=str(smtp.port), INCIDENTS_SMTP_FROM="incidents@example.test",
          INCIDENTS_SMTP_STARTTLS="0", INCIDENTS_PUBLIC_URL=PUBLIC_URL)
    deadline = time.monotonic() + 30
    while not smtp.received:
        assert time.monotonic() < deadline, "the served worker sent nothing"
        time.sleep(0.05)
    master = int((tmp_path / "server.pid").read_text())
    os.killpg(master, signal.SIGTERM)  # as a restart or a deploy stops it, mid-batch
    deadline = time.monotonic() + 40
    while any(pid_alive(pid) for pid in [master]):
        assert time.monotonic() < deadline, "the server did not stop"
        time.sleep(0.05)
    statuses = [status for status, _ in _statuses(system)]
    assert "sending" not in statuses and "unknown" not in statuses  # the message in flight was finished
    assert 1 <= statuses.count("sent") == len(smtp.received) < 10  # stopped mid-batch
    assert set(statuses) == {"sent", "pending"}
    assert delivery.deliver(system) == {"sent": statuses.count("pending")}
    ids = [m["Message-ID"] for m in smtp.received]
    assert len(ids) == 10 and len(set(ids)) == 10


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")


def test_a_webhook_server_error_may_have_posted_so_it_is_not_posted_again(system, people, hook, _public):
    open_case(system, people["onsite"])
    hook.fail, hook.fail_status = 1, 502
    assert delivery.deliver(system, now=utcnow())["unknown"] == 1
    (n,) = [m for m in _listed(system) if m["channel"] == "webhook"]
    assert n["status"] == "unknown" and n["detail"].startswith("the webhook answered HTTP 502")
    assert delivery.deliver(system, due_only=False, now=utcnow() + timedelta(days=1)) == {}
    assert hook.refused == 1 and hook.bodies == []  # one post reached it; none was tried again


def test_a_message_that_cannot_be_prepared_fails_alone_and_does_not_block_the_others(system, people, smtp, hook):
    with system.writing() as uow:  # a webhook URL sealed under another master key, say
        uow.session.get(EventWebhook, EVENT).sealed_url = "s1.bm90IHNlYWxlZCB3aXRoIHRoaXMga2V5"
        uow.commit()
    open_case(system, people["onsite"])
    assert delivery.deliver(system) == {"sent": 2, "failed": 1}
    (failed,) = [m for m in _listed(system) if m["status"] == "failed"]
    assert failed["channel"] == "webhook" and failed["detail"] == "could not be prepared (SealedValueError)"


def test_a_task_done_before_the_sender_ran_is_not_announced(system, people, smtp):
    case = open_case(system, people["onsite"])
    do(system, people["onsite"], case["id"], "call_incident_team", CALL)
    assert delivery.deliver(system) == {"skipped": 2, "sent": 2}
    assert {m["Subject"] for m in smtp.received} == {f"Task ready: Assess safety ({EVENT})"}


def test_the_event_webhook_gets_one_post_that_slack_and_discord_both_read(system, people, hook, _public):
    case = open_case(system, people["onsite"])
    hook.fail = 1
    assert delivery.deliver(system)["pending"] == 1
    assert delivery.deliver(system, due_only=False) == {"sent": 1}
    (body,) = hook.bodies
    link = f"{PUBLIC_URL}/tasks/{case['tasks'][0]['id']}"
    assert body["content"] == f"Task ready: Call the Incident Response Team · {EVENT} · {link}"
    assert body["text"] == body["content"] and body["allowed_mentions"] == {"parse": []}
    with system.reading() as uow:
        assert webhooks.list_webhooks(uow) == [{"event_name": EVENT, "host": "127.0.0.1"}]
        sealed = uow.session.get(EventWebhook, EVENT).sealed_url
    assert "secret-path-token" not in sealed and "127.0.0.1" not in sealed


def test_without_the_public_url_a_webhook_message_stays_in_the_outbox(system, people, hook):
    open_case(system, people["onsite"])  # no INCIDENTS_PUBLIC_URL: its link would be a bare /tasks/... path
    assert delivery.deliver(system, due_only=False) == {"outbox": 3}  # and no SMTP: the two emails too
    assert hook.bodies == []
    assert [m[1:] for m in messages(system, channel="webhook")] == [("webhook", EVENT, "outbox")]
    with system.reading() as uow:
        detail = uow.session.scalars(select(Notification.detail).where(Notification.channel == "webhook")).one()
    assert "INCIDENTS_PUBLIC_URL is not set" in detail


def test_no_email_or_webhook_post_carries_anything_the_case_recorded(api, client, system, people, smtp, hook):
    from tests.test_encryption import HARASSER, REPORTER, SECRETS, STATEMENT, WITNESS
    from tests.test_api import do as api_do, open_case as api_open_case
    with system.writing() as uow:
        webhooks.set_webhook(uow, "HackAPI", hook.url)

    def step(user, task, **data):
        api_do(api, user, cid, task, **data)
        delivery.deliver(system)
    cid = api_open_case(api, reporter_name=REPORTER)["id"]
    delivery.deliver(system)
    for task, data in SAFE:
        step("olga", task, **data)
    step("olga", "choose_account_writer", written_by="staff_transcription")
    step("olga", "transcribe_account", harasser_identification=HARASSER, behavior=STATEMENT,
         approximate_time="22:00", others_aware=[WITNESS])
    step("olga", "send_report", report_reviewed=True, staff_notes=f"{REPORTER} was calm")
    step("tom", "review_report", policy_assessment=f"{HARASSER} broke the policy")
    step("orla", "add_organizer_view", organizer_view="First time")
    step("tom", "decide_action", action="warning", warning_form="written", rationale=f"{HARASSER} did it",
         decided_with="Olga")
    decoded = ["\n".join(f"{k}: {v}" for k, v in m.items()) + "\n" + m.get_content() for m in smtp.received]
    sent = [raw.decode("utf-8", "replace") for raw in smtp.raw] + decoded + [str(body) for body in hook.bodies]
    assert len(smtp.raw) >= 10 and len(hook.bodies) >= 8
    for text in sent:
        for secret in (*SECRETS, "Rae Porter"):
            assert secret not in text


def test_without_smtp_messages_wait_in_the_outbox_page_of_each_recipient(system, people, client, _public):
    from tests.test_pages import login
    case = open_case(system, people["onsite"])
    assert delivery.deliver(system) == {"outbox": 2}
    login(client, "olga")
    page = client.get("/outbox").get_data(as_text=True)
    assert "Call the Incident Response Team" in page and "shown here only" in page
    assert f"/tasks/{case['tasks'][0]['id']}" in page and "no SMTP server is configured" in page
    assert client.get("/outbox?all=1").status_code == 403
    client.post("/logout", data={"csrf_token": _csrf(client)})
    login(client, "audrey")
    assert "No notifications yet." in client.get("/outbox").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": _csrf(client)})
    login(client, "tom")
    everyone = client.get("/outbox?all=1").get_data(as_text=True)
    assert "email to olga" in everyone and "email to bea" in everyone


def test_the_team_list_of_everyones_messages_leaves_out_cases_that_exclude_the_reader(
        system, people, client, make_user, _public):
    from tests.test_pages import login
    make_user("tess", "incident_team")
    hidden = open_case(system, people["onsite"], excluded_staff=["tess"])
    for task, data in SAFE:  # tasks of several roles: on-site staff and the team are told
        do(system, people["onsite"], hidden["id"], task, data)
    seen = open_case(system, people["onsite"])
    delivery.deliver(system)
    hidden_tasks = set(messages_of_case(system, hidden["id"]))
    assert len(hidden_tasks) >= 3
    login(client, "tess")
    assert client.get(f"/cases/{hidden['id']}").status_code == 404
    page = client.get("/outbox?all=1").get_data(as_text=True)
    assert f"/tasks/{seen['tasks'][0]['id']}" in page  # everyone's messages are listed...
    for task_id in hidden_tasks:  # ...but none of the case that does not exist for her
        assert f"/tasks/{task_id}" not in page
    client.post("/logout", data={"csrf_token": _csrf(client)})
    login(client, "tom")  # a team member it does not exclude sees them all
    page = client.get("/outbox?all=1").get_data(as_text=True)
    assert all(f"/tasks/{task_id}" in page for task_id in hidden_tasks)


def messages_of_case(system, case_id):
    with system.reading() as uow:
        return uow.session.scalars(select(Notification.task_id).where(Notification.case_id == case_id)).all()


def test_the_served_workers_send_in_the_background_each_message_once(system, people, smtp, serve):
    port, token = serve(workers=2, INCIDENTS_SEND_SECONDS="0.2", INCIDENTS_SMTP_HOST="127.0.0.1",
                        INCIDENTS_SMTP_PORT=str(smtp.port), INCIDENTS_SMTP_FROM="incidents@example.test",
                        INCIDENTS_SMTP_STARTTLS="0", INCIDENTS_PUBLIC_URL=PUBLIC_URL)
    status, case = request(port, "POST", "/api/cases", INTAKE, headers={"Authorization": f"Bearer {token}"})
    assert status == 201
    deadline = time.monotonic() + 30
    while len(smtp.received) < 2:
        assert time.monotonic() < deadline, "the served workers sent nothing"
        time.sleep(0.1)
    time.sleep(1)  # both workers had several more rounds to send anything twice
    assert sorted(m["To"] for m in smtp.received) == [address("bea"), address("olga")]
    assert f"{PUBLIC_URL}/tasks/{case['tasks'][0]['id']}" in smtp.received[0].get_content()


def test_email_goes_over_starttls_with_the_configured_login(system, people, tmp_path, monkeypatch):
    sink = SmtpSink(tls_dir=tmp_path)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(sink.ca_file))  # trust the test server's own certificate
        system.settings = replace(system.settings, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_starttls=True,
                                  smtp_from="incidents@example.test", smtp_username="mailer",
                                  smtp_password="mail-pass", public_url=PUBLIC_URL)
        open_case(system, people["onsite"])
        assert delivery.deliver(system) == {"sent": 2}
        assert sink.logins == [("mailer", True, True)] * 2  # logged in, and only inside TLS
    finally:
        sink.stop()


def _listed(system):
    with system.reading() as uow:
        return notifications.list_all(uow)


def _csrf(client):
    from tests.test_pages import csrf
    return csrf(client.get("/"))


def test_a_backlog_goes_out_in_batches_with_a_pause_between_them_for_peoples_changes(system, people, smtp,
                                                                                      monkeypatch):
    """The served sender gives up the write lock between batches; each batch reads a recipient, an address
    and a case once, and every message of the backlog is still told exactly once."""
    for _ in range(12):  # two messages each (olga and bea, the event's on-site staff): a batch of 20, one of 4
        open_case(system, people["onsite"])
    pauses, reads = [], []
    monkeypatch.setattr(delivery.time, "sleep", pauses.append)
    real = users.actor_for
    monkeypatch.setattr(delivery.users, "actor_for", lambda uow, name: reads.append(name) or real(uow, name))
    assert delivery.deliver(system, pause=0.05) == {"sent": 24}
    assert pauses == [0.05, 0.05]  # after each batch
    assert sorted(reads) == ["bea", "bea", "olga", "olga"]  # once per recipient and batch, not per message
    assert sorted(m["To"] for m in smtp.received) == sorted([address("bea"), address("olga")] * 12)
    assert len({m["Message-ID"] for m in smtp.received}) == 24
