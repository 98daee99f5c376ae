"""The case history is append-only and hash-chained: tampering behind the app's back is found and named."""
import subprocess
import sys

import pytest
from sqlalchemy import select, text

from engine import cases, history
from engine.config import ROOT
from engine.models import CaseEvent

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

INTAKE = {"event_name": "Chain", "event_format": "in_person", "region": "europe", "opened_by_role": "onsite_staff",
          "reporter_anonymous": True}


@pytest.fixture
def case_id(system, staff):
    """A case with five events."""
    actor = staff["onsite"]
    with system.writing() as uow:
        case = cases.open_case(uow, system.processes, actor, INTAKE)
    steps = [{"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}, {"general_threat": False},
             {"victim_requests_law_enforcement": False}]
    for data in steps:
        with system.writing() as uow:
            case = cases.complete_task(uow, system.processes, actor, case["tasks"][0]["id"], data)
    with system.writing() as uow:
        cases.raise_message(uow, system.processes, actor, case["id"], "attendee_distressed", {})
    return case["id"]


def reports(system):
    with system.reading() as uow:
        return list(history.verify_all(uow.session))


def tamper(system, *statements):
    """Run SQL with the append-only triggers out of the way, as someone with database access could."""
    with system.db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE case_events DISABLE TRIGGER case_events_append_only"))
        else:
            conn.execute(text("DROP TRIGGER case_events_no_update"))
            conn.execute(text("DROP TRIGGER case_events_no_delete"))
        for statement in statements:
            conn.execute(text(statement))


def test_an_untouched_history_verifies(system, case_id):
    [report] = reports(system)
    assert report.ok and report.events == 5


def test_the_app_refuses_to_change_or_delete_events(system, case_id):
    with system.writing() as uow:
        event = uow.session.scalars(select(CaseEvent).where(CaseEvent.seq == 2)).one()
        event.sealed_data = "p1.{}"
        with pytest.raises(history.HistoryIsAppendOnly):
            uow.session.flush()
    with system.writing() as uow:
        uow.session.delete(uow.session.scalars(select(CaseEvent).where(CaseEvent.seq == 2)).one())
        with pytest.raises(history.HistoryIsAppendOnly):
            uow.session.flush()
    assert reports(system)[0].ok


@pytest.mark.parametrize("statement", ["UPDATE case_events SET actor = 'mallory' WHERE seq = 2",
                                       "DELETE FROM case_events WHERE seq = 2"])
def test_the_database_refuses_to_change_or_delete_events(system, case_id, statement):
    with pytest.raises(Exception, match="append-only"):
        with system.db.begin() as conn:
            conn.execute(text(statement))
    assert reports(system)[0].ok


@pytest.mark.edits_stored_cases
def test_an_edited_event_is_found(system, case_id):
    tamper(system, "UPDATE case_events SET actor = 'mallory' WHERE seq = 3")
    assert reports(system)[0].problem == "event seq 3: its content does not match its hash (edited)"


@pytest.mark.edits_stored_cases
def test_a_deleted_event_is_found(system, case_id):
    tamper(system, "DELETE FROM case_events WHERE seq = 2")
    assert reports(system)[0].problem == "event seq 3: expected seq 2 (an event is missing)"


@pytest.mark.edits_stored_cases
def test_a_deleted_last_event_is_found(system, case_id):
    tamper(system, "DELETE FROM case_events WHERE seq = 5")
    assert reports(system)[0].problem.startswith("after event seq 4: the case records 5 events")


@pytest.mark.edits_stored_cases
def test_an_inserted_event_is_found(system, case_id):
    tamper(system, "UPDATE case_events SET seq = seq + 1000 WHERE seq >= 3",
           "UPDATE case_events SET seq = seq - 999 WHERE seq > 1000",
           "INSERT INTO case_events (case_id, seq, at, actor, role, type, sealed_data, process_version, prev_hash, hash) "
           "SELECT case_id, 3, at, 'mallory', 'incident_team', 'task_completed', sealed_data, process_version, hash, hash "
           "FROM case_events WHERE seq = 2")
    assert reports(system)[0].problem.startswith("event seq 3: its content does not match its hash")


@pytest.mark.edits_stored_cases
def test_reordered_events_are_found(system, case_id):
    tamper(system, "UPDATE case_events SET seq = 100 WHERE seq = 2", "UPDATE case_events SET seq = 2 WHERE seq = 3",
           "UPDATE case_events SET seq = 3 WHERE seq = 100")
    assert reports(system)[0].problem == "event seq 2: does not follow the event before it (inserted, removed or reordered)"


@pytest.mark.edits_stored_cases
def test_incidents_verify_names_the_first_broken_link(system, case_id):
    tamper(system, "UPDATE case_events SET sealed_data = 'p1.{}' WHERE seq = 4")
    # no master key: the chain covers the sealed data, so anyone with the database can check it
    env = {"INCIDENTS_DATABASE_URL": system.settings.database_url, "PATH": "/usr/bin:/bin",
           "INCIDENTS_SECRET_KEY": "x", "INCIDENTS_MASTER_KEY_FILE": "/nonexistent/master_key", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "cli.main", "verify"], env=env, capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 1
    assert f"case {case_id}: BROKEN at event seq 4: its content does not match its hash (edited)" in result.stdout
    assert "1 cases, 4 events checked: 0 intact, 1 broken" in result.stdout


def test_the_database_refuses_to_empty_the_history(system, case_id):
    statement = "TRUNCATE case_events" if system.db.dialect.name == "postgresql" else "DELETE FROM case_events"
    with pytest.raises(Exception, match="append-only"):
        with system.db.begin() as conn:
            conn.execute(text(statement))
    assert reports(system)[0].ok
