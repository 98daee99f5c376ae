"""The fast task walk (engine/tasktree.py) answers every query exactly as SpiffWorkflow's own walk does.

Every process test policy staff wrote (bpmn/tests/*.yaml: every path, every element of the diagrams)
runs with each query answered both ways and compared: same tasks, same order.
"""
import pytest
from SpiffWorkflow.util.task import TaskState

from engine import tasktree
from engine.config import ROOT
from engine.processtests import run_process_tests
from engine.runtime import CaseRunner

FILES = sorted((ROOT / "bpmn" / "tests").glob("*.yaml"))
MASKS = (TaskState.READY, TaskState.WAITING, TaskState.NOT_FINISHED_MASK, TaskState.FINISHED_MASK,
         TaskState.COMPLETED | TaskState.READY | TaskState.STARTED, TaskState.PREDICTED_MASK, TaskState.ANY_MASK)


def test_the_fast_walk_matches_spiffworkflow_on_every_query_of_every_process_test(processes, monkeypatch):
    compared = {"queries": 0, "tasks": 0, "subprocess_queries": 0}
    fast = tasktree._get_tasks

    def both(workflow, first_task=None, **kwargs):
        mine = fast(workflow, first_task, **kwargs)
        theirs = tasktree.spiff_get_tasks(workflow, **kwargs) if first_task is None else mine
        assert [t.id for t in mine] == [t.id for t in theirs], kwargs
        if first_task is None:
            # the same tree, asked every other way the engine or this project asks
            for mask in MASKS:
                for manual in (None, True):
                    got = [t.id for t in tasktree.tasks_in_state(workflow, mask, manual)]
                    want = [t.id for t in tasktree.spiff_get_tasks(workflow, state=mask, manual=manual)]
                    assert got == want, (TaskState.get_name(mask), manual)
                    compared["tasks"] += len(got)
            compared["queries"] += 1
            compared["subprocess_queries"] += workflow is not workflow.top_workflow
        return mine
    monkeypatch.setattr(tasktree.BpmnBaseWorkflow, "get_tasks", both)
    results = run_process_tests(processes.current, FILES)
    assert all(result.passed for result in results), [r.failures for r in results if not r.passed]
    assert compared["queries"] > 1000 and compared["subprocess_queries"] > 100 and compared["tasks"] > 100_000, compared


def test_a_tree_too_deep_for_the_fast_walk_falls_back_to_spiffworkflow(processes, monkeypatch):
    workflow = CaseRunner(processes.current).start(
        {"event_name": "E", "event_format": "in_person", "region": "europe", "opened_by_role": "onsite_staff",
         "reporter_anonymous": True, "onsite_staff_available": True})
    want = [t.id for t in tasktree.spiff_get_tasks(workflow, state=TaskState.ANY_MASK)]
    monkeypatch.setattr(tasktree, "_SPIFF_MAX_DEPTH", len(workflow.subprocesses) + 4)
    with pytest.raises(tasktree._TooDeep):
        tasktree.tasks_in_state(workflow)
    assert [t.id for t in workflow.get_tasks(state=TaskState.ANY_MASK)] == want  # SpiffWorkflow's walk answered
