"""The web hardening and redaction details, each checked so that removing it fails a test."""
import logging
import re
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from engine.config import ROOT
from engine.identities import identifying_words
from engine.instructions import render_instructions
from engine.models import LoginFailure, utcnow
from tests.conftest import PASSWORD
from tests.test_api import do, open_case, task_of, to_report_sent


def login(client, username="olga"):
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf})


def test_login_starts_a_new_session_and_nothing_from_before_carries_over(client, staff):
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
        before = session["csrf"]
    assert login(client).status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session and session.get("csrf") != before and session["user"] == "olga"


def test_an_idle_session_expires(client, staff, system):
    login(client)
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        session["seen"] = int(time.time()) - system.settings.session_idle_minutes * 60 - 5
    reply = client.get("/")
    assert reply.status_code == 302 and "/login" in reply.headers["Location"]


def test_the_session_cookie_is_secure_when_served_over_https(system, staff):
    from dataclasses import replace

    from web import create_app
    app = create_app({"TESTING": True, "SETTINGS": replace(system.settings, secure_cookies=True), "INCIDENTS": system})
    reply = login(app.test_client())
    cookie = reply.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_case_pages_are_not_cached_and_the_csp_allows_no_inline_code(client, api):
    cid = open_case(api)["id"]
    login(client)
    page = client.get(f"/cases/{cid}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe" not in csp
    assert "frame-ancestors 'none'" in csp


def test_failed_logins_older_than_the_window_do_not_count(client, staff, system):
    for _ in range(5):
        client.post("/api/tokens", json={"username": "olga", "password": "wrong"})
    with system.writing() as uow:
        uow.session.execute(update(LoginFailure).values(at=utcnow() - timedelta(minutes=16)))
        uow.commit()
    assert client.post("/api/tokens", json={"username": "olga", "password": PASSWORD}).status_code == 201


def test_instructions_cannot_reach_python_internals():
    assert render_instructions("{{ ''.__class__.__mro__[1].__subclasses__() }}", {}) == \
        "{{ ''.__class__.__mro__[1].__subclasses__() }}"  # refused by the sandbox: shown unrendered
    assert render_instructions("Call {{ name }}", {"name": "Tess"}) == "Call Tess"


def test_organizers_see_nested_records_redacted(api):
    cid = to_report_sent(api, harasser_identification="Mal Lory")
    do(api, "tom", cid, "review_report", policy_assessment="Serious")
    do(api, "orla", cid, "add_organizer_view", organizer_view="V")
    do(api, "tom", cid, "decide_action", action="permanent_ban", rationale="R", decided_with="Olga")
    do(api, "olga", cid, "meet_harasser", report_summarized=True, decision_notified=True, harasser_disputes=False)
    do(api, "tom", cid, "send_written_notice", notice_sent_at="2026-11-24T12:00", reason_shared_with_organizers=False)
    do(api, "orla", cid, "acknowledge_sanction", sanction_acknowledged=True)
    do(api, "olga", cid, "inform_aware_people", informed_people=["Kim"], no_details_shared=True,
       message_text="Action was taken.")
    do(api, "tom", cid, "decide_announcement", announcement_needed=False)
    do(api, "tom", cid, "close_case", closing_summary="Done")
    assert api("tom").post(f"/api/cases/{cid}/messages/appeal", json={"note": "Rae Porter lied"}).status_code == 201
    seen = api("orla").get(f"/api/cases/{cid}").get_json()["data"]
    assert "Rae Porter" not in str(seen) and seen["appeal"]["note"] == "[redacted]"
    assert api("tom").get(f"/api/cases/{cid}").get_json()["data"]["appeal"]["note"] == "Rae Porter lied"


def test_a_reporter_task_does_not_reveal_itself_to_who_may_not_see_the_case(api, make_user):
    make_user("otto", "onsite_staff", events=("OtherHack",))
    make_user("xena", "onsite_staff")
    cid = open_case(api, excluded_staff=["xena"])["id"]
    do(api, "olga", cid, "call_incident_team", team_member_contacted="T", called_at="2026-11-24T10:00")
    do(api, "olga", cid, "assess_safety", general_threat=False)
    do(api, "olga", cid, "ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    do(api, "olga", cid, "support_victim", offered_private_place=True, explained_role_and_asked=True,
       gave_emergency_contacts=True)
    case = do(api, "olga", cid, "choose_account_writer", written_by="reporter")
    [reporter_task] = [t["id"] for t in case["tasks"] if t["task"] == "write_account"]
    for user in ("otto", "xena"):
        assert api(user).get(f"/api/tasks/{reporter_task}").status_code == 404
        assert api(user).post(f"/api/tasks/{reporter_task}", json={"data": {}}).status_code == 404
    assert api("pol").get(f"/api/tasks/{reporter_task}").status_code == 403
    assert api("olga").get(f"/api/tasks/{reporter_task}").status_code == 403  # the reporter's own link only


@pytest.mark.parametrize("text, found", [
    ("We spoke with Mal's team.", ["Mal"]),
    ("kim-lee was told.", ["kim", "lee"]),
    ("The guy in the red hoodie was asked to leave.", []),
    ("We told porter about it.", ["porter"]),
])
def test_public_texts_catch_possessives_hyphens_and_lower_case_but_not_common_words(text, found):
    case = {"harasser_identification": "The guy in the red hoodie, Mal Lory", "reporter_name": "Rae Porter",
            "others_aware": ["Kim-Lee"], "informed_people": ["Sam"]}
    assert identifying_words(text, case) == found


def test_no_log_record_carries_case_data(api, caplog):
    caplog.set_level(logging.DEBUG)
    cid = to_report_sent(api, harasser_identification="Zebulon Quixote", behavior="Said vile things")
    do(api, "tom", cid, "review_report", policy_assessment="Zebulon broke the policy")
    assert caplog.records
    for record in caplog.records:
        assert "Zebulon" not in str(vars(record)), record.name
    assert task_of(api, "orla", cid, "add_organizer_view")


def test_passwords_are_hashed_with_argon2id_at_the_recommended_cost():
    # in a fresh interpreter: the tests themselves hash with the smallest cost (conftest.quick_password_hashes)
    code = ("from engine import users; print(users._HASHER.hash('x')); "
            "print(users._HASHER.verify(users._DUMMY_HASH, 'not a real password'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    hashed, dummy_ok = out.stdout.split()
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and dummy_ok == "True", out.stderr
