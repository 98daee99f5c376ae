"""Schemathesis against GET /api/openapi.json: once per staff role with a valid token, once without one.

Every request generated from the document, valid and invalid alike, must get a documented status, a
body of the documented shape and never a 5xx; invalid data must be refused. Without valid credentials
every operation but the public ones must answer 401, and a made-up reporter link must open nothing.

Seeded cases make the operations reach their successful answers: explicit examples call them with the
seeded ids (and one valid completion each of a task and of the reporter's account; for policy staff, the
current version and one of its files, a valid draft and its publication), and generated requests draw most
path ids from the seeded ones. Each role's run fails if it never saw the successes
its role allows: a run that met only 404s would prove little.
"""
import re
from urllib.parse import unquote, urlparse

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, ignored_auth, negative_data_rejection, response_schema_conformance,
    status_code_conformance,
)
from werkzeug.exceptions import HTTPException

from tests.test_api import CALL_DATA, INTAKE, do, open_case, to_report_sent

USERS = {"onsite_staff": "olga", "incident_team": "tom", "organizer": "orla", "auditor": "audrey", "policy": "pol"}
# each role runs once, the runs spread over both databases (both for every role would double the time)
ROLE_RUNS = [("onsite_staff", "postgresql"), ("incident_team", "sqlite"), ("organizer", "postgresql"),
             ("auditor", "sqlite"), ("policy", "postgresql")]
PUBLIC = {"POST /api/tokens", "GET /api/openapi.json"}
REPORTER_LINK = {"GET /api/reporter/{token}", "POST /api/reporter/{token}"}
READ_CASE = {"GET /api/cases/{case_id}", "GET /api/cases/{case_id}/history", "GET /api/tasks"}
ACT = READ_CASE | {"GET /api/tasks/{task_id}", "POST /api/cases", "POST /api/cases/{case_id}/messages/{name}"}
# the operations each role's run must have seen succeed at least once
REACHED = {
    "onsite_staff": ACT | {"POST /api/tasks/{task_id}", "GET /api/reporter/{token}", "POST /api/reporter/{token}"},
    "incident_team": ACT,
    "organizer": ACT,
    "auditor": READ_CASE,
    "policy": {"GET /api/tasks", "GET /api/process/versions", "GET /api/process/versions/{version}/files/{file_name}",
               "GET /api/process/diff/{old}/{new}", "POST /api/process/drafts", "GET /api/process/drafts/{draft_id}",
               "POST /api/process/drafts/{draft_id}/publish"},
}
DIAGRAM = "safety_gate.bpmn"  # a file of every version, with the task a draft renames
# an intake any case-opening role may send: its first opening role is taken, at an event all test staff work at
OPENABLE = {**{k: v for k, v in INTAKE.items() if k != "opened_by_role"}, "event_name": "HackTest"}
ACCOUNT = {"harasser_identification": "M", "behavior": "B", "approximate_time": "22:00"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


@pytest.fixture
def seeded(api, make_user, system):
    """Cases at several steps (one hidden from olga, one waiting for its reporter) and what reaches them; the
    current process version and one of its files."""
    make_user("ines", "onsite_staff")  # olga's colleague: cases stay with on-site staff when olga is excluded
    fresh = open_case(api)
    reported = to_report_sent(api, harasser_identification="M")
    hidden = open_case(api, "tom", opened_by_role="incident_team", excluded_staff=["olga"])["id"]
    by_reporter = open_case(api)["id"]
    do(api, "olga", by_reporter, "call_incident_team", **CALL_DATA)
    do(api, "olga", by_reporter, "assess_safety", general_threat=False)
    do(api, "olga", by_reporter, "ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    do(api, "olga", by_reporter, "support_victim", offered_private_place=True, explained_role_and_asked=True,
       gave_emergency_contacts=True)
    link = do(api, "olga", by_reporter, "choose_account_writer", written_by="reporter")["reporter_link"]
    tasks = [t for user in ("olga", "tom", "orla") for t in api(user).get("/api/tasks").get_json()]
    return {"case_id": [fresh["id"], reported, hidden, by_reporter], "task_id": [t["id"] for t in tasks],
            "token": [link.rsplit("/", 1)[1]], "call_task": fresh["tasks"][0]["id"],
            "hidden": {"case_id": hidden, "task_ids": {t["id"] for t in tasks if t["case_id"] == hidden}},
            **{name: [system.processes.current.hash] for name in ("version", "old", "new")}, "file_name": [DIAGRAM]}


def _config(max_examples, generate_credentials):
    return schemathesis.Config.from_dict({
        "generation": {"mode": "all", "max-examples": max_examples, "deterministic": True, "database": "none",
                       "with-security-parameters": generate_credentials},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    })


def _examples(operation, known) -> list:
    """Explicit requests with the seeded ids, one valid completion each of a task and of a reporter's account
    (and for policy staff, of a draft and its publication)."""
    label, case = operation.label, operation.Case
    if label in ("GET /api/process/versions/{version}/files/{file_name}", "GET /api/process/diff/{old}/{new}"):
        return [case(path_parameters={name: known[name][0] for name in re.findall(r"{(\w+)}", operation.path)})]
    if label == "POST /api/process/drafts" and "draft_body" in known:
        return [case(body=known["draft_body"], media_type="application/json")]
    if label == "POST /api/process/drafts/{draft_id}/publish" and "draft_id" in known:
        return [case(path_parameters={"draft_id": known["draft_id"][0]}, body={"note": "Fuzzed"},
                     media_type="application/json")]
    ids = [{name: value} for name in ("case_id", "task_id", "token", "draft_id") if f"{{{name}}}" in operation.path
           for value in known.get(name, ())]
    if label == "POST /api/cases":
        return [case(body=OPENABLE, media_type="application/json")]
    if label == "POST /api/cases/{case_id}/messages/{name}":
        return [case(path_parameters={**one, "name": name}) for one in ids for name in ("safety_concern", "appeal")]
    if label == "POST /api/tasks/{task_id}":
        return [case(path_parameters={"task_id": known["call_task"]}, body={"data": CALL_DATA},
                     media_type="application/json")]
    if label == "POST /api/reporter/{token}":
        return [case(path_parameters=one, body={"data": ACCOUNT}, media_type="application/json") for one in ids]
    return [case(path_parameters=one) for one in ids]


def _assign(case, **values):
    # assigned, not changed in place: schemathesis then checks again whether the case is still a negative one
    for name, value in values.items():
        setattr(case, name, value)
    return case


def _load(app, known, max_examples, generate_credentials, seen):
    """The app's document as schemathesis loads it, with the seeded ids in explicit and generated requests."""
    loaded = schemathesis.openapi.from_wsgi("/api/openapi.json", app,
                                            config=_config(max_examples, generate_credentials))

    @loaded.hook
    def before_add_examples(context, examples):
        examples.extend(_examples(context.operation, known))

    @loaded.hook
    def flatmap_case(context, case):
        names = [name for name in case.path_parameters if name in known]
        if not names:
            return st.just(case)
        ids = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names})
        seeded_ids = ids.map(lambda chosen: _assign(case, path_parameters={**case.path_parameters, **chosen}))
        return st.one_of(st.just(case), seeded_ids, seeded_ids)  # two in three: random ids mostly meet a 404

    @loaded.hook
    def after_call(context, case, response):
        if 200 <= response.status_code < 300:
            seen.add(case.operation.label)

    return loaded


