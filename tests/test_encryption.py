"""Encryption at rest and retention: a dump shows no names; a purge destroys the key; the chain still verifies."""
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import MetaData, select, text, update

from engine import history, retention
from engine.config import ROOT, Settings
from engine.crypto import MasterKey, MasterKeyError, SealedValueError, generate_master_key, token_digest
from engine.errors import CasePurged
from engine.models import Case, CaseEvent, IdempotencyRow, Notification, ReporterLink, utcnow
from engine.system import build
from tests.conftest import MASTER_KEY, POSTGRES
from tests.test_api import do, open_case, task_of

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

REPORTER = "Zebulon Quartermaine"
HARASSER = "Ignatius Thornbury"
WITNESS = "Perpetua Vandersloot"
STATEMENT = "cornered me by the purple umbrella stand"
SECRETS = (REPORTER, HARASSER, WITNESS, STATEMENT)


def dump(system) -> str:
    """Everything the database holds, as someone with a copy of it (or of a backup) would read it."""
    url = system.settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        conn = sqlite3.connect(path)
        try:
            text_dump = "\n".join(conn.iterdump())
        finally:
            conn.close()
        raw = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if os.path.exists(p))
        return text_dump + raw.decode("latin-1")
    schema = unquote(url.split("search_path%3D", 1)[1])
    result = subprocess.run(["pg_dump", "--no-owner", "--schema", schema, POSTGRES.replace("+psycopg", "")],
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def sent_by_reporter(api, client):
    """A case whose reporter wrote the account through their link, naming someone and a witness."""
    cid = open_case(api, reporter_name=REPORTER)["id"]
    do(api, "olga", cid, "call_incident_team", team_member_contacted="Tess", called_at="2026-11-24T10:00")
    do(api, "olga", cid, "assess_safety", general_threat=False)
    do(api, "olga", cid, "ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    do(api, "olga", cid, "support_victim", offered_private_place=True, explained_role_and_asked=True,
       gave_emergency_contacts=True)
    link = do(api, "olga", cid, "choose_account_writer", written_by="reporter")["reporter_link"]
    token = link.rsplit("/r/", 1)[1]
    assert client.post(f"/api/reporter/{token}", headers={"Idempotency-Key": "reporter-1"}, json={"data": {
        "harasser_identification": HARASSER, "behavior": STATEMENT, "approximate_time": "Saturday 22:00",
        "others_aware": [WITNESS]}}).status_code == 200
    return cid, token


def test_a_database_dump_shows_none_of_the_names_a_case_entered(api, client, system):
    cid, used_token = sent_by_reporter(api, client)
    do(api, "olga", cid, "send_report", report_reviewed=True, staff_notes=f"{REPORTER} was calm")
    # an answer stored for a retry holds the case data too
    reply = api("tom").client.post(f"/api/tasks/{task_of(api, 'tom', cid, 'review_report')}",
                                   headers={**api("tom").headers, "Idempotency-Key": "k1"},
                                   json={"data": {"policy_assessment": f"{HARASSER} broke the policy"}})
    assert reply.status_code == 200
    live_cid, live_token = sent_link(api)

    case = api("tom").get(f"/api/cases/{cid}").get_json()  # the people who may read it still can
    assert case["data"]["reporter_name"] == REPORTER and case["data"]["others_aware"] == [WITNESS]
    assert api("olga").get(f"/api/cases/{live_cid}").get_json()["reporter_link"].endswith(live_token)

    everything = dump(system)
    assert "HackAPI" in everything and "case_events" in everything  # a real dump: the event name is kept plain
    for secret in (*SECRETS, live_token, used_token):
        assert secret not in everything


def sent_link(api):
    """A case waiting for its reporter: the link is live."""
    cid = open_case(api)["id"]
    do(api, "olga", cid, "call_incident_team", team_member_contacted="Tess", called_at="2026-11-24T10:00")
    do(api, "olga", cid, "assess_safety", general_threat=False)
    do(api, "olga", cid, "ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    do(api, "olga", cid, "support_victim", offered_private_place=True, explained_role_and_asked=True,
       gave_emergency_contacts=True)
    link = do(api, "olga", cid, "choose_account_writer", written_by="reporter")["reporter_link"]
    return cid, link.rsplit("/r/", 1)[1]


def closed(api, client):
    cid, _ = sent_by_reporter(api, client)
    do(api, "olga", cid, "send_report", report_reviewed=True)
    do(api, "tom", cid, "review_report", policy_assessment=f"{HARASSER} broke the policy")
    do(api, "orla", cid, "add_organizer_view", organizer_view="First time")
    do(api, "tom", cid, "decide_action", action="no_action", rationale="Unclear", decided_with="Olga")
    do(api, "olga", cid, "meet_harasser", report_summarized=True, decision_notified=True, harasser_disputes=False)
    do(api, "olga", cid, "inform_aware_people", informed_people=[WITNESS], no_details_shared=True,
       message_text="It was handled.")
    do(api, "tom", cid, "decide_announcement", announcement_needed=False)
    case = do(api, "tom", cid, "close_case", closing_summary="Handled.")
    assert case["status"] == "closed"
    return cid


def cli(system, *args):
    env = {**os.environ, "INCIDENTS_DATABASE_URL": system.settings.database_url, "INCIDENTS_MASTER_KEY": MASTER_KEY,
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_purge_destroys_the_keys_of_cases_closed_before_the_date_and_the_chain_still_verifies(api, client, system):
    old, recent = closed(api, client), closed(api, client)
    still_open = open_case(api, reporter_name=REPORTER)["id"]
    with system.reading() as uow:
        old_key = uow.session.get(Case, old).wrapped_key
    with system.writing() as uow:
        uow.session.execute(update(Case).where(Case.id == old).values(closed_at=datetime(2026, 1, 5, tzinfo=timezone.utc)))
        uow.commit()

    assert cli(system, "purge", "--closed-before", "2026-02-01", "--dry-run").stdout.strip() == \
        f"1 closed cases would be purged: {old}"
    result = cli(system, "purge", "--closed-before", "2026-02-01")
    assert result.returncode == 0 and result.stdout.strip() == f"1 closed cases purged: {old}", result.stderr

    case = api("tom").get(f"/api/cases/{old}").get_json()
    assert case["status"] == "purged" and REPORTER not in str(case)
    events = api("audrey").get(f"/api/cases/{old}/history").get_json()
    purge = next(e for e in events if e["type"] == "case_purged")
    assert purge["actor"].startswith("retention (") and purge["data"]["closed_before"].startswith("2026-02-01")
    entered = [e for e in events if e["type"] in ("case_started", "task_completed")]
    assert entered and all(e["data"] is None for e in entered)  # sealed with a key that no longer exists
    assert all(e["data"] == {"viewed": "case"} for e in events if e["type"] == "case_viewed" and e["data"]
               and "history" not in e["data"]["viewed"])  # who looked stays readable
    with system.reading() as uow:
        row = uow.session.get(Case, old)
        assert row.wrapped_key is None and row.sealed_data is None and row.sealed_state == ""
        with pytest.raises(CasePurged):
            row.cipher
        assert not uow.session.scalars(select(ReporterLink).where(ReporterLink.case_id == old)).all()
        assert not uow.session.scalars(select(IdempotencyRow).where(IdempotencyRow.case_id == old)).all()
        # who was told of its tasks goes too (with its exclusions forgotten, it would show the case to excluded staff)
        assert not uow.session.scalars(select(Notification).where(Notification.case_id == old)).all()
        assert uow.session.scalars(select(Notification).where(Notification.case_id == recent)).all()
    with system.reading() as uow:
        assert all(report.ok for report in history.verify_all(uow.session))
    assert cli(system, "verify").returncode == 0
    assert old_key.split(".")[-1] not in dump(system)  # not even in free pages or the write-ahead log

    # the others are untouched
    assert api("tom").get(f"/api/cases/{recent}").get_json()["data"]["reporter_name"] == REPORTER
    assert api("tom").get(f"/api/cases/{still_open}").get_json()["data"]["reporter_name"] == REPORTER
    assert api("tom").post(f"/api/cases/{old}/messages/appeal").status_code == 410
    assert cli(system, "purge", "--closed-before", "2026-02-01").stdout.strip() == "0 closed cases purged: none"
    # a date in the future would purge cases not yet past retention: refused, nothing purged
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    refused = cli(system, "purge", "--closed-before", tomorrow)
    assert refused.returncode == 2 and "in the future" in refused.stderr
    assert cli(system, "purge", "--closed-before", "soon").returncode == 2
    with system.reading() as uow:
        assert retention.purgeable(uow.session, utcnow()) == [recent]


def test_a_wrong_or_missing_master_key_is_refused_before_anything_is_served(api, system, tmp_path):
    open_case(api)
    wrong = Settings(database_url=system.settings.database_url, master_key=generate_master_key())
    with pytest.raises(MasterKeyError, match="was wrapped by master key .* but the configured master key is"):
        build(wrong)
    missing = Settings(database_url=system.settings.database_url, master_key_file=str(tmp_path / "none"))
    with pytest.raises(MasterKeyError, match="no master key"):
        build(missing)
    result = subprocess.run([sys.executable, "-m", "cli.main", "tick"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "INCIDENTS_DATABASE_URL": system.settings.database_url,
                                 "INCIDENTS_MASTER_KEY": "too-short", "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode != 0 and "INCIDENTS_MASTER_KEY" in result.stderr


def test_sealed_values_open_only_with_their_case_key_and_for_their_column(api, system):
    first, second = open_case(api)["id"], open_case(api)["id"]
    with system.writing() as uow:
        a, b = uow.session.get(Case, first), uow.session.get(Case, second)
        assert a.sealed_data != b.sealed_data
        moved = a.sealed_data
        with pytest.raises(SealedValueError):
            b.cipher.open("case data", moved)  # another case's key
        with pytest.raises(SealedValueError):
            a.cipher.open("case state", moved)  # another column of the same case
    with pytest.raises(MasterKeyError, match="32 bytes"):
        MasterKey(b"short")


def test_reporter_links_are_found_by_a_digest_and_kept_only_sealed(api, system):
    cid, token = sent_link(api)
    with system.reading() as uow:
        link = uow.session.scalars(select(ReporterLink).where(ReporterLink.case_id == cid)).one()
        assert link.token_hash == token_digest(token) and token not in link.sealed_token
        assert uow.session.get(Case, cid).cipher.open("reporter link", link.sealed_token) == token
        events = uow.session.scalars(select(CaseEvent).where(CaseEvent.case_id == cid)).all()
        assert all(e.sealed_data.startswith("s1.") for e in events)


# ------------------------------------------------------------------ the migration that sealed existing data

OLD_CASE_DATA = {"event_name": "Legacy", "reporter_name": REPORTER, "excluded_staff": []}


def _old_hash(prev, fields):
    import hashlib
    import json
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(prev.encode() + b"\n" + body).hexdigest()


def legacy_database(system, processes, tamper=False):
    """A database at revision 0007 holding one case written the old way: plaintext data and history."""
    from engine.db import make_engine, upgrade
    db = make_engine(system.settings.database_url)
    with db.begin() as conn:  # start over from an empty schema
        if conn.dialect.name == "postgresql":
            schema = conn.execute(text("SELECT current_schema()")).scalar()
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        else:  # every table there is, so tables added by later migrations go too
            existing = MetaData()
            existing.reflect(conn)
            existing.drop_all(conn)
    upgrade(db, "0007")
    runner = processes.runner(processes.current.hash)
    workflow = runner.start({**OLD_CASE_DATA, "event_format": "in_person", "region": "canada",
                             "opened_by_role": "onsite_staff", "reporter_anonymous": False,
                             "onsite_staff_available": True})
    import json
    at = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    with db.begin() as conn:
        conn.execute(text("INSERT INTO process_versions (hash, files, forms, created_at) VALUES (:h, '{}', '{}', :at)"),
                     {"h": processes.current.hash, "at": at})
        prev, events = "0" * 64, []
        for seq, data in ((1, OLD_CASE_DATA), (2, {"team_member_contacted": WITNESS})):
            fields = {"case_id": 1, "seq": seq, "at": at.isoformat(), "actor": "olga", "role": "onsite_staff",
                      "type": "case_started" if seq == 1 else "task_completed", "task": None, "task_id": None,
                      "data": data, "process_version": processes.current.hash}
            digest = _old_hash(prev, fields)
            events.append({**fields, "data": json.dumps(data), "prev_hash": prev, "hash": digest})
            prev = digest
        if tamper:
            events[1]["data"] = json.dumps({"team_member_contacted": "someone else"})
        conn.execute(text("INSERT INTO cases (id, process_version, status, event_name, excluded_staff, version, "
                          "last_seq, head_hash, state, data, created_at, updated_at) VALUES (1, :pv, 'open', "
                          "'Legacy', '[]', 1, 2, :head, :state, :data, :at, :at)"),
                     {"pv": processes.current.hash, "head": prev, "state": runner.dumps(workflow),
                      "data": json.dumps(OLD_CASE_DATA), "at": at})
        for e in events:
            conn.execute(text("INSERT INTO case_events (case_id, seq, at, actor, role, type, task, task_id, data, "
                              "process_version, prev_hash, hash) VALUES (:case_id, :seq, :at, :actor, :role, :type, "
                              ":task, :task_id, :data, :process_version, :prev_hash, :hash)"), {**e, "at": at})
        conn.execute(text("INSERT INTO reporter_links (token, case_id, task_id, created_at) "
                          "VALUES ('legacy-token-value', 1, 'legacy-task', :at)"), {"at": at})
        conn.execute(text("INSERT INTO idempotency_keys (scope, key, fingerprint, response, created_at) VALUES "
                          "('user:1', 'k', 'f', :r, :at)"), {"r": json.dumps({"id": 1, "data": OLD_CASE_DATA}), "at": at})
    return db, runner


@pytest.mark.edits_stored_cases  # builds a pre-0008 case by hand
def test_the_migration_seals_existing_cases_and_rechains_their_history(system, processes):
    from engine.db import upgrade
    from engine.idempotency import Idempotency
    db, runner = legacy_database(system, processes)
    assert REPORTER in dump(system)
    upgrade(db, master_key=system.master_key)
    assert REPORTER not in dump(system) and WITNESS not in dump(system) and "legacy-token-value" not in dump(system)
    with system.reading() as uow:
        case = uow.session.get(Case, 1)
        assert case.data == OLD_CASE_DATA
        assert [t.task for t in runner.ready_tasks(runner.loads(case.state))] == ["call_incident_team"]
        events = uow.session.scalars(select(CaseEvent).order_by(CaseEvent.seq)).all()
        assert [e.data for e in events] == [OLD_CASE_DATA, {"team_member_contacted": WITNESS}]
        link = uow.session.get(ReporterLink, token_digest("legacy-token-value"))
        assert case.cipher.open("reporter link", link.sealed_token) == "legacy-token-value"
        assert Idempotency("user:1", "k", "f").stored(uow.session) == {"id": 1, "data": OLD_CASE_DATA}
    with system.reading() as uow:
        assert all(report.ok for report in history.verify_all(uow.session))
    db.dispose()


@pytest.mark.edits_stored_cases  # builds a pre-0008 case by hand
def test_the_migration_stops_on_a_history_that_does_not_verify_and_changes_nothing(system, processes):
    from alembic.migration import MigrationContext
    from engine.db import upgrade
    db, _ = legacy_database(system, processes, tamper=True)
    with pytest.raises(RuntimeError, match="history of case 1 does not verify at event seq 2"):
        upgrade(db, master_key=system.master_key)
    with db.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0007"
        assert REPORTER in str(conn.execute(text("SELECT data FROM cases WHERE id = 1")).scalar())
    db.dispose()


def test_the_case_row_keeps_digests_of_excluded_staff_not_their_names(api, system, make_user):
    make_user("xena", "onsite_staff")
    cid = open_case(api, excluded_staff=["xena"])["id"]
    with system.db.connect() as conn:
        stored = conn.execute(text("SELECT excluded_staff FROM cases WHERE id = :id"), {"id": cid}).scalar()
    assert "xena" not in str(stored) and len(str(stored)) > 64
    assert api("tom").get(f"/api/cases/{cid}").get_json()["data"]["excluded_staff"] == ["xena"]
    assert api("xena").get("/api/tasks").get_json() == [] and api("xena").get(f"/api/cases/{cid}").status_code == 404
    assert any(t["case_id"] == cid for t in api("olga").get("/api/tasks").get_json())


def test_a_case_state_is_sealed_as_text_and_a_state_sealed_the_older_way_still_opens(api, system):
    cid = open_case(api)["id"]
    with system.writing() as uow:
        case = uow.session.get(Case, cid)
        assert case.sealed_state.startswith("t1.") and "call_incident_team" not in case.sealed_state
        state = case.state
        case.sealed_state = case.cipher.seal("case state", state)  # as stored before text sealing
        uow.commit()
    with system.reading() as uow:
        case = uow.session.get(Case, cid)
        assert case.sealed_state.startswith("s1.") and case.state == state
        with pytest.raises(SealedValueError):
            case.cipher.open_text("case data", case.cipher.seal_text("case state", state))  # bound to its column
    done = do(api, "olga", cid, "call_incident_team", team_member_contacted="Tom", called_at="2026-11-24T10:00")
    assert any(t["task"] == "assess_safety" for t in done["tasks"])  # the case goes on from the older state
