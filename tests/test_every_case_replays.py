"""Every case the test suite creates replays to an identical state: the `system` fixture replays each test's
cases when the test ends, and the last test of the run looks at all of them."""
import pytest

from tests.conftest import REPLAYS
from tests.test_api import do, open_case


def test_a_case_opened_here_is_collected_for_the_final_check(api):
    cid = open_case(api)["id"]
    do(api, "olga", cid, "call_incident_team", team_member_contacted="Tess", called_at="2026-11-24T10:00")


@pytest.mark.after_every_case
def test_every_case_the_test_suite_created_replays_to_an_identical_state():
    mine = [verdicts for test, _, verdicts in REPLAYS if "test_a_case_opened_here_is_collected" in test]
    assert mine and len(mine[0]) == 1, "the collector did not see the case opened above"
    moved = [verdicts for test, _, verdicts in REPLAYS if "test_move_case_moves_an_open_case" in test]
    assert all(len(v) == 1 for v in moved), "a case made through the command line, in its own database, was missed"
    checked = [(test, found) for test, edited, verdicts in REPLAYS if not edited for found in verdicts]
    failed = [f"{test}: {found}" if isinstance(found, str) else f"{test}: case {found.case_id}: {found.describe()}"
              for test, found in checked if isinstance(found, str) or not found.ok]
    assert not failed, f"{len(failed)} cases did not replay:\n" + "\n".join(failed)
    exempt = sum(len(verdicts) for _, edited, verdicts in REPLAYS if edited)
    print(f"{len(checked)} cases from {len({t for t, _ in checked})} tests replayed to their recorded state "
          f"({exempt} cases of tests that edit stored cases on purpose were not counted)")
