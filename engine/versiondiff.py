"""What changed between two process versions: tasks, lanes, flows, conditions, events, rules and forms.

Each change names the file and the element id, so pages can mark it on the diagram.
"""
from .xmlsafe import parse_safely

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DMN_TAGS = ("decision", "rule", "input", "output")
TASK_TAGS = ("userTask", "scriptTask", "serviceTask", "businessRuleTask", "callActivity", "manualTask", "task",
             "sendTask", "receiveTask", "subProcess")
EVENT_TAGS = ("startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
              "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway")


def _local(tag) -> str:
    return tag.split("}")[-1] if isinstance(tag, str) else ""


def _text(node, path) -> str | None:
    found = node.find(path)
    return (found.text or "").strip() if found is not None else None


def _inner_code(node) -> dict:
    """Scripts, timers and message refs inside an element, by where they sit."""
    out = {}
    for child in node.iter():
        name = _local(child.tag)
        if name in ("script", "preScript", "postScript", "timeDuration", "timeDate", "timeCycle",
                    "instructionsForEndUser"):
            out[name] = (child.text or "").strip()
        elif name in ("messageEventDefinition", "signalEventDefinition", "errorEventDefinition",
                      "escalationEventDefinition"):
            out[name] = child.get("messageRef") or child.get("signalRef") or child.get("errorRef") or ""
        elif name == "calledDecisionId":
            out["decision"] = (child.text or "").strip()
    return out


def _bpmn_elements(file_name, tree) -> dict:
    lanes_of = {}
    found = {}
    for lane in tree.iter(f"{{{BPMN}}}lane"):
        refs = sorted((r.text or "").strip() for r in lane.findall(f"{{{BPMN}}}flowNodeRef"))
        for ref in refs:
            lanes_of[ref] = lane.get("id")
        found[("lane", f"{file_name}#{lane.get('id')}")] = (file_name, lane.get("name"), {"name": lane.get("name"), "tasks": refs})
    for node in tree.iter():
        tag = _local(node.tag)
        element_id = node.get("id")
        if tag in TASK_TAGS:
            props = {"name": node.get("name"), "type": tag, "lane": lanes_of.get(element_id),
                     "documentation": _text(node, f"{{{BPMN}}}documentation"),
                     "calls": node.get("calledElement"), **_inner_code(node)}
            if tag == "subProcess":
                props = {k: props[k] for k in ("name", "type", "lane")} | {"triggered": node.get("triggeredByEvent")}
            found[("task", element_id)] = (file_name, node.get("name"), props)
        elif tag in EVENT_TAGS:
            props = {"name": node.get("name"), "type": tag, "attached_to": node.get("attachedToRef"),
                     "interrupting": node.get("cancelActivity") or node.get("isInterrupting"),
                     "default": node.get("default"), **_inner_code(node)}
            found[("event" if "Event" in tag else "gateway", element_id)] = (file_name, node.get("name"), props)
        elif tag == "sequenceFlow":
            condition = _text(node, f"{{{BPMN}}}conditionExpression")
            found[("flow", element_id)] = (file_name, node.get("name"), {
                "name": node.get("name"), "from": node.get("sourceRef"), "to": node.get("targetRef")})
            if condition is not None:
                found[("condition", element_id)] = (file_name, node.get("name"), {"condition": condition})
    return found


def _dmn_elements(file_name, tree) -> dict:
    found = {}
    for node in tree.iter():
        tag = _local(node.tag)
        if tag not in DMN_TAGS or node.get("id") is None:
            continue
        if tag == "rule":
            cells = [(c.text or "").strip() for c in node.iter() if _local(c.tag) == "text"]
            props = {"cells": cells}
        elif tag == "decision":
            props = {"name": node.get("name")}
        else:
            props = {"label": node.get("label"), "expression": _text(node, ".//*[@typeRef]") or node.get("name")}
        found[(f"dmn {tag}", node.get("id"))] = (file_name, node.get("name") or node.get("label"), props)
    return found


def elements(files: dict) -> dict:
    """Every element that matters for behaviour, by (kind, id): (file, name, properties)."""
    found = {}
    for name, data in sorted(files.items()):
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if name.endswith(".bpmn"):
            found.update(_bpmn_elements(name, parse_safely(raw, name)))
        elif name.endswith(".dmn"):
            found.update(_dmn_elements(name, parse_safely(raw, name)))
    return found


def diff(old_files: dict, new_files: dict, old_forms: dict, new_forms: dict) -> list:
    """The changes from the old version to the new: [{kind, id, file, name, change, fields}], in file order.

    `*_forms` are form descriptions by task id (engine.diagrams.describe_forms).
    """
    before, after = elements(old_files), elements(new_files)
    changes = []
    for key in sorted(set(before) | set(after), key=lambda k: ((after.get(k) or before.get(k))[0], k)):
        kind, element_id = key[0], key[1].split("#")[-1]  # lanes are role ids: the same id in every diagram
        if key not in before:
            file_name, name, _ = after[key]
            changes.append(_change(kind, element_id, file_name, name, "added", []))
        elif key not in after:
            file_name, name, _ = before[key]
            changes.append(_change(kind, element_id, file_name, name, "removed", []))
        else:
            changed = sorted(k for k in set(before[key][2]) | set(after[key][2])
                             if before[key][2].get(k) != after[key][2].get(k))
            if changed:
                file_name, name, _ = after[key]
                changes.append(_change(kind, element_id, file_name, name, "changed", changed))
    for task_id in sorted(set(old_forms) | set(new_forms)):
        old, new = old_forms.get(task_id), new_forms.get(task_id)
        if old == new:
            continue
        change = "added" if old is None else "removed" if new is None else "changed"
        fields = [] if change != "changed" else _form_fields_changed(old, new)
        changes.append(_change("form", task_id, _file_of_task(after, before, task_id), None, change, fields))
    return changes


def _form_fields_changed(old, new) -> list:
    by_name = lambda form: {f["name"]: f for f in form}  # noqa: E731
    a, b = by_name(old), by_name(new)
    return sorted(name for name in set(a) | set(b) if a.get(name) != b.get(name)) or ["order"]


def _file_of_task(after, before, task_id):
    found = after.get(("task", task_id)) or before.get(("task", task_id))
    return found[0] if found else None


def _change(kind, element_id, file_name, name, change, fields):
    return {"kind": kind, "id": element_id, "file": file_name, "name": name, "change": change, "fields": fields}
