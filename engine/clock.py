"""Timers run on the case's clock: every engine step is handed the moment it happens, which the history records.

SpiffWorkflow 3.2 reads the wall clock inside its timer definitions, both when a timer starts (its due
time) and when it checks whether the timer is due. Here the parsed timer definitions are given
subclasses that read the moment set on the workflow for the current step instead. A live step uses
the time it runs at and records that same time on its history event, so a replay that hands each
recorded event's time back in computes the same due times and fires each timer at the same step.
"""
from datetime import datetime, timedelta, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition, DurationTimerEventDefinition, TimeDateEventDefinition, TimerEventDefinition,
)

_ATTRIBUTE = "incidents_clock"


def set_clock(workflow, moment: datetime) -> None:
    """Make the workflow's timers see `moment` (timezone-aware) as now until the next call."""
    if moment.tzinfo is None:
        raise ValueError("the case clock needs a timezone-aware time")
    setattr(workflow, _ATTRIBUTE, moment.astimezone(timezone.utc))


def now_for(task) -> datetime:
    """The moment the task's case is at: the clock set on its top workflow, else the wall clock."""
    return getattr(task.workflow.top_workflow, _ATTRIBUTE, None) or datetime.now(timezone.utc)


class ClockedDurationTimerEventDefinition(DurationTimerEventDefinition):
    """A duration timer ("PT15M") started and checked on the case's clock."""

    def has_fired(self, my_task):
        now = now_for(my_task)
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            parsed = TimerEventDefinition.parse_iso_duration(expression)
            event_value = (now + TimerEventDefinition.get_timedelta_from_start(parsed, now)).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.get_datetime(event_value) < now:
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockedTimeDateEventDefinition(TimeDateEventDefinition):
    """A timer at a fixed date, checked on the case's clock."""

    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.parse_time_or_duration(event_value) < now_for(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


def _recurring(expression: str, now: datetime):
    """(cycles, first due time, interval) of an ISO 8601 cycle; a bare "R3/PT1H" starts from `now`."""
    components = expression.upper().replace("--", "/").strip("R").split("/")
    if len(components) == 2 and components[1].startswith("P"):
        cycles = int(components[0]) if components[0] else -1
        parsed = TimerEventDefinition.parse_iso_duration(components[1])
        interval = TimerEventDefinition.get_timedelta_from_start(parsed, now)
        return cycles, now + interval, interval
    return TimerEventDefinition.parse_iso_recurring_interval(expression)


class ClockedCycleTimerEventDefinition(CycleTimerEventDefinition):
    """A recurring timer ("R3/PT1H") started and checked on the case's clock."""

    def cycle_complete(self, my_task):
        now = now_for(my_task)
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            cycles, start, interval = _recurring(expression, now)
            event_value = {"cycles": cycles, "next": start.isoformat(), "duration": interval.total_seconds()}
        ready = False
        if event_value["cycles"] != 0:
            next_event = datetime.fromisoformat(event_value["next"])
            if next_event < now:
                event_value["next"] = (next_event + timedelta(seconds=event_value["duration"])).isoformat()
                event_value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=event_value)
        return ready


CLOCKED = {
    DurationTimerEventDefinition: ClockedDurationTimerEventDefinition,
    TimeDateEventDefinition: ClockedTimeDateEventDefinition,
    CycleTimerEventDefinition: ClockedCycleTimerEventDefinition,
}


def put_timers_on_the_case_clock(*workflow_specs) -> int:
    """Give every timer of the parsed specs its clocked class, once per process version; returns how many."""
    count = 0
    for wf_spec in workflow_specs:
        for task_spec in wf_spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            nested = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
            for item in nested:
                clocked = CLOCKED.get(type(item))
                if clocked is not None:
                    item.__class__ = clocked
                    count += 1
    return count