@pytest.fixture
def role(request):
    """The role of this run (parametrized indirectly: schemathesis's tests take no parameters of their own)."""
    return request.param


@pytest.fixture
def token(api, role):
    """A valid bearer token of the staff member holding the role."""
    return api(USERS[role]).headers["Authorization"]


@pytest.fixture
def staff_schema(app, api, seeded, role):
    """The document for one role's run; afterwards, the run must have reached the role's successful answers."""
    seen = set()
    known = dict(seeded)
    if role == "policy":  # a valid draft to read and publish, and the body of another
        text = api("pol").get(f"/api/process/versions/{seeded['version'][0]}/files/{DIAGRAM}").get_json()["text"]
        body = {"files": {DIAGRAM: text.replace('name="Assess safety"', 'name="Check everyone is safe"')}}
        draft = api("pol").post("/api/process/drafts", json=body).get_json()
        assert draft["status"] == "valid", draft["errors"]
        known.update(draft_id=[draft["id"]], draft_body=body)
    yield _load(app, known, 15, False, seen)
    missing = REACHED[role] - seen
    assert not missing, f"the {role} run never got a 2xx from {sorted(missing)}"


@pytest.fixture
def anonymous_schema(app, seeded):
    """The document for the run without credentials: generated bearer tokens, and no real reporter link."""
    return _load(app, {**seeded, "token": ["not-a-reporter-link"]}, 10, True, set())


staff = schemathesis.pytest.from_fixture("staff_schema").exclude(path="/api/tokens")
anonymous = schemathesis.pytest.from_fixture("anonymous_schema")


@staff.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.parametrize(("role", "database_url"), ROLE_RUNS, indirect=True)
def test_every_role_gets_documented_answers_and_no_server_error(case, token, role, seeded):
    checks = CHECKS + [ignored_auth]
    if role == "onsite_staff":
        checks.append(hidden_from_excluded_staff(seeded["hidden"]))
    case.call_and_validate(headers={"Authorization": token}, checks=checks)


def hidden_from_excluded_staff(hidden):
    """A check for olga's run: the case whose reporter excluded her answers as if it did not exist."""
    def check(ctx, response, case):
        params = case.path_parameters or {}
        if str(params.get("case_id")) == str(hidden["case_id"]) or params.get("task_id") in hidden["task_ids"]:
            # 422 and 413 come from the body or a header, refused before the case is looked up
            assert response.status_code in (404, 413, 422), (
                f"{case.operation.label} answered {response.status_code} to staff the reporter excluded")
        return True
    check.__name__ = "hidden_from_excluded_staff"  # the name a failure report shows
    return check


def refused_without_credentials(routes):
    """A check: without valid credentials only the public operations answer; a reporter link must be real."""
    def check(ctx, response, case):
        label, status = case.operation.label, response.status_code
        path = unquote(urlparse(response.request.url).path)
        if status == 404 and not _routed(routes, path, case.method):
            return True  # an invalid path parameter that no route takes: the router's 404
        if label == "POST /api/tokens":
            assert status != 201, "a token was issued for made-up credentials"
        elif label in REPORTER_LINK:
            assert status in (404, 422), f"{label} answered {status} to a made-up reporter link"
        elif label not in PUBLIC:
            assert status == 401, f"{label} answered {status} without valid credentials"
        return True
    check.__name__ = "refused_without_credentials"  # the name a failure report shows
    return check


def _routed(routes, path, method) -> bool:
    try:
        routes.match(path, method)
    except HTTPException:
        return False
    return True


@anonymous.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_without_valid_credentials_only_public_operations_answer(case, app):
    checks = CHECKS + [refused_without_credentials(app.url_map.bind("localhost"))]
    case.call_and_validate(checks=checks)  # with the made-up bearer token generated, if any
    headers = case.headers or {}
    if any(name.lower() == "authorization" for name in headers):
        case.headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        case.call_and_validate(checks=checks)  # and with none at all
