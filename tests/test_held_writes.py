"""A change's rows besides the case are held and sent with it (in one round trip on PostgreSQL): none is lost,
none outlives a rollback, and a clash with a concurrent change is a StaleCase, not a server error."""
import pytest
from sqlalchemy import func, select, update

from engine import history, views
from engine.casestate import commit, flush, save_case
from engine.errors import StaleCase
from engine.models import Case, CaseEvent
from engine.writes import hold

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def _open_case(api):
    reply = api("olga").post("/api/cases", json={"event_name": "HackTest", "event_format": "in_person",
                                                 "region": "europe", "reporter_anonymous": True})
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()["id"]


def _events(system, case_id):
    with system.reading() as uow:
        return uow.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id))


def _note(uow, case_id, text):
    case = uow.session.get(Case, case_id)
    history.append(uow.session, case, "tom", "incident_team", "case_viewed", None, None, {"viewed": text},
                   readable_after_purge=True)
    return case


def test_held_writes_go_out_at_commit_even_when_the_case_was_not_written_first(system, api):
    case_id = _open_case(api)
    before = _events(system, case_id)
    with system.writing() as uow:
        _note(uow, case_id, "history")
        commit(uow)  # no flush, no save: the commit sends what was held
    assert _events(system, case_id) == before + 1
    with system.reading() as uow:
        assert history.verify_case(uow.session, uow.session.get(Case, case_id)).ok


def test_a_change_that_rolls_back_leaves_nothing_it_held(system, api):
    case_id = _open_case(api)
    before = _events(system, case_id)
    with system.writing() as uow:
        _note(uow, case_id, "history")  # held, then the unit of work ends without a commit
    with system.writing() as uow:
        commit(uow)  # another change's commit does not carry them either
    assert _events(system, case_id) == before


def test_a_held_write_that_clashes_with_a_concurrent_change_is_a_stale_case(system, api):
    case_id = _open_case(api)
    before = _events(system, case_id)
    with system.writing() as uow:
        case = _note(uow, case_id, "history")
        taken = uow.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.seq == 1)).one()
        # a row another change already wrote (the same place in the chain): the held batch fails as a whole
        clash = {c.name: getattr(taken, c.name) for c in CaseEvent.__table__.c if c.name != "id"}
        hold(uow.session, CaseEvent.__table__.insert().inline(), clash)
        with pytest.raises(StaleCase):
            flush(uow.session)
        assert case.last_seq == before + 1  # only in memory: the unit of work rolls back
    assert _events(system, case_id) == before
    with system.writing() as uow:  # the connection it ran on is fine for the next change
        _note(uow, case_id, "history")
        commit(uow)
    assert _events(system, case_id) == before + 1


def test_a_clash_among_writes_sent_at_the_commit_is_a_stale_case_and_nothing_is_committed(system, api):
    """Writes still held when a change commits go out first: a clash among them fails the commit."""
    case_id = _open_case(api)
    before = _events(system, case_id)
    with system.writing() as uow:
        _note(uow, case_id, "history")
        taken = uow.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.seq == 1)).one()
        clash = {c.name: getattr(taken, c.name) for c in CaseEvent.__table__.c if c.name != "id"}
        hold(uow.session, CaseEvent.__table__.insert().inline(), clash)
        with pytest.raises(StaleCase):
            commit(uow)
    assert _events(system, case_id) == before
    with system.writing() as uow:
        _note(uow, case_id, "history")
        commit(uow)
    assert _events(system, case_id) == before + 1


def test_a_change_whose_writes_go_out_in_one_batch_fails_whole_on_a_clash(system, api, staff):
    """The completion path: the case read for a change (locked on PostgreSQL), its write held with the others and
    sent in one round trip. A clash among them fails the change; the case and its history stay as they were."""
    reply = api("olga").post("/api/cases", json={"event_name": "HackTest", "event_format": "in_person",
                                                 "region": "europe", "reporter_anonymous": True})
    case_id, task_id = reply.get_json()["id"], reply.get_json()["tasks"][0]["id"]
    with system.reading() as uow:
        version = uow.session.get(Case, case_id).version
    before = _events(system, case_id)
    with system.writing() as uow:
        row, record = views.ready_task(uow.session, staff["onsite"], task_id, for_change=True)
        history.append(uow.session, record, "olga", "onsite_staff", "case_viewed", None, None, {"viewed": "case"},
                       readable_after_purge=True)
        taken = uow.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.seq == 1)).one()
        clash = {c.name: getattr(taken, c.name) for c in CaseEvent.__table__.c if c.name != "id"}
        hold(uow.session, CaseEvent.__table__.insert().inline(), clash)
        with pytest.raises(StaleCase):
            save_case(uow.session, record)
    assert _events(system, case_id) == before
    with system.reading() as uow:
        assert uow.session.get(Case, case_id).version == version
    assert api("olga").post(f"/api/tasks/{task_id}", json={"data": {"team_member_contacted": "T",
                                                                    "called_at": "2026-11-24T10:00"}}).status_code == 200


def test_a_case_record_changed_by_someone_else_since_it_was_read_is_not_written(system, api, staff):
    """Read without a lock (as a task's page reads it), a case written meanwhile fails its version check."""
    reply = api("olga").post("/api/cases", json={"event_name": "HackTest", "event_format": "in_person",
                                                 "region": "europe", "reporter_anonymous": True})
    case_id, task_id = reply.get_json()["id"], reply.get_json()["tasks"][0]["id"]
    with system.writing() as uow:
        row, record = views.ready_task(uow.session, staff["onsite"], task_id)
        assert not record.locked
        uow.session.execute(update(Case).where(Case.id == case_id).values(version=Case.version + 1))
        record.status = "open"
        with pytest.raises(StaleCase):
            save_case(uow.session, record)


def test_a_case_record_only_changes_what_a_change_of_state_writes(system, api, staff):
    """A change of state writes back its state, data, status, times and history head; anything else about a case
    (its version, key, event, exclusions) changes through the mapped Case, never silently through a record."""
    reply = api("olga").post("/api/cases", json={"event_name": "HackTest", "event_format": "in_person",
                                                 "region": "europe", "reporter_anonymous": True})
    with system.writing() as uow:
        row, record = views.ready_task(uow.session, staff["onsite"], reply.get_json()["tasks"][0]["id"])
        for name, value in (("process_version", "0" * 64), ("wrapped_key", None), ("event_name", "Elsewhere"),
                            ("excluded_staff", []), ("version", 99)):
            with pytest.raises(AttributeError, match=name):
                setattr(record, name, value)
        record.status = "open"  # what a change of state writes
