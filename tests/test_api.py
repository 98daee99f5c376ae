"""The JSON API end to end on the real diagrams: shapes, the longest path, and every refusal."""
import pytest

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

INTAKE = {"event_name": "HackAPI", "event_format": "in_person", "region": "canada",
          "opened_by_role": "onsite_staff", "reporter_anonymous": False, "reporter_name": "Rae Porter",
          "excluded_staff": []}


CALL_DATA = {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}


def open_case(api, user="olga", **overrides):
    reply = api(user).post("/api/cases", json={**INTAKE, **overrides})
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def task_of(api, user, case_id, task):
    """The id of the ready task `task` of the case, as the user's task list shows it."""
    reply = api(user).get("/api/tasks")
    assert reply.status_code == 200
    ids = [t["id"] for t in reply.get_json() if t["case_id"] == case_id and t["task"] == task]
    assert ids, f"{task} not in {user}'s tasks: {[t['task'] for t in reply.get_json()]}"
    return ids[0]


def do(api, user, case_id, task, **data):
    reply = api(user).post(f"/api/tasks/{task_of(api, user, case_id, task)}", json={"data": data})
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def to_report_sent(api, **account):
    """Open a case and take it through the safety gate and a transcribed report; returns the case id."""
    cid = open_case(api)["id"]
    do(api, "olga", cid, "call_incident_team", team_member_contacted="Tess", called_at="2026-11-24T10:00")
    do(api, "olga", cid, "assess_safety", general_threat=False)
    do(api, "olga", cid, "ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    do(api, "olga", cid, "support_victim", offered_private_place=True, explained_role_and_asked=True,
       gave_emergency_contacts=True)
    do(api, "olga", cid, "choose_account_writer", written_by="staff_transcription")
    do(api, "olga", cid, "transcribe_account", **{"behavior": "B", "approximate_time": "22:00", **account})
    do(api, "olga", cid, "send_report", report_reviewed=True)
    return cid


def history(api, case_id, user="olga"):
    reply = api(user).get(f"/api/cases/{case_id}/history")
    assert reply.status_code == 200
    return reply.get_json()


def test_token_needs_the_right_password(client, staff):
    assert client.post("/api/tokens", json={"username": "olga", "password": "wrong"}).status_code == 401
    assert client.post("/api/tokens", json={"username": "nobody", "password": "x"}).status_code == 401
    reply = client.post("/api/tokens", json={"username": "olga", "password": "correct horse battery"})
    assert reply.status_code == 201 and len(reply.get_json()["token"]) >= 40


def test_every_endpoint_refuses_requests_without_a_valid_token(client, staff):
    for method, url in [("get", "/api/tasks"), ("get", "/api/cases/1"), ("post", "/api/cases"),
                        ("get", "/api/tasks/x"), ("post", "/api/tasks/x"), ("get", "/api/cases/1/history"),
                        ("post", "/api/cases/1/messages/safety_concern")]:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
            reply = getattr(client, method)(url, headers=headers, json={})
            assert reply.status_code == 401, (method, url, headers)


def test_opening_a_case_returns_the_case_shape(api):
    case = open_case(api)
    assert set(case) == {"id", "status", "process_version", "data", "tasks", "reporter_link", "event_name",
                         "created_at"}
    assert case["status"] == "open" and len(case["process_version"]) == 64
    assert case["data"]["reporting_phone"] == "+1 343 453 4532"
    assert [t["task"] for t in case["tasks"]] == ["call_incident_team"]
    assert set(case["tasks"][0]) == {"id", "case_id", "task", "title", "role"}
    assert case["reporter_link"] is None
    assert api("olga").get(f"/api/cases/{case['id']}").get_json() == case


def test_task_detail_lists_instructions_and_fields(api):
    case = open_case(api)
    reply = api("olga").get(f"/api/tasks/{case['tasks'][0]['id']}")
    body = reply.get_json()
    assert reply.status_code == 200
    assert body["task"] == "call_incident_team" and "+1 343 453 4532" in body["instructions"]
    assert body["fields"] == [
        {"name": "team_member_contacted", "type": "string", "required": True, "choices": None,
         "label": "Team member you spoke to"},
        {"name": "called_at", "type": "datetime", "required": True, "choices": None, "label": "When you called"},
    ]


