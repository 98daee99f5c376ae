"""The diagrams: loaded with the XSD validator, linted, one lane per role, forms for every task, readable layout."""

import pytest
from lxml import etree

from engine.config import ROOT
from engine.diagrams import load_directory, load_files
from engine.errors import DiagramError
from engine.roles import STAFF_ROLES, TASK_ROLES
from engine.runtime import CaseRunner
from forms import FORMS
from tests.driver import INTAKE

BPMN_DIR = ROOT / "bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC", "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
DIAGRAMS = sorted(p.name for p in BPMN_DIR.glob("*.bpmn"))


def files(**changes):
    """The real diagram files as bytes, with some replaced."""
    out = {p.name: p.read_bytes() for p in BPMN_DIR.iterdir() if p.suffix in (".bpmn", ".dmn")}
    out.update({name: data.encode() if isinstance(data, str) else data for name, data in changes.items()})
    return out


def edited(name, old, new):
    text = (BPMN_DIR / name).read_text()
    assert old in text, old
    return {name: text.replace(old, new, 1)}


def test_the_expected_diagrams_and_table_exist():
    assert DIAGRAMS == ["decision.bpmn", "incident_response.bpmn", "initial_report.bpmn",
                        "public_communication.bpmn", "response.bpmn", "safety_gate.bpmn"]
    assert (BPMN_DIR / "regional_contacts.dmn").exists()


def test_every_user_task_has_a_form_and_every_form_has_a_user_task(processes):
    assert set(processes.current.user_tasks) == set(FORMS)


def test_a_user_task_without_a_form_stops_loading_naming_the_task():
    forms = {k: v for k, v in FORMS.items() if k != "support_victim"}
    with pytest.raises(DiagramError) as err:
        load_files(files(), forms)
    assert err.value.element_id == "support_victim" and err.value.file_name == "safety_gate.bpmn"
    assert err.value.line and "has no form" in str(err.value)


def test_a_form_without_a_user_task_stops_loading():
    with pytest.raises(DiagramError, match="form 'orphan' has no user task"):
        load_files(files(), {**FORMS, "orphan": FORMS["close_case"]})


@pytest.mark.parametrize("name", DIAGRAMS)
def test_lane_ids_are_role_ids_and_every_user_task_sits_in_one(name):
    tree = etree.parse(str(BPMN_DIR / name))
    lanes = tree.findall(".//bpmn:lane", NS)
    assert lanes and all(lane.get("id") in STAFF_ROLES | TASK_ROLES for lane in lanes)
    in_lanes = [ref.text for lane in lanes for ref in lane.findall("bpmn:flowNodeRef", NS)]
    assert len(in_lanes) == len(set(in_lanes))
    for task in tree.findall(".//bpmn:userTask", NS):
        assert task.get("id") in in_lanes


@pytest.mark.parametrize("name", DIAGRAMS)
def test_every_user_task_carries_its_instructions_in_the_diagram(name):
    tree = etree.parse(str(BPMN_DIR / name))
    for task in tree.findall(".//bpmn:userTask", NS):
        assert task.findtext("bpmn:documentation", namespaces=NS).strip(), task.get("id")
        assert task.findtext(".//spiffworkflow:instructionsForEndUser", namespaces=NS).strip(), task.get("id")


@pytest.mark.parametrize("name", DIAGRAMS)
def test_every_element_is_drawn_and_no_two_shapes_overlap(name):
    tree = etree.parse(str(BPMN_DIR / name))
    drawn = {s.get("bpmnElement"): s for s in tree.findall(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement") for e in tree.findall(".//bpmndi:BPMNEdge", NS)}
    process = tree.find(".//bpmn:process", NS)
    for element in process.iter():
        if not isinstance(element.tag, str) or element.get("id") is None:
            continue
        local = etree.QName(element).localname
        if local == "sequenceFlow":
            assert element.get("id") in edges, element.get("id")
        elif local.endswith(("Task", "Event", "Gateway")) or local in ("callActivity", "subProcess", "lane"):
            assert element.get("id") in drawn, element.get("id")

    def box(shape):
        b = shape.find("dc:Bounds", NS)
        return tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))

    parent = {b.get("id"): b.get("attachedToRef") for b in process.findall(".//bpmn:boundaryEvent", NS)}
    for sub in process.findall(".//bpmn:subProcess", NS):
        for child in sub:
            if child.get("id"):
                parent[child.get("id")] = sub.get("id")
    nodes = [(i, box(s)) for i, s in drawn.items() if not i.startswith(("participant_",)) and i not in
             {lane.get("id") for lane in tree.findall(".//bpmn:lane", NS)}]
    for index, (a, (ax, ay, aw, ah)) in enumerate(nodes):
        for b, (bx, by, bw, bh) in nodes[index + 1:]:
            if parent.get(a) == b or parent.get(b) == a:
                continue
            overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
            assert not overlap, f"{a} overlaps {b}"


