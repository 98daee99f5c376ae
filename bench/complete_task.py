"""Prints what completing one user task costs: the raw engine, the use case on SQLite, and over HTTP (in-process).

Every figure comes from the same run on the same diagrams; compare them as ratios, not across machines.
Run with `make bench-detail`. The SQLite file syncs every commit, as served by default; INCIDENTS_BENCH_SYNCHRONOUS=normal
measures it without (the URL's ?synchronous=normal).
"""
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import cases, users  # noqa: E402
from engine.cases import validate  # noqa: E402
from engine.config import ROOT, Settings  # noqa: E402
from engine.system import build  # noqa: E402
from forms import INTAKE_FORM  # noqa: E402
from web import create_app  # noqa: E402

N = 200
INTAKE = {"event_name": "Bench", "event_format": "in_person", "region": "europe",
          "opened_by_role": "onsite_staff", "reporter_anonymous": True}
CALL = {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}
ASSESS = {"general_threat": False}


def stats(samples):
    samples = sorted(samples)
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] * 1000  # noqa: E731
    return statistics.median(samples) * 1000, pick(0.95), pick(0.99)


def _embedded_state(runner):
    """The same case at the same step, parsed and serialized with SpiffWorkflow's defaults."""
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

    parser = SpiffBpmnParser()
    for path in sorted((ROOT / "bpmn").iterdir()):
        if path.suffix not in (".bpmn", ".dmn"):
            continue  # bpmn/tests/ holds the process tests
        (parser.add_dmn_file if path.suffix == ".dmn" else parser.add_bpmn_file)(str(path))
    workflow = BpmnWorkflow(parser.get_spec("incident_response"), parser.get_subprocess_specs("incident_response"),
                            script_engine=runner._script_engine)
    for task in workflow.get_tasks():
        if task.task_spec.name == "Start":
            task.data.update({**validate(INTAKE_FORM, INTAKE), "onsite_staff_available": True})
    workflow.do_engine_steps()
    call = next(t for t in runner.ready_tasks(workflow) if t.task == "call_incident_team")
    runner.complete(workflow, call.id, CALL)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    return serializer, serializer.serialize_json(workflow)


def floor_step(runner):
    """One step of the floor as a function returning its duration: load a stored state, complete one task, save;
    no validation, no database."""
    workflow = runner.start({**validate(INTAKE_FORM, INTAKE), "onsite_staff_available": True})
    runner.complete(workflow, runner.ready_tasks(workflow)[0].id, CALL)
    state = runner.dumps(workflow)

    def step():
        started = time.perf_counter()
        wf = runner.loads(state)
        task = next(t for t in runner.ready_tasks(wf) if t.task == "assess_safety")
        runner.complete(wf, task.id, ASSESS)
        runner.dumps(wf)
        return time.perf_counter() - started
    step.state = state
    return step


def raw_engine(runner, samples=N):
    """The floor: load a stored state, complete one task, save, `samples` times in a row.

    Returns the timings and the stored state they started from.
    """
    step = floor_step(runner)
    return [step() for _ in range(samples)], step.state


def main():
    tmp = Path(tempfile.mkdtemp())
    synchronous = os.environ.get("INCIDENTS_BENCH_SYNCHRONOUS", "full")
    url = f"sqlite:///{tmp / 'bench.sqlite3'}?synchronous={synchronous}"
    system = build(Settings(database_url=url, secret_key="bench",
                            secret_key_file=str(tmp / "key"), master_key_file=str(tmp / "master_key"),
                            bpmn_dir=str(ROOT / "bpmn")), create_key=True)
    system.create_schema()
    with system.writing() as uow:
        actor = users.add_user(uow, "olga", ["onsite_staff"], "bench password", events=["Bench"])
    runner = system.processes.runner(system.processes.current.hash)

    raw, state = raw_engine(runner)

    # the same, stored the SpiffWorkflow default way: the parsed diagram embedded in every case's state
    full, full_state = _embedded_state(runner)
    embedded = []
    for _ in range(N):
        started = time.perf_counter()
        wf = full.deserialize_json(full_state)
        wf.script_engine = runner._script_engine
        task = next(t for t in runner.ready_tasks(wf) if t.task == "assess_safety")
        runner.complete(wf, task.id, ASSESS)
        full.serialize_json(wf)
        embedded.append(time.perf_counter() - started)

    def ready_cases(count):
        ids = []
        for _ in range(count):
            with system.writing() as uow:
                case = cases.open_case(uow, system.processes, actor, INTAKE)
            with system.writing() as uow:
                case = cases.complete_task(uow, system.processes, actor, case["tasks"][0]["id"], CALL)
            ids.append(case["tasks"][0]["id"])
        return ids

    # the use case: validate with the form, load the case row, run, store state, tasks and history, commit
    service = []
    for task_id in ready_cases(N):
        started = time.perf_counter()
        with system.writing() as uow:
            cases.complete_task(uow, system.processes, actor, task_id, ASSESS)
        service.append(time.perf_counter() - started)

    # over HTTP through the Flask app in-process (bearer token, JSON in and out)
    app = create_app({"SETTINGS": system.settings, "INCIDENTS": system})
    client = app.test_client()
    token = client.post("/api/tokens", json={"username": "olga", "password": "bench password"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    http = []
    for task_id in ready_cases(N):
        started = time.perf_counter()
        reply = client.post(f"/api/tasks/{task_id}", json={"data": ASSESS}, headers=headers)
        http.append(time.perf_counter() - started)
        assert reply.status_code == 200, reply.get_json()

    floor = statistics.median(raw)
    print(f"complete one user task, {N} samples each, SQLite file (synchronous={synchronous}); "
          f"stored state {len(state)} bytes "
          f"(with the diagram embedded: {len(full_state)} bytes)")
    print(f"{'measure':<44}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'x raw':>7}")
    for name, samples in (("raw engine: load + complete + save", raw),
                          ("  same, diagram embedded in the state", embedded),
                          ("use case: validate + engine + SQLite + history", service),
                          ("HTTP API in-process (Flask test client)", http)):
        p50, p95, p99 = stats(samples)
        print(f"{name:<44}{p50:>8.2f}{p95:>8.2f}{p99:>8.2f}{p50 / (floor * 1000):>7.2f}")
    print("reference: spiff-arena took about 40 ms per completion on this kind of machine (no form validation)")


if __name__ == "__main__":
    main()
