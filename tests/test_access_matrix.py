"""The whole access matrix: each role x each page and API endpoint x own event / other event / excluded / anonymous.

Any answer that differs from the table fails, so an allow nobody intended cannot slip in.
"""
import re

from tests.conftest import PASSWORD

ROLES = ("onsite_staff", "incident_team", "organizer", "auditor", "policy")
SCENES = ("own", "other", "excluded")
INTAKE = {"event_name": "HackAPI", "event_format": "in_person", "region": "europe", "opened_by_role": "onsite_staff",
          "reporter_anonymous": True}
ENDPOINTS = ("api case", "api history", "api task", "api complete", "api message", "inbox", "page case",
             "page task", "api move", "api replay", "page timeline", "page diagram", "page complete", "page message")

ALLOW_ALL = {"api case": 200, "api history": 200, "page case": 200}
AUDIT = {"api replay": 200, "page timeline": 200, "page diagram": 200}  # auditors and the team only
NO_AUDIT = {e: 403 for e in AUDIT}
EXPECTED = {
    ("onsite_staff", "own"): {**ALLOW_ALL, **NO_AUDIT, "api task": 200, "api complete": 422, "api message": 201,
                              "inbox": True, "page task": 200, "page complete": 422, "page message": 302},
    ("incident_team", "own"): {**ALLOW_ALL, **AUDIT, "api task": 403, "api complete": 403, "api message": 201,
                               "inbox": False, "page task": 403, "page complete": 403, "page message": 302},
    ("organizer", "own"): {**ALLOW_ALL, **NO_AUDIT, "api task": 403, "api complete": 403, "api message": 201,
                           "inbox": False, "page task": 403, "page complete": 403, "page message": 302},
    ("auditor", "own"): {**ALLOW_ALL, **AUDIT, "api task": 403, "api complete": 403, "api message": 403,
                         "inbox": False, "page task": 403, "page complete": 403, "page message": 403},
}
for seen in EXPECTED.values():
    seen["api move"] = 403  # moving a case to another process version is for policy staff only
DENY = {e: 404 for e in ENDPOINTS} | {"inbox": False}
FORBID = {e: 403 for e in ENDPOINTS} | {"inbox": False}
# policy staff see no case data, but may try to move any case they are not excluded from: moving it to
# the version it already runs on is refused (409), which shows the access check let them through
EXPECTED[("policy", "own")] = FORBID | {"api move": 409}
for role in ROLES:
    EXPECTED[(role, "excluded")] = DENY  # named by the reporter: the case does not seem to exist
    EXPECTED[(role, "other")] = DENY if role in ("onsite_staff", "organizer") else EXPECTED[(role, "own")]
EXPECTED[("anonymous", "-")] = {e: 401 for e in ENDPOINTS if e.startswith("api")} | {
    "inbox": False, "page case": 302, "page task": 302, "page timeline": 302, "page diagram": 302,
    "page complete": 302, "page message": 302}


def login(client, username):
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": csrf}).status_code == 302


def csrf(client):
    """The session's CSRF token (made here for a visitor who has none), so a POST reaches the access check."""
    with client.session_transaction() as session:
        session.setdefault("csrf", "matrix-csrf-token")
        return session["csrf"]


def answers(app, api, username, case_id, task_id, version):
    if username is None:
        headers, client = {}, app.test_client()
    else:
        headers, client = api(username).headers, app.test_client()
        login(client, username)
    token = csrf(client)
    out = {
        "page complete": client.post(f"/tasks/{task_id}", data={"csrf_token": token}).status_code,
        "page message": client.post(f"/cases/{case_id}/messages/attendee_distressed",
                                    data={"csrf_token": token}).status_code,
        "api case": client.get(f"/api/cases/{case_id}", headers=headers).status_code,
        "api history": client.get(f"/api/cases/{case_id}/history", headers=headers).status_code,
        "api task": client.get(f"/api/tasks/{task_id}", headers=headers).status_code,
        "api complete": client.post(f"/api/tasks/{task_id}", json={"data": {}}, headers=headers).status_code,
        "api message": client.post(f"/api/cases/{case_id}/messages/attendee_distressed", json={},
                                   headers=headers).status_code,
        "page case": client.get(f"/cases/{case_id}").status_code,
        "page task": client.get(f"/tasks/{task_id}").status_code,
        "api move": client.post(f"/api/cases/{case_id}/move", json={"version": version}, headers=headers).status_code,
        "api replay": client.get(f"/api/cases/{case_id}/replay?step=1", headers=headers).status_code,
        "page timeline": client.get(f"/cases/{case_id}/timeline").status_code,
        "page diagram": client.get(f"/cases/{case_id}/diagram/steps").status_code,
    }
    tasks = client.get("/api/tasks", headers=headers)
    out["inbox"] = tasks.status_code == 200 and any(t["id"] == task_id for t in tasks.get_json())
    return out


def test_every_role_and_situation_gets_exactly_the_expected_answer(app, api, make_user, staff):
    users = {}
    for role in ROLES:
        for scene in SCENES:
            name = f"{role.replace('_', '')}-{scene}"
            make_user(name, role, events=("OtherHack",) if scene == "other" else ("HackAPI",))
            users[(role, scene)] = name
    excluded = [name for (role, scene), name in users.items() if scene == "excluded"]
    reply = api("olga").post("/api/cases", json={**INTAKE, "excluded_staff": excluded})
    assert reply.status_code == 201, reply.get_json()
    case = reply.get_json()
    case_id, task_id = case["id"], case["tasks"][0]["id"]
    mismatches = []
    for (role, scene), name in [*users.items(), (("anonymous", "-"), None)]:
        got = answers(app, api, name, case_id, task_id, case["process_version"])
        for endpoint, expected in EXPECTED[(role, scene)].items():
            if got[endpoint] != expected:
                mismatches.append(f"{role}/{scene} {endpoint}: expected {expected}, got {got[endpoint]}")
    assert mismatches == []


PROCESS_EXPECTED = {  # the process pages and API, and the notifications page: no case data in them
    "onsite_staff": {"policy page": 403, "api versions": 403, "outbox page": 200},
    "organizer": {"policy page": 403, "api versions": 403, "outbox page": 200},
    "incident_team": {"policy page": 200, "api versions": 200, "outbox page": 200},
    "auditor": {"policy page": 200, "api versions": 200, "outbox page": 200},
    "policy": {"policy page": 200, "api versions": 200, "outbox page": 200},
    "anonymous": {"policy page": 302, "api versions": 401, "outbox page": 302},
}


def test_every_role_gets_exactly_the_expected_answer_from_the_process_and_notification_pages(app, api, staff):
    users = {"onsite_staff": "olga", "organizer": "orla", "incident_team": "tom", "auditor": "audrey",
             "policy": "pol", "anonymous": None}
    mismatches = []
    for role, name in users.items():
        client = app.test_client()
        headers = {}
        if name:
            login(client, name)
            headers = api(name).headers
        got = {"policy page": client.get("/policy/").status_code,
               "api versions": client.get("/api/process/versions", headers=headers).status_code,
               "outbox page": client.get("/outbox").status_code}
        mismatches += [f"{role} {k}: expected {v}, got {got[k]}" for k, v in PROCESS_EXPECTED[role].items()
                       if got[k] != v]
    assert mismatches == []