def test_diagrams_are_loaded_with_the_xsd_validator():
    broken = edited("safety_gate.bpmn", '<bpmn:endEvent id="safety_end"', '<bpmn:notAnElement id="x" />\n    <bpmn:endEvent id="safety_end"')
    with pytest.raises(DiagramError) as err:
        load_files(files(**broken), FORMS)
    assert err.value.file_name == "safety_gate.bpmn" and err.value.line
    assert "notAnElement" in str(err.value)


def test_malformed_xml_names_file_and_line():
    with pytest.raises(DiagramError) as err:
        load_files(files(**{"decision.bpmn": "<definitions>\n<oops></definitions>"}), FORMS)
    assert err.value.file_name == "decision.bpmn" and err.value.line == 2


def test_doctype_and_entities_are_refused():
    text = (BPMN_DIR / "decision.bpmn").read_text().replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>')
    with pytest.raises(DiagramError, match="DOCTYPE"):
        load_files(files(**{"decision.bpmn": text}), FORMS)


def test_a_task_in_an_unknown_lane_names_the_task_and_line():
    broken = edited("decision.bpmn", '<bpmn:lane id="organizer"', '<bpmn:lane id="volunteers"')
    with pytest.raises(DiagramError) as err:
        load_files(files(**broken), FORMS)
    assert err.value.element_id == "add_organizer_view" and err.value.line
    assert "volunteers" in str(err.value)


@pytest.mark.parametrize("condition", ["__import__('os').system('id')", "().__class__.__base__", "x ==="])
def test_a_forbidden_or_broken_condition_names_the_flow(condition):
    broken = edited("safety_gate.bpmn", "general_threat == True", condition.replace("'", "&apos;"))
    with pytest.raises(DiagramError) as err:
        load_files(files(**broken), FORMS)
    assert err.value.element_id == "flow_gw_general_threat_to_summon_security" and err.value.line


@pytest.mark.parametrize("value,ok", [('"P30X"', False), ('"PT15M"', True), ("15", False)])
def test_a_timer_literal_must_be_an_iso_duration(value, ok):
    text = (BPMN_DIR / "incident_response.bpmn").read_text()
    start = text.index('<bpmn:messageEventDefinition id="appeal_received_def"')
    end = text.index("</bpmn:messageEventDefinition>", start) + len("</bpmn:messageEventDefinition>")
    timer = (f'<bpmn:timerEventDefinition id="appeal_timer"><bpmn:timeDuration>{value}'
             '</bpmn:timeDuration></bpmn:timerEventDefinition>')
    changed = files(**{"incident_response.bpmn": text[:start] + timer + text[end:]})
    if ok:
        load_files(changed, FORMS)
        return
    with pytest.raises(DiagramError) as err:
        load_files(changed, FORMS)
    assert err.value.element_id == "appeal_timer" and "ISO 8601" in str(err.value) and err.value.line


def test_a_forbidden_script_names_the_script_task():
    broken = edited("decision.bpmn", "decision_round = decision_round + 1", "x = ().__class__")
    with pytest.raises(DiagramError) as err:
        load_files(files(**broken), FORMS)
    assert err.value.element_id == "count_decision_round"


def test_a_missing_call_activity_target_stops_loading():
    broken = edited("incident_response.bpmn", 'calledElement="decision"', 'calledElement="no_such_process"')
    with pytest.raises(DiagramError, match="no_such_process") as err:
        load_files(files(**broken), FORMS)
    assert err.value.file_name == "incident_response.bpmn" and err.value.element_id == "decision" and err.value.line


def test_a_broken_dmn_cell_names_the_cell():
    text = (BPMN_DIR / "regional_contacts.dmn").read_text().replace('"+44 800 808 5675"', "open('/etc/passwd')")
    with pytest.raises(DiagramError) as err:
        load_files(files(**{"regional_contacts.dmn": text}), FORMS)
    assert err.value.file_name == "regional_contacts.dmn"


