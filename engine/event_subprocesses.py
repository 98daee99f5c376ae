"""Keeps message-started event sub-processes from rewiring the parsed diagram that every case shares.

SpiffWorkflow 3.2 connects an event sub-process into the workflow *spec* the first time a message
starts it (`BpmnStartTask.trigger_wf`). Specs are parsed once per process version and shared by
every case, so one case's safety concern would change how all later cases run (they never
complete). Here the sub-process is connected to the end once, at load, and triggering only adds
the task to the one case's tree.
"""
from SpiffWorkflow.bpmn.specs.control import BpmnStartTask
from SpiffWorkflow.util.task import TaskState


class IsolatedStartTask(BpmnStartTask):
    """A start task whose triggers touch only the case's task tree, never the shared spec."""

    def trigger_wf(self, my_task, spec_name):
        spec = self._wf_spec.task_specs.get(spec_name)
        child = my_task._add_child(spec, TaskState.FUTURE)
        child.triggered = True
        child.task_spec._update(child)
        return child.id


def isolate(*workflow_specs) -> frozenset:
    """Prepare parsed specs once; return the names of their event sub-process task specs."""
    names = set()
    for wf_spec in workflow_specs:
        start = wf_spec.start
        if not isinstance(start, BpmnStartTask):
            continue
        start.__class__ = IsolatedStartTask
        for name in start.trigger_specs:
            sub_spec = wf_spec.task_specs[name]
            if start not in sub_spec.inputs:
                # an input on the sub-process side only: new cases do not grow a child for it
                sub_spec._inputs.append(start.name)
            if wf_spec.end not in sub_spec.outputs:
                # finishing the sub-process lets the end join re-check whether the case is complete
                sub_spec.connect(wf_spec.end)
            names.add(name)
    return frozenset(names)