def test_intake_errors_name_each_field(api):
    reply = api("olga").post("/api/cases", json={"event_name": "", "region": "mars", "colour": "red"})
    errors = reply.get_json()["errors"]
    assert reply.status_code == 422
    assert set(errors) == {"event_name", "region", "colour", "event_format", "reporter_anonymous"}
    assert errors["colour"] == ["Unknown field."]


def test_anonymous_reporter_name_is_refused(api):
    reply = api("olga").post("/api/cases", json={**INTAKE, "reporter_anonymous": True})
    assert reply.status_code == 422
    assert reply.get_json()["errors"]["reporter_name"] == ["An anonymous reporter's name is not recorded: leave this empty."]


def test_auditor_and_policy_cannot_open_cases(api):
    for user in ("audrey", "pol"):
        assert api(user).post("/api/cases", json=INTAKE).status_code == 403


def test_wrong_role_gets_403_and_history_is_unchanged(api):
    case = open_case(api)
    before = history(api, case["id"])
    reply = api("orla").post(f"/api/tasks/{case['tasks'][0]['id']}",
                             json={"data": {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}})
    assert reply.status_code == 403
    assert reply.get_json() == {"error": "this task is for the role 'onsite_staff', which you do not hold"}
    assert history(api, case["id"]) == before
    assert api("olga").get(f"/api/cases/{case['id']}").get_json()["tasks"] == case["tasks"]


def test_unknown_field_gets_422_and_history_is_unchanged(api):
    case = open_case(api)
    before = history(api, case["id"])
    reply = api("olga").post(f"/api/tasks/{case['tasks'][0]['id']}", json={"data": {
        "team_member_contacted": "T", "called_at": "2026-11-24T10:00", "penalty": "ban them"}})
    assert reply.status_code == 422
    assert reply.get_json() == {"errors": {"penalty": ["Unknown field."]}}
    assert history(api, case["id"]) == before


def test_missing_required_field_gets_422_and_history_is_unchanged(api):
    case = open_case(api)
    before = history(api, case["id"])
    reply = api("olga").post(f"/api/tasks/{case['tasks'][0]['id']}", json={"data": {"team_member_contacted": "T"}})
    assert reply.status_code == 422
    assert reply.get_json() == {"errors": {"called_at": ["Missing data for required field."]}}
    assert history(api, case["id"]) == before


def test_completing_a_task_twice_gets_409_and_one_event(api):
    case = open_case(api)
    url = f"/api/tasks/{case['tasks'][0]['id']}"
    data = {"data": {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}}
    assert api("olga").post(url, json=data).status_code == 200
    after = history(api, case["id"])
    reply = api("olga").post(url, json=data)
    assert reply.status_code == 409
    assert reply.get_json() == {"error": "this task was already completed"}
    assert history(api, case["id"]) == after
    assert [e["task"] for e in after] == [None, "call_incident_team"]


def test_unknown_task_and_case_get_404(api):
    open_case(api)
    assert api("olga").post("/api/tasks/00000000-0000-0000-0000-000000000000", json={"data": {}}).status_code == 404
    assert api("olga").get("/api/tasks/not-a-uuid").status_code == 404
    assert api("olga").get("/api/cases/999").status_code == 404
    assert api("olga").get("/api/cases/999/history").status_code == 404
    for too_big in (2**31, 2**63, 10**30):  # beyond the id column: once a 500 (OverflowError on SQLite)
        assert api("olga").get(f"/api/cases/{too_big}").status_code == 404
        assert api("olga").post(f"/api/cases/{too_big}/messages/safety_concern").status_code == 404


