"""Steps a case through the real diagrams in-process, saving and restoring the workflow between steps."""
from datetime import timedelta

from engine.cases import validate
from engine.models import utcnow
from engine.runtime import CaseRunner
from forms import INTAKE_FORM

INTAKE = {
    "event_name": "HackTest", "event_format": "in_person", "region": "europe",
    "opened_by_role": "onsite_staff", "reporter_anonymous": False, "excluded_staff": [],
}


class CaseDriver:
    """A case on the engine alone: complete tasks by BPMN id with form-validated data, record the path."""

    def __init__(self, version, **intake):
        self.runner = CaseRunner(version)
        self.version = version
        available = intake.pop("onsite_staff_available", True)
        start = {**validate(INTAKE_FORM, {**INTAKE, **intake}), "onsite_staff_available": available}
        self.now = utcnow()  # the case's clock: `elapse` moves it on
        self.workflow = self.runner.start(start, at=self.now)
        self.visited = []

    def _roundtrip(self):
        self.workflow = self.runner.loads(self.runner.dumps(self.workflow))

    @property
    def ready(self):
        """BPMN ids of the ready user tasks, sorted."""
        return sorted(t.task for t in self.runner.ready_tasks(self.workflow))

    def role_of(self, task):
        """The acting role of a ready task."""
        return next(t.role for t in self.runner.ready_tasks(self.workflow) if t.task == task)

    def complete(self, task, **data):
        """Complete the (first) ready task `task` with data validated by its form."""
        self._roundtrip()
        ready = [t for t in self.runner.ready_tasks(self.workflow) if t.task == task]
        assert ready, f"{task} is not ready; ready: {self.ready}"
        clean = validate(self.version.forms[task], data)
        self.runner.complete(self.workflow, ready[0].id, clean, at=self.now)
        self.visited.append(task)
        return self

    def message(self, name, **payload):
        """Raise a message such as safety_concern."""
        self._roundtrip()
        self.runner.catch_message(self.workflow, name, payload, at=self.now)
        return self

    def elapse(self, minutes):
        """Let `minutes` pass on the case's clock, then fire the timers that are due."""
        self._roundtrip()
        self.now += timedelta(minutes=minutes)
        self.runner.refresh(self.workflow, at=self.now)
        return self

    @property
    def data(self):
        return self.runner.data(self.workflow)

    @property
    def closed(self):
        return self.runner.is_completed(self.workflow) or bool(self.data.get("case_closed"))
