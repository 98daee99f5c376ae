"""Fault tests against `incidents serve` (gunicorn) on SQLite and PostgreSQL: races and killed workers."""
import http.client
import os
import signal
import threading
import time

import pytest
from sqlalchemy import func, select

from engine import cases, history
from engine.models import Case, CaseEvent, ReadyTaskRow
from tests.net import request

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
INTAKE = {"event_name": "Faults", "event_format": "in_person", "region": "europe", "opened_by_role": "onsite_staff",
          "reporter_anonymous": True}
CALL = {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}


def new_case(system, actor):
    with system.writing() as uow:
        return cases.open_case(uow, system.processes, actor, INTAKE)


def snapshot(system, case_id):
    with system.reading() as uow:
        session = uow.session
        case = session.get(Case, case_id)
        events = session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id))
        ready = sorted(session.scalars(select(ReadyTaskRow.task).where(ReadyTaskRow.case_id == case_id)))
        return {"version": case.version, "events": events, "ready": ready, "chain": history.verify_case(session, case).ok}


def test_of_32_simultaneous_completions_exactly_one_wins_every_time(system, staff, serve):
    port, token = serve(workers=4)
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(20):
        case = new_case(system, staff["onsite"])
        task_id = case["tasks"][0]["id"]
        barrier, statuses = threading.Barrier(32), []

        def attempt():
            barrier.wait()
            statuses.append(request(port, "POST", f"/api/tasks/{task_id}", {"data": CALL}, headers)[0])
        threads = [threading.Thread(target=attempt) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(statuses) == [200] + [409] * 31
        after = snapshot(system, case["id"])
        assert after["events"] == 2 and after["chain"] and after["ready"] == ["assess_safety"]


@pytest.mark.parametrize("point", ["after_validation", "after_engine_step", "after_flush", "after_commit"])
def test_a_worker_killed_mid_write_leaves_the_case_before_or_after_never_between(system, staff, serve, tmp_path,
                                                                                  point):
    marker = tmp_path / "paused.pid"
    port, token = serve(workers=2, INCIDENTS_TEST_PAUSE=point, INCIDENTS_TEST_PAUSE_FILE=str(marker))
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"kill-{point}"}
    case = new_case(system, staff["onsite"])
    before = snapshot(system, case["id"])
    outcome = {}

    def attempt():
        try:
            outcome["reply"] = request(port, "POST", f"/api/tasks/{case['tasks'][0]['id']}", {"data": CALL}, headers)
        except (OSError, http.client.HTTPException) as err:
            outcome["error"] = err
    client = threading.Thread(target=attempt)
    client.start()
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "the worker never reached the pause point"
        time.sleep(0.05)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    client.join(timeout=60)
    assert "error" in outcome or outcome["reply"][0] >= 500  # the client lost its answer

    after = snapshot(system, case["id"])
    committed = point == "after_commit"
    assert after["chain"]
    if committed:
        assert after["events"] == before["events"] + 1 and after["ready"] == ["assess_safety"]
    else:
        assert after == before

    status, body = request(port, "POST", f"/api/tasks/{case['tasks'][0]['id']}", {"data": CALL}, headers)
    assert status == 200 and [t["task"] for t in body["tasks"]] == ["assess_safety"]
    final = snapshot(system, case["id"])
    assert final["events"] == before["events"] + 1 and final["chain"]


@pytest.mark.edits_stored_cases  # ages the timers: served tickers run on the wall clock
def test_the_served_workers_fire_a_due_timer_exactly_once(system, staff, serve):
    from tests.test_timers import age
    serve(workers=4, INCIDENTS_TICK_SECONDS="0.2")
    case = new_case(system, staff["onsite"])
    age(system, case["id"], 16)
    deadline = time.monotonic() + 20
    while snapshot(system, case["id"])["ready"] != ["call_incident_team", "unacknowledged_incident"]:
        assert time.monotonic() < deadline, "no worker fired the due timer"
        time.sleep(0.1)
    time.sleep(1)  # every worker has ticked again by now
    with system.reading() as uow:
        fired = uow.session.scalar(select(func.count()).select_from(CaseEvent).where(
            CaseEvent.case_id == case["id"], CaseEvent.type == "timer_fired"))
    assert fired == 1 and snapshot(system, case["id"])["chain"]
