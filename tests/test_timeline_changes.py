"""The timeline shows each step as a change from the step before: every kind of change is named."""
from engine.timeline import changes


def test_changes_name_every_kind_of_change():
    before = {"kept": 1, "edited": "a", "dropped": True, "same": "x"}
    after = {"kept": 1, "edited": "b", "same": "x", "added": [1], "by_process": 2}
    entered = {"edited": "b", "same": "x", "added": [1], "note": "only recorded"}
    kinds = {c["field"]: (c["kind"], c["before"], c["entered"]) for c in changes(before, after, entered)}
    assert kinds == {"edited": ("changed", "a", True), "same": ("unchanged", "x", True),
                     "added": ("new", None, True), "note": ("recorded", None, True),
                     "dropped": ("removed", True, False), "by_process": ("new", None, False)}