def test_nul_characters_are_refused_instead_of_reaching_the_database(api, client):
    """PostgreSQL text refuses NUL; each of these was a 500 there before (found by fuzzing on PostgreSQL)."""
    user = api("olga")
    case = open_case(api)
    assert user.get("/api/tasks/a%00b").status_code == 404
    assert user.post("/api/tasks/a%00b", json={"data": {}}).status_code == 404
    assert client.get("/api/reporter/a%00b").status_code == 404
    assert client.post("/api/tokens", json={"username": "ol\u0000ga", "password": "x"}).status_code == 401
    for intake in ({"event_name": "Hack\u0000API"}, {"excluded_staff": ["a\u0000"]}, {"reporter_name": "R\u0000"}):
        reply = user.post("/api/cases", json={**INTAKE, **intake})
        assert reply.status_code == 422 and reply.get_json()["errors"] == {
            next(iter(intake)) + (".0" if "excluded_staff" in intake else ""):
            ["Remove the NUL character (\\u0000): it cannot be stored."]}
    reply = user.post(f"/api/tasks/{case['tasks'][0]['id']}",
                      json={"data": {**CALL_DATA, "team_member_contacted": "\u0000"}})
    assert reply.status_code == 422 and set(reply.get_json()["errors"]) == {"team_member_contacted"}
    keyed = user.client.post("/api/cases", json=INTAKE, headers={**user.headers, "Idempotency-Key": "a\u0000"})
    assert keyed.status_code == 422 and "Idempotency-Key" in keyed.get_json()["errors"]
    assert [t["case_id"] for t in user.get("/api/tasks").get_json()] == [case["id"]]  # no case was opened


def test_typename_keys_are_refused_before_they_reach_the_engine(api):
    case = open_case(api)
    reply = api("olga").post(f"/api/tasks/{case['tasks'][0]['id']}", json={"data": {
        "team_member_contacted": "T", "called_at": "2026-11-24T10:00", "typename": "BpmnWorkflow"}})
    assert reply.status_code == 422 and "typename" in reply.get_json()["errors"]


