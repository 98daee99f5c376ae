"""Timers run on the case clock handed to each engine step, not on the wall clock: dates, durations and cycles."""
from datetime import datetime, timedelta, timezone

import pytest

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.clock import put_timers_on_the_case_clock, set_clock
from engine.scripting import restricted_script_engine

T0 = datetime(2031, 5, 1, 9, 0, tzinfo=timezone.utc)  # years from now: the wall clock would fire nothing

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="clocked" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait_until"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDate>"2031-05-01T10:00:00+00:00"</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="work"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:boundaryEvent id="every_hour" attachedToRef="work" cancelActivity="false">
      <bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeCycle>"R2/PT1H"</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="reminder"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="reminded"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_until" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait_until" targetRef="work" />
    <bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="every_hour" targetRef="reminder" />
    <bpmn:sequenceFlow id="f5" sourceRef="reminder" targetRef="reminded" />
  </bpmn:process>
</bpmn:definitions>
"""


def workflow_at(moment):
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(DIAGRAM.encode("utf-8"))
    spec = parser.get_spec("clocked")
    assert put_timers_on_the_case_clock(spec) == 2
    workflow = BpmnWorkflow(spec, script_engine=restricted_script_engine())
    set_clock(workflow, moment)
    workflow.do_engine_steps()
    return workflow


def ready(workflow):
    return sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True))


def at(workflow, moment):
    set_clock(workflow, moment)
    workflow.refresh_timers()
    workflow.do_engine_steps()
    return ready(workflow)


def test_a_timer_date_is_reached_on_the_case_clock():
    workflow = workflow_at(T0)
    assert ready(workflow) == []
    assert at(workflow, T0 + timedelta(minutes=59)) == []
    assert at(workflow, T0 + timedelta(minutes=61)) == ["work"]


def test_a_cycle_starts_from_the_case_clock_and_fires_its_cycles_on_it():
    workflow = workflow_at(T0)
    started = T0 + timedelta(minutes=61)  # "work" starts now, and with it the hourly reminder
    assert at(workflow, started) == ["work"]
    assert at(workflow, started + timedelta(minutes=59)) == ["work"]
    assert at(workflow, started + timedelta(minutes=61)) == ["reminder", "work"]
    assert at(workflow, started + timedelta(minutes=121)) == ["reminder", "reminder", "work"]
    assert at(workflow, started + timedelta(hours=10)) == ["reminder", "reminder", "work"]  # R2: two cycles


def test_the_clock_must_know_its_timezone():
    with pytest.raises(ValueError, match="timezone"):
        set_clock(workflow_at(T0), datetime(2031, 1, 1))
