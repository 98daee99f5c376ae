"""Runs every process test that policy staff wrote (bpmn/tests/*.yaml) on the current diagrams, one test per file.

Also checks that together they cover the process: every user task completed, every diagram element run.
"""
import pytest

from engine.config import ROOT
from engine.processtests import every_element, run_process_tests

FILES = sorted((ROOT / "bpmn" / "tests").glob("*.yaml"))


def test_there_are_process_tests_to_run():
    assert len(FILES) >= 20


@pytest.fixture(scope="module")
def results(processes):
    """Every file run once on the current diagrams, as publishing runs them: {file name: Result}."""
    return {path.name: result for path, result in zip(FILES, run_process_tests(processes.current, FILES))}


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_process_file(results, path):
    result = results[path.name]
    assert result.passed, f"{path.name}: {result.name}\n" + "\n".join(result.failures)
    assert result.steps_run >= 3


def test_the_process_tests_together_run_every_element_of_every_diagram(processes, results):
    run = set().union(*(result.elements for result in results.values()))
    assert every_element(processes.current) - run == set()
    assert set(processes.current.user_tasks) <= run
