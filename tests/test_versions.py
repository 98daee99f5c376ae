"""Process versions: a case runs on the version it started on; a broken change never becomes a version."""
import os
import shutil
import signal
import time

import pytest
from sqlalchemy import func, select

from engine import cases
from engine.config import ROOT
from engine.db import session_factories
from engine.models import ProcessVersionRow
from engine.processes import ProcessRegistry
from engine.system import Incidents
from forms import FORMS
from tests.net import request
from tests.test_faults import INTAKE

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
CALL = {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}


def copy_of_bpmn(tmp_path):
    directory = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", directory)
    return directory


def rename_assess_safety(directory, title):
    path = directory / "safety_gate.bpmn"
    path.write_text(path.read_text().replace('name="Assess safety"', f'name="{title}"'))


def test_a_case_keeps_running_on_the_version_it_started_on(system, staff, tmp_path):
    directory = copy_of_bpmn(tmp_path)
    actor = staff["onsite"]
    with system.writing() as uow:
        old = cases.open_case(uow, system.processes, actor, INTAKE)
    rename_assess_safety(directory, "Check everyone is safe")
    read, write = session_factories(system.db, system.master_key)
    # a new process (say after a restart) that has never seen the old version in memory
    later = Incidents(system.settings, system.db, ProcessRegistry.from_directory(directory, FORMS), system.master_key,
                      read, write)
    assert later.processes.current.hash != old["process_version"]
    with later.writing() as uow:
        new = cases.open_case(uow, later.processes, actor, INTAKE)
    with later.writing() as uow:
        old = cases.complete_task(uow, later.processes, actor, old["tasks"][0]["id"], CALL)
    with later.writing() as uow:
        new = cases.complete_task(uow, later.processes, actor, new["tasks"][0]["id"], CALL)
    assert old["tasks"][0]["title"] == "Assess safety" and old["process_version"] != new["process_version"]
    assert new["tasks"][0]["title"] == "Check everyone is safe"
    with later.reading() as uow:
        stored = {row.hash: (row.files, row.forms) for row in uow.session.scalars(select(ProcessVersionRow))}
    assert set(stored) == {old["process_version"], new["process_version"]}
    files, forms = stored[old["process_version"]]
    assert forms["decide_action"][0]["name"] == "action" and "Assess safety" in files["safety_gate.bpmn"]


def test_a_broken_diagram_never_becomes_a_version_and_the_server_keeps_serving(system, staff, serve, tmp_path):
    directory = copy_of_bpmn(tmp_path)
    port, token = serve(workers=2, INCIDENTS_BPMN_DIR=str(directory), INCIDENTS_TICK_SECONDS="0.3")
    headers = {"Authorization": f"Bearer {token}"}

    def open_one():
        status, body = request(port, "POST", "/api/cases", INTAKE, headers)
        assert status == 201, body
        return body["process_version"]

    good = open_one()
    (directory / "decision.bpmn").write_text("<definitions>broken")
    time.sleep(1.5)
    assert open_one() == good
    os.kill(int((tmp_path / "server.pid").read_text()), signal.SIGHUP)  # workers restart on broken files...
    time.sleep(3)
    assert open_one() == good  # ...and fall back to the last good version
    with system.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ProcessVersionRow)) == 1

    shutil.copy(ROOT / "bpmn" / "decision.bpmn", directory / "decision.bpmn")
    rename_assess_safety(directory, "Check everyone is safe")
    deadline = time.monotonic() + 10
    while (version := open_one()) == good:
        assert time.monotonic() < deadline, "the valid change was never adopted"
        time.sleep(0.3)
    with system.reading() as uow:
        assert set(uow.session.scalars(select(ProcessVersionRow.hash))) == {good, version}


def test_a_later_release_with_a_new_task_and_form_still_runs_older_cases(system, staff):
    actor = staff["onsite"]
    with system.writing() as uow:
        old = cases.open_case(uow, system.processes, actor, INTAKE)
    later_forms = {**FORMS, "a_task_added_later": FORMS["close_case"]}
    read, write = session_factories(system.db, system.master_key)
    registry = ProcessRegistry(system.processes.current, later_forms)
    registry._runners.clear()  # a new release has only its own version in memory
    later = Incidents(system.settings, system.db, registry, system.master_key, read, write)
    with later.writing() as uow:
        old = cases.complete_task(uow, later.processes, actor, old["tasks"][0]["id"], CALL)
    assert [t["task"] for t in old["tasks"]] == ["assess_safety"]
