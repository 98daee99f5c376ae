"""The staff pages and the reporter's private link, through Flask's test client."""
import html
import re

import pytest

from tests.conftest import PASSWORD

INTAKE = {"event_name": "HackPages", "event_format": "digital", "region": "europe",
          "opened_by_role": "onsite_staff", "reporter_anonymous": "true"}


def csrf(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def login(client, username):
    page = client.get("/login")
    reply = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf(page)})
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return reply


def post_form(client, url, data):
    return client.post(url, data={**data, "csrf_token": csrf(client.get(url))})


def open_case(client, intake=INTAKE):
    reply = post_form(client, "/cases/new", intake)
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return int(reply.headers["Location"].rsplit("/", 1)[1])


def first_task(client, case_id, task):
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    match = re.search(r'href="/tasks/([0-9a-f-]+)"><strong>([^<]+)</strong>', page)
    assert match, page
    return match.group(1)


def to_reporter_task(client, case_id):
    """Take a new case through the safety gate to the reporter's own account, on the pages."""
    steps = [("call_incident_team", {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}),
             ("assess_safety", {"general_threat": "false"}),
             ("ask_victim_law_enforcement", {"victim_requests_law_enforcement": "false"}),
             ("support_victim", {"offered_private_place": "true", "explained_role_and_asked": "true",
                                 "gave_emergency_contacts": "true"}),
             ("choose_account_writer", {"written_by": "reporter"})]
    for task, data in steps:
        assert post_form(client, f"/tasks/{first_task(client, case_id, task)}", data).status_code == 302


def test_pages_need_a_login(client):
    for url in ("/", "/cases/new", "/cases/1", "/tasks/abc"):
        reply = client.get(url)
        assert reply.status_code == 302 and "/login" in reply.headers["Location"]


def test_a_wrong_password_is_refused(client, staff):
    page = client.get("/login")
    reply = client.post("/login", data={"username": "olga", "password": "nope", "csrf_token": csrf(page)})
    assert reply.status_code == 401 and "Wrong username or password." in reply.get_data(as_text=True)


def test_login_sets_a_fresh_httponly_lax_session(client, staff):
    client.get("/login")
    before = client.get_cookie("incidents_session").value
    reply = login(client, "olga")
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get_cookie("incidents_session").value != before


def test_a_post_without_the_csrf_token_is_refused(client, staff):
    login(client, "olga")
    reply = client.post("/cases/new", data=INTAKE)
    assert reply.status_code == 400


def test_a_case_is_opened_and_a_task_completed_through_the_pages(client, staff):
    login(client, "olga")
    case_id = open_case(client)
    inbox = client.get("/").get_data(as_text=True)
    assert "Call the Incident Response Team" in inbox and f"Case #{case_id}" in inbox
    task_id = first_task(client, case_id, "call_incident_team")
    page = client.get(f"/tasks/{task_id}")
    assert page.headers["Cache-Control"] == "no-store"
    assert "+44 800 808 5675" in page.get_data(as_text=True)
    reply = post_form(client, f"/tasks/{task_id}", {"team_member_contacted": "Tess", "called_at": "2026-11-24T10:00"})
    assert reply.status_code == 302 and reply.headers["Location"] == f"/cases/{case_id}"
    case = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Assess safety" in case and "task completed: Call the Incident Response Team" in case and "Tess" in case


def test_validation_errors_are_shown_next_to_the_field_and_values_are_kept(client, staff):
    login(client, "olga")
    case_id = open_case(client)
    task_id = first_task(client, case_id, "call_incident_team")
    reply = post_form(client, f"/tasks/{task_id}", {"team_member_contacted": "Tess Kept"})
    page = reply.get_data(as_text=True)
    assert reply.status_code == 422
    field = re.search(r'<div class="field has-error" id="field-called_at">.*?</div>', page, re.S).group(0)
    assert "Missing data for required field." in field
    assert 'value="Tess Kept"' in page


def test_the_reporter_writes_through_the_private_link_once(client, staff):
    login(client, "olga")
    case_id = open_case(client)
    to_reporter_task(client, case_id)
    case_page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    link = re.search(r'value="(http://localhost/r/[^"]+)"', case_page).group(1)
    path = link.replace("http://localhost", "")
    reporter = client.application.test_client()
    page = reporter.get(path)
    assert page.status_code == 200 and "Write your account" in page.get_data(as_text=True)
    reply = reporter.post(path, data={"behavior": "It happened", "csrf_token": csrf(page)})
    assert reply.status_code == 422 and "It happened" in reply.get_data(as_text=True)
    reply = reporter.post(path, data={"harasser_identification": "Mal", "behavior": "It happened",
                                      "approximate_time": "22:00", "others_aware": "Kim\nLee\n",
                                      "csrf_token": csrf(page)})
    assert reply.status_code == 200 and "Thank you" in reply.get_data(as_text=True)
    assert reporter.get(path).status_code == 404
    assert path not in client.get(f"/cases/{case_id}").get_data(as_text=True)


def history_of(page) -> list:
    """The case page's history as people read it: (heading, [(field, value)]) per event, in order."""
    section = re.search(r'<ol class="history">(.*?)</ol>', page.get_data(as_text=True), re.S).group(1)
    events = []
    for item in re.findall(r"<li>(.*?)</li>", section, re.S):
        heading = html.unescape(re.search(r"<strong>(.*?)</strong>", item, re.S).group(1))
        pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", item, re.S)
        events.append((heading, [(html.unescape(k), html.unescape(v)) for k, v in pairs]))
    return events