def test_conditional_rules_are_enforced_on_the_server(api):
    case = open_case(api)
    do(api, "olga", case["id"], "call_incident_team", team_member_contacted="T", called_at="2026-11-24T10:00")
    do(api, "olga", case["id"], "assess_safety", general_threat=False)
    do(api, "olga", case["id"], "ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    task = task_of(api, "olga", case["id"], "support_victim")
    reply = api("olga").post(f"/api/tasks/{task}", json={"data": {
        "offered_private_place": True, "explained_role_and_asked": False, "gave_emergency_contacts": True}})
    assert reply.status_code == 422
    assert reply.get_json()["errors"] == {"explained_role_and_asked": ["This must be done before you can continue."]}


def test_excluded_staff_get_404_and_do_not_see_the_task(api, make_user):
    make_user("ed", "onsite_staff")
    case = open_case(api, excluded_staff=["ed"])
    assert api("ed").get(f"/api/cases/{case['id']}").status_code == 404
    assert api("ed").get("/api/tasks").get_json() == []
    assert api("ed").post(f"/api/tasks/{case['tasks'][0]['id']}", json={"data": {}}).status_code == 404


def test_excluding_yourself_or_an_unknown_account_is_refused(api):
    reply = api("olga").post("/api/cases", json={**INTAKE, "excluded_staff": ["olga", "nobody"]})
    assert reply.status_code == 422
    assert reply.get_json()["errors"]["excluded_staff"] == [
        "You cannot exclude yourself from a case you open; ask a colleague to open it.",
        "No staff account named: nobody."]


def test_parallel_tasks_completed_at_the_same_moment_both_succeed(api):
    import threading
    cid = to_report_sent(api, harasser_identification="M")
    review, view = task_of(api, "tom", cid, "review_report"), task_of(api, "orla", cid, "add_organizer_view")
    tom, orla = api("tom"), api("orla")
    replies = {}
    threads = [threading.Thread(target=lambda: replies.__setitem__("review", tom.post(
                   f"/api/tasks/{review}", json={"data": {"policy_assessment": "A"}}).status_code)),
               threading.Thread(target=lambda: replies.__setitem__("view", orla.post(
                   f"/api/tasks/{view}", json={"data": {"organizer_view": "V"}}).status_code))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert replies == {"review": 200, "view": 200}
    assert [t["task"] for t in api("tom").get(f"/api/cases/{cid}").get_json()["tasks"]] == ["decide_action"]


def test_messages_are_refused_for_unknown_names_wrong_roles_and_closed_cases(api):
    case = open_case(api)
    assert api("olga").post(f"/api/cases/{case['id']}/messages/fire_alarm").status_code == 404
    assert api("audrey").post(f"/api/cases/{case['id']}/messages/safety_concern").status_code == 403
    assert api("tom").post(f"/api/cases/{case['id']}/messages/appeal").status_code == 409
    user = api("olga")
    for body in ("null", "not json", "[]"):  # once taken as "no note" and accepted (found by schemathesis)
        reply = user.client.post(f"/api/cases/{case['id']}/messages/safety_concern", data=body,
                                 headers={**user.headers, "Content-Type": "application/json"})
        assert reply.status_code == 422 and "_schema" in reply.get_json()["errors"], body
    assert [e["type"] for e in history(api, case["id"])] == ["case_started"]


def test_the_longest_path_runs_through_the_api(api, client):
    """Organizer view, reporter link, a revised decision, a sent-back announcement, distress, safety and appeal."""
    case = open_case(api)
    cid = case["id"]
    do(api, "olga", cid, "call_incident_team", team_member_contacted="Tess", called_at="2026-11-24T10:00")
    do(api, "olga", cid, "assess_safety", general_threat=False)
    do(api, "olga", cid, "ask_victim_law_enforcement", victim_requests_law_enforcement=True)
    do(api, "olga", cid, "involve_law_enforcement", involved="security", involved_at="2026-11-24T10:10")
    do(api, "olga", cid, "support_victim", offered_private_place=True, explained_role_and_asked=True,
       gave_emergency_contacts=True)
    case = do(api, "olga", cid, "choose_account_writer", written_by="reporter")
    link = case["reporter_link"]
    assert link is not None and "/r/" in link
    assert api("olga").get(f"/api/cases/{cid}").get_json()["reporter_link"] == link
    assert api("orla").get(f"/api/cases/{cid}").get_json()["reporter_link"] is None
    token = link.rsplit("/r/", 1)[1]
    assert len(token) >= 43  # 32 random bytes
    reporter_task = client.get(f"/api/reporter/{token}").get_json()
    assert reporter_task["task"] == "write_account"
    names = {f["name"] for f in reporter_task["fields"]}
    assert not any(word in name for name in names for word in ("penalt", "withdraw", "sanction"))
    reply = client.post(f"/api/reporter/{token}", json={"data": {"behavior": "x", "penalty": "ban"}})
    assert reply.status_code == 422 and set(reply.get_json()["errors"]) == {
        "penalty", "harasser_identification", "approximate_time"}
    assert client.post(f"/api/reporter/{token}", json={"data": {
        "harasser_identification": "Mal Lory, team 7", "behavior": "Unwanted comments",
        "approximate_time": "Saturday 22:00", "others_involved": ["Sam"], "others_aware": ["Kim", "Lee"]}}
    ).status_code == 200
    assert client.get(f"/api/reporter/{token}").status_code == 404
    assert client.post(f"/api/reporter/{token}", json={"data": {}}).status_code == 404
    assert api("olga").get(f"/api/cases/{cid}").get_json()["reporter_link"] is None

    do(api, "olga", cid, "send_report", report_reviewed=True)
    assert api("olga").post(f"/api/cases/{cid}/messages/safety_concern", json={"note": "raised voices"}).status_code == 201
    do(api, "olga", cid, "summon_security_now", summoned="security", summoned_at="2026-11-24T11:00")
    for round_ in (1, 2):
        do(api, "tom", cid, "review_report", policy_assessment=f"assessment {round_}")
        do(api, "orla", cid, "add_organizer_view", organizer_view=f"view {round_}")
        do(api, "tom", cid, "decide_action", action="temporary_suspension",
           suspension_length=f"{round_} events", rationale="r", decided_with="Olga")
        if round_ == 1:
            do(api, "olga", cid, "meet_harasser", report_summarized=True, decision_notified=True,
               harasser_disputes=True, harasser_account="It was a joke")
            do(api, "olga", cid, "reconsider_decision", decision_revised=True, reconsider_reason="new facts")
        else:
            do(api, "olga", cid, "meet_harasser", report_summarized=True, decision_notified=True,
               harasser_disputes=False)
    assert api("olga").post(f"/api/cases/{cid}/messages/attendee_distressed").status_code == 201
    assert api("orla").post(f"/api/cases/{cid}/messages/attendee_distressed", json={}).status_code == 201
    do(api, "tom", cid, "send_written_notice", notice_sent_at="2026-11-24T12:00", reason_shared_with_organizers=False)
    do(api, "orla", cid, "acknowledge_sanction", sanction_acknowledged=True)
    do(api, "olga", cid, "inform_aware_people", informed_people=["Kim", "Lee"], no_details_shared=True,
       message_text="It was against our policy and action was taken.")
    do(api, "tom", cid, "decide_announcement", announcement_needed=True, announcer="organizer")
    do(api, "orla", cid, "draft_announcement", announcement_text="Draft one", announcement_timing="closing")
    do(api, "tom", cid, "approve_wording", wording_approved=False, wording_feedback="Shorter")
    do(api, "orla", cid, "draft_announcement", announcement_text="Action was taken.", announcement_timing="closing")
    do(api, "tom", cid, "approve_wording", wording_approved=True)
    do(api, "orla", cid, "deliver_announcement", delivered_at="2026-11-24T18:00")
    for _ in range(2):
        do(api, "olga", cid, "respond_to_distress", feelings_acknowledged=True, reassured=True, channels_offered=True)
    case = do(api, "tom", cid, "close_case", closing_summary="Suspended for 2 events.")
    assert case["status"] == "closed" and case["tasks"] == []
    assert api("olga").post(f"/api/cases/{cid}/messages/safety_concern").status_code == 409
    assert api("tom").post(f"/api/cases/{cid}/messages/appeal", json={"note": "[Appeal] email"}).status_code == 201
    case = do(api, "tom", cid, "decide_appeal", appeal_outcome="reduced", appeal_rationale="first offence")

    assert case["status"] == "closed"
    data = case["data"]
    assert data["suspension_length"] == "2 events" and data["decision_round"] == 2
    assert data["wording_approved"] is True and data["appeal_outcome"] == "reduced"
    events = history(api, cid)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    steps = [(e["type"], e["task"], e["actor"], e["role"]) for e in events]
    assert steps[0] == ("case_started", None, "olga", "onsite_staff")
    assert ("task_completed", "write_account", "reporter", "reporter") in steps
    assert [s[1] for s in steps if s[0] == "message_raised"] == [
        "safety_concern", "attendee_distressed", "attendee_distressed", "appeal"]
    decisions = [e["data"]["suspension_length"] for e in events if e["task"] == "decide_action"]
    assert decisions == ["1 events", "2 events"]  # the revised decision keeps the earlier one in the history
    assert [e["task"] for e in events if e["type"] == "task_completed"] == [
        "call_incident_team", "assess_safety", "ask_victim_law_enforcement", "involve_law_enforcement",
        "support_victim", "choose_account_writer", "write_account", "send_report", "summon_security_now",
        "review_report", "add_organizer_view", "decide_action", "meet_harasser", "reconsider_decision",
        "review_report", "add_organizer_view", "decide_action", "meet_harasser", "send_written_notice",
        "acknowledge_sanction", "inform_aware_people", "decide_announcement", "draft_announcement",
        "approve_wording", "draft_announcement", "approve_wording", "deliver_announcement",
        "respond_to_distress", "respond_to_distress", "close_case", "decide_appeal"]
    account = next(e for e in events if e["task"] == "write_account")["data"]
    assert account["others_aware"] == ["Kim", "Lee"]
    assert next(e for e in events if e["task"] == "call_incident_team")["data"]["called_at"] == "2026-11-24T10:00:00"


def test_team_takes_the_staff_role_when_nobody_on_site_is_reached(api):
    case = open_case(api, user="orla", opened_by_role="organizer")
    do(api, "orla", case["id"], "connect_onsite_staff", onsite_staff_reached=False)
    task = task_of(api, "orla", case["id"], "contact_team_now")
    assert "+1 343 453 4532" in api("orla").get(f"/api/tasks/{task}").get_json()["instructions"]
    case = do(api, "orla", case["id"], "contact_team_now", team_member_contacted="Tess", called_at="2026-11-24T10:00")
    assert case["tasks"][0]["task"] == "assess_safety" and case["tasks"][0]["role"] == "incident_team"
    assert api("olga").get("/api/tasks").get_json() == []
    reply = api("olga").post(f"/api/tasks/{case['tasks'][0]['id']}", json={"data": {"general_threat": True}})
    assert reply.status_code == 403
    case = do(api, "tom", case["id"], "assess_safety", general_threat=True)
    assert [t["task"] for t in case["tasks"]] == ["summon_security"]
    assert history(api, case["id"], user="tom")[-1]["role"] == "incident_team"


def test_inbox_lists_newest_case_first_and_only_the_callers_roles(api):
    first = open_case(api)
    second = open_case(api, event_name="Second")
    tasks = api("olga").get("/api/tasks").get_json()
    assert [t["case_id"] for t in tasks] == [second["id"], first["id"]]
    assert api("tom").get("/api/tasks").get_json() == []
    both = api("bea").get("/api/tasks").get_json()
    assert [t["case_id"] for t in both] == [second["id"], first["id"]]


def test_the_inbox_sends_what_the_task_summary_schema_would_dump(api, system, staff):
    from engine import views
    from web.schemas import CaseSchema, TaskSummarySchema, dump_task_summaries, flat_dump

    open_case(api)
    open_case(api, event_name="Second")
    with system.reading() as uow:
        rows = views.list_inbox(uow, staff["onsite"])
    assert rows and all("event_name" in row for row in rows)  # a key the schema does not declare...
    sent = api("olga").get("/api/tasks").get_json()
    assert sent == dump_task_summaries(rows) == TaskSummarySchema(many=True).dump(rows)  # ...is not sent
    assert all(set(task) == {"id", "task", "title", "role", "case_id"} for task in sent)
    with pytest.raises(TypeError, match=r"CaseSchema: flat_dump takes plain string and integer fields, "
                                        r"not \['data', 'tasks'\]"):
        flat_dump(CaseSchema)


@pytest.mark.parametrize("body", [None, [], "text", {"data": {}, "extra": 1}])
def test_malformed_task_bodies_get_422(api, body):
    case = open_case(api)
    reply = api("olga").post(f"/api/tasks/{case['tasks'][0]['id']}", json=body)
    assert reply.status_code == 422


def test_organizers_see_no_reporter_identity_or_statement(api):
    cid = to_report_sent(api, harasser_identification="Mal Lory", behavior="Groped someone",
                         others_aware=["Kim Witness"])
    as_organizer = api("orla").get(f"/api/cases/{cid}").get_json()
    history_text = str(api("orla").get(f"/api/cases/{cid}/history").get_json())
    for secret in ("Rae Porter", "Mal Lory", "Groped someone", "Kim Witness"):
        assert secret not in str(as_organizer) and secret not in history_text
    assert as_organizer["data"]["reporter_name"] == "Reporter A"
    assert as_organizer["data"]["others_aware"] == ["Witness 1"]
    assert as_organizer["data"]["behavior"] == "[redacted]"
    account = next(e for e in api("orla").get(f"/api/cases/{cid}/history").get_json()
                   if e["task"] == "transcribe_account")["data"]
    assert account["others_aware"] == ["Witness 1"] and account["harasser_identification"] == "[redacted]"
    assert "Mal Lory" in str(api("tom").get(f"/api/cases/{cid}").get_json())
    assert "Mal Lory" in str(api("audrey").get(f"/api/cases/{cid}/history").get_json())


def test_a_retry_with_the_same_idempotency_key_gets_the_stored_answer(api):
    case = open_case(api)
    url = f"/api/tasks/{case['tasks'][0]['id']}"
    body = {"data": {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}}
    user = api("olga")
    first = user.client.post(url, json=body, headers={**user.headers, "Idempotency-Key": "k-1"})
    again = user.client.post(url, json=body, headers={**user.headers, "Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    other = user.client.post(url, json={"data": {}}, headers={**user.headers, "Idempotency-Key": "k-1"})
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["errors"]
    plain = user.client.post(url, json=body, headers=user.headers)
    assert plain.status_code == 409
    assert [e["task"] for e in history(api, case["id"])] == [None, "call_incident_team"]
    opened = [user.client.post("/api/cases", json=INTAKE, headers={**user.headers, "Idempotency-Key": "open-1"})
              for _ in range(2)]
    assert opened[0].status_code == opened[1].status_code == 201
    assert opened[0].get_json()["id"] == opened[1].get_json()["id"]


def test_public_texts_that_name_someone_in_the_case_are_refused(api):
    cid = to_report_sent(api, harasser_identification="Mal Lory from team Rocket", behavior="Comments",
                         others_aware=["Kim Witness"])
    do(api, "tom", cid, "review_report", policy_assessment="A")
    do(api, "orla", cid, "add_organizer_view", organizer_view="V")
    do(api, "tom", cid, "decide_action", action="warning", warning_form="verbal", rationale="r", decided_with="Olga")
    do(api, "olga", cid, "meet_harasser", report_summarized=True, decision_notified=True, harasser_disputes=False)
    task = task_of(api, "olga", cid, "inform_aware_people")
    before = history(api, cid)
    reply = api("olga").post(f"/api/tasks/{task}", json={"data": {
        "informed_people": ["Kim Witness"], "no_details_shared": True,
        "message_text": "Mal from team rocket was warned; thanks kim and Rae."}})
    assert reply.status_code == 422
    assert reply.get_json()["errors"] == {"message_text": [
        "This identifies someone involved in the case: kim, Mal, Rae, rocket. Leave out names and details."]}
    assert history(api, cid) == before
    do(api, "olga", cid, "inform_aware_people", informed_people=["Kim Witness"], no_details_shared=True,
       message_text="This was against our Code of Conduct and official action was taken.")
    do(api, "tom", cid, "decide_announcement", announcement_needed=True)
    task = task_of(api, "olga", cid, "deliver_announcement_staff")
    reply = api("olga").post(f"/api/tasks/{task}", json={"data": {
        "announcement_text": "Lory has been removed.", "delivered_at": "2026-11-24T18:00"}})
    assert reply.status_code == 422 and "Lory" in reply.get_json()["errors"]["announcement_text"][0]


def test_auditor_and_incident_team_views_are_recorded_in_the_history(api, system):
    case = open_case(api)
    cid = case["id"]
    assert api("olga").get(f"/api/cases/{cid}").status_code == 200  # on-site staff views are not recorded
    assert api("audrey").get(f"/api/cases/{cid}").status_code == 200
    assert api("audrey").get(f"/api/cases/{cid}/history").status_code == 200
    assert api("tom").get(f"/api/cases/{cid}").status_code == 200
    events = history(api, cid)
    assert [(e["type"], e["actor"], e["role"], e["data"]) for e in events[1:]] == [
        ("case_viewed", "audrey", "auditor", {"viewed": "case"}),
        ("case_viewed", "audrey", "auditor", {"viewed": "history"}),
        ("case_viewed", "tom", "incident_team", {"viewed": "case"})]
    from engine import history as chain
    with system.reading() as uow:
        assert all(report.ok for report in chain.verify_all(uow.session))
    assert api("audrey").post(f"/api/tasks/{case['tasks'][0]['id']}", json={"data": {}}).status_code == 403


def test_idempotency_keys_are_checked_and_the_same_json_in_other_spacing_is_the_same_request(api):
    case = open_case(api)
    user = api("olga")
    url = f"/api/tasks/{case['tasks'][0]['id']}"
    long_key = {**user.headers, "Idempotency-Key": "k" * 201}
    assert user.client.post(url, json={"data": {}}, headers=long_key).status_code == 422
    empty_key = {**user.headers, "Idempotency-Key": ""}  # not taken as "no key": the client thinks it is covered
    reply = user.client.post(url, json={"data": CALL_DATA}, headers=empty_key)
    assert reply.status_code == 422 and "Idempotency-Key" in reply.get_json()["errors"]
    assert [e["type"] for e in history(api, case["id"])] == ["case_started"]
    headers = {**user.headers, "Idempotency-Key": "spacing", "Content-Type": "application/json"}
    first = user.client.post(url, data='{"data": {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}}',
                             headers=headers)
    again = user.client.post(url, data='{"data":{"called_at":"2026-11-24T10:00","team_member_contacted":"T"}}',
                             headers=headers)
    assert first.status_code == again.status_code == 200 and first.get_json() == again.get_json()


def test_organizers_learn_whom_a_notified_ban_concerns_but_not_why(api):
    cid = to_report_sent(api, harasser_identification="Mal Lory")
    do(api, "tom", cid, "review_report", policy_assessment="Serious")
    do(api, "orla", cid, "add_organizer_view", organizer_view="V")
    do(api, "tom", cid, "decide_action", action="permanent_ban", rationale="Repeated groping", decided_with="Olga")
    assert api("orla").get(f"/api/cases/{cid}").get_json()["data"]["harasser_identification"] == "[redacted]"
    do(api, "olga", cid, "meet_harasser", report_summarized=True, decision_notified=True, harasser_disputes=False)
    do(api, "tom", cid, "send_written_notice", notice_sent_at="2026-11-24T12:00", reason_shared_with_organizers=False)
    task = api("orla").get(f"/api/tasks/{task_of(api, 'orla', cid, 'acknowledge_sanction')}").get_json()
    assert "Mal Lory" in task["instructions"] and "permanent ban" in task["instructions"]
    data = api("orla").get(f"/api/cases/{cid}").get_json()["data"]
    assert data["harasser_identification"] == "Mal Lory"
    assert data["rationale"] == "[redacted]" and data["policy_assessment"] == "[redacted]"


def test_no_name_or_account_entered_reaches_the_logs(api, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    cid = to_report_sent(api, harasser_identification="Zebulon Quixote", behavior="Said vile things",
                         others_aware=["Ophelia Witnessly"])
    assert api("olga").post(f"/api/cases/{cid}/messages/safety_concern", json={"note": "Zebulon is back"}
                            ).status_code == 201
    do(api, "tom", cid, "review_report", policy_assessment="Zebulon Quixote broke the policy")
    api("audrey").get(f"/api/cases/{cid}/history")
    bad = api("olga").post(f"/api/tasks/{task_of(api, 'olga', cid, 'summon_security_now')}",
                           json={"data": {"summoned": "Zebulon Quixote"}})
    assert bad.status_code == 422
    assert caplog.records, "nothing was logged at all: the check would prove nothing"
    for secret in ("Rae Porter", "Zebulon", "Quixote", "vile things", "Ophelia"):
        assert secret not in caplog.text


def test_onsite_staff_and_organizers_see_only_their_events_cases(api, make_user):
    make_user("otto", "onsite_staff", events=("OtherHack",))
    make_user("oriel", "organizer", events=("OtherHack",))
    case = open_case(api)
    cid, task = case["id"], case["tasks"][0]["id"]
    for user in ("otto", "oriel"):
        assert api(user).get(f"/api/cases/{cid}").status_code == 404
        assert api(user).get(f"/api/cases/{cid}/history").status_code == 404
        assert api(user).get("/api/tasks").get_json() == []
    assert api("otto").post(f"/api/tasks/{task}", json={"data": CALL_DATA}).status_code == 404
    assert api("otto").post(f"/api/cases/{cid}/messages/safety_concern").status_code == 404
    for user in ("tom", "audrey", "orla", "olga"):
        assert api(user).get(f"/api/cases/{cid}").status_code == 200
    reply = api("otto").post("/api/cases", json=INTAKE)
    assert reply.status_code == 422 and "not assigned to this event" in reply.get_json()["errors"]["event_name"][0]
    assert api("tom").post("/api/cases", json={**INTAKE, "event_name": "AnyHack",
                                               "opened_by_role": "incident_team"}).status_code == 201


def test_when_the_only_onsite_staff_is_excluded_the_team_takes_the_staff_role(api, make_user):
    make_user("solo", "onsite_staff", events=("SoloHack",))
    make_user("orso", "organizer", events=("SoloHack",))
    case = open_case(api, user="orso", event_name="SoloHack", opened_by_role="organizer", excluded_staff=["solo"])
    assert case["data"]["staff_role"] == "incident_team"
    case = do(api, "orso", case["id"], "connect_onsite_staff", onsite_staff_reached=True)
    assert [(t["task"], t["role"]) for t in case["tasks"]] == [("call_incident_team", "incident_team")]
    assert api("solo").get("/api/tasks").get_json() == []
    assert api("solo").get(f"/api/cases/{case['id']}").status_code == 404
    other = open_case(api, user="orso", event_name="SoloHack", opened_by_role="organizer")
    assert other["data"]["staff_role"] == "onsite_staff"