def test_a_broken_directory_stops_load_directory(tmp_path):
    (tmp_path / "incident_response.bpmn").write_text("not xml")
    with pytest.raises(DiagramError, match="incident_response.bpmn"):
        load_directory(tmp_path, FORMS)


@pytest.mark.parametrize("region,phone", [
    ("north_america", "+1 409 202 6060"), ("canada", "+1 343 453 4532"), ("europe", "+44 800 808 5675"),
    ("asia_pacific", "+91 000 80004 02492"), ("india", "000 80004 02492")])
def test_the_regional_table_gives_the_guides_reporting_line(processes, region, phone):
    runner = CaseRunner(processes.current)
    workflow = runner.start({**INTAKE, "region": region, "onsite_staff_available": True})
    assert runner.data(workflow)["reporting_phone"] == phone
    assert runner.data(workflow)["reporting_email"] == "incidents@mlh.io"


def test_the_version_hash_changes_with_the_files():
    one = load_files(files(), FORMS)
    two = load_files(files(**edited("decision.bpmn", "Review the report against", "Review the report per")), FORMS)
    assert one.hash == load_files(files(), FORMS).hash and one.hash != two.hash


def test_a_dmn_table_is_validated_against_the_dmn_schema():
    text = (BPMN_DIR / "regional_contacts.dmn").read_text()
    broken = text.replace("<decisionTable ", "<notInDmn />\n    <decisionTable ", 1)
    with pytest.raises(DiagramError) as err:
        load_files(files(**{"regional_contacts.dmn": broken}), FORMS)
    assert err.value.file_name == "regional_contacts.dmn" and err.value.line and "notInDmn" in str(err.value)


def test_a_dmn_file_in_an_unknown_namespace_is_refused_not_skipped():
    text = (BPMN_DIR / "regional_contacts.dmn").read_text().replace(
        "https://www.omg.org/spec/DMN/20191111/MODEL/", "https://example.org/not-dmn/")
    with pytest.raises(DiagramError, match="not a DMN file") as err:
        load_files(files(**{"regional_contacts.dmn": text}), FORMS)
    assert err.value.file_name == "regional_contacts.dmn" and err.value.line == 2


def test_an_oversize_file_is_refused_before_parsing():
    from engine.xmlsafe import MAX_BYTES
    text = (BPMN_DIR / "decision.bpmn").read_text()
    padded = text.replace("</bpmn:definitions>", "<!--" + "x" * MAX_BYTES + "--></bpmn:definitions>")
    with pytest.raises(DiagramError, match="larger than") as err:
        load_files(files(**{"decision.bpmn": padded}), FORMS)
    assert err.value.file_name == "decision.bpmn"


def test_a_doctype_hidden_in_another_encoding_is_still_refused():
    text = (BPMN_DIR / "decision.bpmn").read_text().replace(
        '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE x>')
    with pytest.raises(DiagramError) as err:
        load_files(files(**{"decision.bpmn": text.encode("utf-16")}), FORMS)
    assert err.value.file_name == "decision.bpmn"
    assert "UTF-8" in str(err.value) or "DOCTYPE" in str(err.value)


def test_an_entity_declaration_anywhere_is_refused_with_its_line():
    text = (BPMN_DIR / "decision.bpmn").read_text().replace(
        "<bpmn:collaboration", '<!ENTITY e "x">\n  <bpmn:collaboration', 1)
    with pytest.raises(DiagramError, match="DOCTYPE and entity") as err:
        load_files(files(**{"decision.bpmn": text}), FORMS)
    assert err.value.line == 3


@pytest.mark.parametrize("version,ok", [((6, 1, 0, 0), True), ((6, 0, 2, 0), False), ((5, 3, 1, 0), False)])
def test_diagrams_are_parsed_only_with_lxml_6_1_or_newer(version, ok, monkeypatch):
    from engine import xmlsafe
    monkeypatch.setattr(xmlsafe.etree, "LXML_VERSION", version)
    if ok:
        load_files(files(), FORMS)
        return
    with pytest.raises(DiagramError, match=r"lxml .* is installed; .*6\.1 or newer"):
        load_files(files(), FORMS)


def test_the_installed_lxml_is_new_enough():
    from engine.xmlsafe import MIN_LXML
    assert etree.LXML_VERSION[:2] >= MIN_LXML