def write_account(client, case_id, **account):
    """The reporter writes their account through the private link the case page shows on-site staff."""
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    path = re.search(r'value="http://localhost(/r/[^"]+)"', page).group(1)
    reporter = client.application.test_client()
    reply = reporter.post(path, data={**account, "csrf_token": csrf(reporter.get(path))})
    assert reply.status_code == 200, reply.get_data(as_text=True)


def test_the_case_history_shows_task_titles_field_labels_and_yes_or_no(client, staff):
    login(client, "olga")
    case_id = open_case(client)
    to_reporter_task(client, case_id)
    events = history_of(client.get(f"/cases/{case_id}"))
    started, *steps = events
    assert started[0] == "case started"
    assert ("Does the reporter want to stay anonymous?", "yes") in started[1]
    assert ("Staff the reporter does not want involved", "-") in started[1]  # an empty list
    assert [heading for heading, _ in steps] == [
        "task completed: Call the Incident Response Team", "task completed: Assess safety",
        "task completed: Ask the victim about security or law enforcement", "task completed: Support the victim",
        "task completed: Can the reporter write their account?"]
    assert sorted(steps[0][1]) == [("Team member you spoke to", "T"), ("When you called", "2026-11-24T10:00:00")]
    assert steps[1][1] == [("Is there a general threat, or is anyone's safety in doubt?", "no")]
    assert ("I offered the victim a private place to sit", "yes") in steps[3][1]
    shown = " ".join(f"{heading} {field} {value}" for heading, fields in events for field, value in fields)
    for raw in ("True", "False", "None", "call_incident_team", "general_threat", "reporter_anonymous"):
        assert raw not in shown


def test_an_organizer_reads_the_history_with_titles_and_labels_and_nothing_redacted(client, staff):
    login(client, "olga")
    case_id = open_case(client, {**INTAKE, "reporter_anonymous": "false", "reporter_name": "Rhea Quill"})
    to_reporter_task(client, case_id)
    write_account(client, case_id, harasser_identification="Mallory Vance", behavior="Grabbed my badge",
                  approximate_time="22:15", others_aware="Kim Aware\nLee Aware\n")
    client.post("/logout", data={"csrf_token": csrf(client.get("/"))})
    login(client, "orla")
    page = client.get(f"/cases/{case_id}")
    for secret in ("Rhea Quill", "Mallory Vance", "Grabbed my badge", "22:15", "Kim Aware", "Lee Aware"):
        assert secret not in page.get_data(as_text=True)
    events = dict(history_of(page))
    assert ("Reporter's name", "Reporter A") in events["case started"]
    assert sorted(events["task completed: Write your account"]) == sorted([
        ("Who did it?", "[redacted]"), ("What happened?", "[redacted]"), ("About when did it happen?", "[redacted]"),
        ("Where and in what situation?", "-"), ("Other people involved", "-"),
        ("Other people who know about it", "Witness 1, Witness 2")])


def test_a_safety_concern_can_be_raised_from_the_case_page(client, staff):
    login(client, "olga")
    case_id = open_case(client)
    page = client.get(f"/cases/{case_id}")
    reply = client.post(f"/cases/{case_id}/messages/safety_concern", data={"csrf_token": csrf(page)})
    assert reply.status_code == 302
    assert "Summon security or police" in client.get(f"/cases/{case_id}").get_data(as_text=True)


def test_security_headers_are_sent(client, staff):
    reply = client.get("/login")
    assert "default-src 'self'" in reply.headers["Content-Security-Policy"]
    assert reply.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("user,status", [("orla", 403), ("pol", 403)])
def test_other_roles_cannot_open_someone_elses_task_page(client, staff, user, status):
    login(client, "olga")
    case_id = open_case(client)
    task_id = first_task(client, case_id, "call_incident_team")
    client.post("/logout", data={"csrf_token": csrf(client.get("/"))})
    login(client, user)
    assert client.get(f"/tasks/{task_id}").status_code == status


def test_an_error_log_never_shows_a_reporters_link(app, client, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")
    monkeypatch.setattr("engine.views.reporter_task", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    reply = client.get("/r/s3cret-reporter-token")
    assert reply.status_code == 500
    assert "Exception on /r/<token> [GET]" in caplog.text
    assert "s3cret-reporter-token" not in caplog.text


def test_the_reporters_address_and_an_anonymous_reporters_name_are_never_stored(client, staff, system):
    import sqlite3
    login(client, "olga")
    case_id = open_case(client)  # an anonymous reporter
    to_reporter_task(client, case_id)
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    path = re.search(r'value="http://localhost(/r/[^"]+)"', page).group(1)
    reporter = client.application.test_client()
    form = reporter.get(path, environ_base={"REMOTE_ADDR": "203.0.113.77"})
    reply = reporter.post(path, data={"harasser_identification": "M", "behavior": "B", "approximate_time": "T",
                                      "csrf_token": csrf(form)}, environ_base={"REMOTE_ADDR": "203.0.113.77"})
    assert reply.status_code == 200
    database = system.settings.database_url.removeprefix("sqlite:///")
    dump = "\n".join(sqlite3.connect(database).iterdump())
    assert "203.0.113.77" not in dump
    assert "reporter_name" not in dump  # anonymous: not even an empty name is recorded
