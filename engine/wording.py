"""What people read in a case's history instead of the process's ids and raw values: the titles of user tasks and
the labels of form fields, as the process version an event ran on defines them, and values as yes/no/-.

Shared by the staff case page, the auditors' timeline and the printed report of an export, so all three say the same.
"""
from forms import INTAKE_FORM


def show(value) -> str:
    """A data value for people: booleans as yes/no, nothing as a dash, lists joined, records as "key: value"."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(show(v) for v in value) or "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {show(v)}" for k, v in value.items())
    return str(value)


class Wording:
    """Task titles and field labels of the process versions a case's events ran on, each version looked up once."""

    def __init__(self, processes, session):
        self._processes, self._session = processes, session
        self._versions = {}

    def title(self, version_hash: str, task: str | None) -> str | None:
        """The user task's title in that version; None for anything that is not one of its user tasks."""
        spec = self._version(version_hash).user_tasks.get(task) if task else None
        return spec.name if spec is not None else None

    def labels(self, version_hash: str, kind: str, task: str | None) -> dict:
        """{field: label} of the form behind an event: the intake form for a case's start, the task's form for a
        completed task; empty for events no form describes (their fields are shown by name)."""
        if kind == "case_started":
            form = INTAKE_FORM
        elif kind == "task_completed" and task:
            form = self._version(version_hash).forms.get(task)
        else:
            form = None
        return {f["name"]: f["label"] for f in form.describe() if f.get("label")} if form is not None else {}

    def _version(self, version_hash):
        if version_hash not in self._versions:
            self._versions[version_hash] = self._processes.runner(version_hash, self._session).version
        return self._versions[version_hash]
