"""Escalation timers: due cases only, fired once, also with two tickers sharing one database.

Time passes on the case clock: a tick given a later `now` runs every due case at that moment.
"""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import cases, timers, views
from engine.models import Case, CaseEvent, utcnow

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

INTAKE = {"event_name": "Timers", "event_format": "in_person", "region": "india", "opened_by_role": "onsite_staff",
          "reporter_anonymous": True}


def open_case(system, actor):
    with system.writing() as uow:
        return cases.open_case(uow, system.processes, actor, INTAKE)


def later(minutes):
    """The moment `minutes` from now, for a tick that lets that much time pass."""
    return utcnow() + timedelta(minutes=minutes)


def age(system, case_id, minutes):
    """Move the case's waiting timers `minutes` into the past behind the history's back.

    Only for a served instance, whose tickers run on the wall clock; a case aged this way no longer
    replays to its stored state (its timers' due times were edited).
    """
    with system.writing() as uow:
        case = uow.session.get(Case, case_id)
        runner = system.processes.runner(case.process_version, uow.session)
        workflow = runner.loads(case.state)
        for task in workflow.get_tasks():
            value = task.internal_data.get("event_value")
            if isinstance(value, str):
                moment = runner.next_due(workflow).__class__.fromisoformat(value) - timedelta(minutes=minutes)
                task.internal_data["event_value"] = moment.isoformat()
        case.state = runner.dumps(workflow)
        case.next_due = runner.next_due(workflow)
        uow.commit()


def tasks_of(system, case_id):
    with system.reading() as uow:
        return sorted(t["task"] for t in views.get_case(uow, system.staff_actor, case_id)["tasks"])


@pytest.fixture
def onsite(system, staff):
    system.staff_actor = staff["onsite"]
    return staff["onsite"]


def test_a_new_case_is_due_in_15_minutes_and_a_tick_before_then_loads_nothing(system, onsite):
    case = open_case(system, onsite)
    with system.reading() as uow:
        due = uow.session.get(Case, case["id"]).next_due
    assert timedelta(minutes=14) < due - utcnow() <= timedelta(minutes=15)
    assert timers.tick(system) == timers.TickReport(cases=0, tasks=0)


def test_an_uncalled_case_escalates_to_the_team_after_15_minutes_once(system, onsite):
    case = open_case(system, onsite)
    assert timers.tick(system, now=later(14)) == timers.TickReport(cases=0, tasks=0)
    assert timers.tick(system, now=later(16)) == timers.TickReport(cases=1, tasks=1)
    assert tasks_of(system, case["id"]) == ["call_incident_team", "unacknowledged_incident"]
    assert timers.tick(system, now=later(17)) == timers.TickReport(cases=0, tasks=0)
    with system.reading() as uow:
        events = views.case_history(uow, system.staff_actor, case["id"])
    assert events[-1]["type"] == "timer_fired" and events[-1]["data"] == {"tasks": ["unacknowledged_incident"]}
    assert events[-1]["actor"] == "system"


def test_calling_in_time_cancels_the_escalation(system, onsite):
    case = open_case(system, onsite)
    with system.writing() as uow:
        case = cases.complete_task(uow, system.processes, onsite, case["tasks"][0]["id"],
                                   {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"})
    with system.reading() as uow:
        assert uow.session.get(Case, case["id"]).next_due is None
    assert timers.tick(system).tasks == 0


def test_a_report_not_in_after_two_hours_reminds_the_team(system, onsite):
    case = open_case(system, onsite)
    for data in ({"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}, {"general_threat": False},
                 {"victim_requests_law_enforcement": False},
                 {"offered_private_place": True, "explained_role_and_asked": True, "gave_emergency_contacts": True}):
        with system.writing() as uow:
            case = cases.complete_task(uow, system.processes, onsite, case["tasks"][0]["id"], data)
    assert [t["task"] for t in case["tasks"]] == ["choose_account_writer"]
    assert timers.tick(system, now=later(119)).tasks == 0
    assert timers.tick(system, now=later(121)).tasks == 1
    assert tasks_of(system, case["id"]) == ["choose_account_writer", "initial_report_overdue"]


def test_two_tickers_at_once_fire_each_timer_exactly_once(system, onsite):
    ids = [open_case(system, onsite)["id"] for _ in range(12)]
    moment = later(16)
    reports, errors = [], []

    def run():
        try:
            reports.append(timers.tick(system, now=moment))
        except Exception as err:  # a ticker must not crash on the other's locks
            errors.append(err)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(r.tasks for r in reports) == 12
    with system.reading() as uow:
        fired = uow.session.execute(select(CaseEvent.case_id, func.count()).where(CaseEvent.type == "timer_fired")
                                    .group_by(CaseEvent.case_id)).all()
    assert sorted(fired) == [(case_id, 1) for case_id in ids]
    for case_id in ids:
        assert tasks_of(system, case_id) == ["call_incident_team", "unacknowledged_incident"]


@pytest.mark.edits_stored_cases  # breaks a case's state on purpose
def test_a_case_that_cannot_be_run_does_not_stop_the_other_escalations(system, onsite, caplog):
    broken, fine = open_case(system, onsite), open_case(system, onsite)
    with system.writing() as uow:
        case = uow.session.get(Case, broken["id"])
        case.state = '{"not": "a workflow"}'
        uow.commit()
    moment = later(16)
    report = timers.tick(system, now=moment)
    assert report.tasks == 1
    assert tasks_of(system, fine["id"]) == ["call_incident_team", "unacknowledged_incident"]
    with system.reading() as uow:
        assert uow.session.get(Case, broken["id"]).next_due > moment + timedelta(minutes=4)
    assert f"timers of case {broken['id']} could not be fired" in caplog.text
    assert timers.tick(system, now=moment).cases == 0  # postponed, not retried on every tick


def test_a_tick_racing_a_completion_loses_nothing_and_doubles_nothing(system, onsite):
    from engine import history
    from engine.uow import retrying
    for _ in range(5):
        case = open_case(system, onsite)
        moment = later(16)
        errors, barrier = [], threading.Barrier(2)

        def complete():
            barrier.wait()
            try:
                retrying(system.writing, lambda uow: cases.complete_task(
                    uow, system.processes, onsite, case["tasks"][0]["id"],
                    {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}))
            except Exception as err:
                errors.append(err)

        def run_tick():
            barrier.wait()
            try:
                timers.tick(system, now=moment)
            except Exception as err:
                errors.append(err)
        threads = [threading.Thread(target=complete), threading.Thread(target=run_tick)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        with system.reading() as uow:
            kinds = [e.type for e in uow.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case["id"]))]
            assert history.verify_case(uow.session, uow.session.get(Case, case["id"])).ok
        assert kinds.count("task_completed") == 1 and kinds.count("timer_fired") <= 1
        ready = tasks_of(system, case["id"])
        assert "assess_safety" in ready and set(ready) <= {"assess_safety", "unacknowledged_incident"}
        assert ("unacknowledged_incident" in ready) == ("timer_fired" in kinds)
