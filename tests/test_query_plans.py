"""The requests every user makes all day read by index, never by scanning every case or ready task.

Timings belong in bench/; here SQLite's own query plans are checked, which do not depend on the machine.
"""
import pytest
from sqlalchemy import event

from engine import cases, views
from tests.conftest import EVENTS

INTAKE = {"event_name": EVENTS[0], "event_format": "in_person", "region": "europe",
          "opened_by_role": "onsite_staff", "reporter_anonymous": True}


@pytest.fixture
def statements(system):
    """Every SQL statement (with its parameters) the engine runs while the list is being collected."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))
    event.listen(system.db, "before_cursor_execute", record)
    yield seen
    event.remove(system.db, "before_cursor_execute", record)


# What ANALYZE records on a database of 100,000 cases spread over 1,000 events, their ready tasks spread over
# four roles: the planner then chooses as it would in production, not as it does on a test's handful of rows.
AT_100K = [("cases", "ix_cases_event_name", "100001 100"), ("cases", "ix_cases_closed_at", "100001 100001"),
           ("cases", "ix_cases_next_due", "100001 100001"), ("ready_tasks", "ix_ready_tasks_role", "100001 25000 1"),
           ("ready_tasks", "ix_ready_tasks_case_id", "100001 1"),
           ("ready_tasks", "sqlite_autoindex_ready_tasks_1", "100001 1")]


def plans(system, captured):
    """SQLite's plan lines of each captured SELECT, planned with the statistics of 100,000 cases."""
    out = []
    raw = system.db.raw_connection()
    try:
        db = raw.driver_connection
        db.execute("ANALYZE")
        db.execute("DELETE FROM sqlite_stat1 WHERE tbl IN ('cases', 'ready_tasks')")
        db.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", AT_100K)
        db.execute("ANALYZE sqlite_schema")  # reload the statistics into this connection's planner
        for statement, parameters in captured:
            if statement.lstrip().upper().startswith("SELECT"):
                rows = raw.driver_connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
                out.append((statement, [row[-1] for row in rows]))
    finally:
        raw.close()
    return out


def scans(found):
    """Plan lines that read a whole big table (a 'SCAN' of cases or ready_tasks, not of a small list)."""
    return [(sql, line) for sql, lines in found for line in lines
            if line.startswith("SCAN") and any(t in line for t in ("cases", "ready_tasks", " c", " rt"))]


@pytest.mark.parametrize("who", ["onsite", "team", "both"])
def test_the_inbox_reads_by_index(system, staff, statements, who):
    with system.writing() as uow:
        cases.open_case(uow, system.processes, staff["onsite"], INTAKE)
    statements.clear()
    with system.reading() as uow:
        listed = views.list_inbox(uow, staff[who])
    found = plans(system, statements)
    assert found, "the inbox ran no query"
    assert not scans(found), scans(found)
    if who != "team":  # the case's first task is on-site staff's
        assert [t["task"] for t in listed] == ["call_incident_team"]


def test_the_inbox_lists_newest_case_first_and_each_case_once(system, staff):
    opened = []
    for _ in range(3):
        with system.writing() as uow:
            opened.append(cases.open_case(uow, system.processes, staff["onsite"], INTAKE)["id"])
    with system.reading() as uow:
        listed = views.list_inbox(uow, staff["both"])  # on-site staff and organizer: two role queries
    assert [t["case_id"] for t in listed] == list(reversed(opened))
