"""A change's rows besides the case are held and sent with it (in one round trip on PostgreSQL): none is lost,
none outlives a rollback, and a clash with a concurrent change is a StaleCase, not a server error."""
import pytest
from sqlalchemy import func, select

from engine import history
from engine.casestate import commit, flush
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
