"""An exported case: JSON Lines with hashes and the process version's files, a printable report, and a check of the
file that needs no database and no key and names the first edited, dropped, inserted or reordered line."""
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from engine import export, history, retention
from engine.config import ROOT
from engine.crypto import digest
from engine.models import EVENT_DATA, Case, utcnow
from tests.conftest import MASTER_KEY
from tests.test_access_matrix import login
from tests.test_api import to_report_sent

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def run(*args, env):
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def with_db(system):
    return {**os.environ, "INCIDENTS_DATABASE_URL": system.settings.database_url, "INCIDENTS_MASTER_KEY": MASTER_KEY,
            "INCIDENTS_SECRET_KEY": "x", "PYTHONPATH": str(ROOT)}


# no database, no server, no master key: only the file
NOTHING = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "INCIDENTS_MASTER_KEY_FILE": "/nonexistent/master_key",
           "INCIDENTS_DATABASE_URL": "postgresql://nobody@192.0.2.1/none"}


@pytest.fixture
def exported(api, system, tmp_path):
    """A sent report, viewed by an auditor, exported with `incidents export`: (case id, lines, path)."""
    cid, lines, path, _ = export_with_output(api, system, tmp_path)
    return cid, lines, path


def export_with_output(api, system, tmp_path):
    """The same, and what `incidents export` printed."""
    cid = to_report_sent(api, harasser_identification="Ignatius Thornbury", others_aware=["Perpetua"])
    assert api("audrey").get(f"/api/cases/{cid}").status_code == 200
    path = tmp_path / "case.jsonl"
    result = run("export", str(cid), "--output", str(path), env=with_db(system))
    assert result.returncode == 0, result.stderr
    return cid, path.read_text().splitlines(keepends=True), path, result.stdout


def check(lines, head=None):
    return export.verify_export(lines, expected_head=head)


def test_the_export_holds_every_event_with_its_hashes_data_and_the_process_files(exported, system):
    cid, lines, path = exported
    header = json.loads(lines[0])
    with system.reading() as uow:
        case = uow.session.get(Case, cid)
        head, count, version = case.head_hash, case.last_seq, case.process_version
    assert header["format"] == "incidents-case-export/1" and header["case_id"] == cid
    assert (header["events"], header["head_hash"]) == (count, head) and len(lines) == count + 1
    assert set(header["process_versions"]) == {version}
    assert "incident_response.bpmn" in header["process_versions"][version]["files"]
    events = [json.loads(line) for line in lines[1:]]
    assert [e["seq"] for e in events] == list(range(1, count + 1))
    assert events[-1]["type"] == "case_viewed" and events[-1]["data"] == {"viewed": "export (command line)"}
    assert events[-1]["role"] == "operator"
    account = next(e for e in events if e["task"] == "transcribe_account")
    assert account["data"]["harasser_identification"] == "Ignatius Thornbury"
    assert account["sealed_data"].startswith("s1.") and "Thornbury" not in account["sealed_data"]
    report = path.with_suffix(".html").read_text()
    assert f"Case #{cid}: audit report" in report and head in report and "@media print" in report
    assert "<script" not in report and "Ignatius Thornbury" in report
    assert "verified:" in report
    assert report.count(f"version {version[:12]}") >= count  # every event says the version it ran on
    assert all(f"hash {e['hash'][:16]}" in report for e in events)  # and its hash, to compare with the export


def test_verify_export_checks_the_file_alone_with_no_database_and_no_key(exported):
    cid, lines, path = exported
    result = run("verify-export", str(path), env=NOTHING)
    assert result.returncode == 0, result.stderr
    head = json.loads(lines[0])["head_hash"]
    assert result.stdout.splitlines()[0] == (f"{path}: internally consistent: case {cid}, {len(lines) - 1} events, "
                                             f"head hash {head}")
    sealed = sum(1 for line in lines[1:] if json.loads(line)["sealed_data"].startswith("s1."))
    assert f"plaintext: {sealed} checked against their digests, {len(lines) - 1 - sealed} public records match" \
        in result.stdout
    assert "information only (no hash covers it): the header's status, verdict, exported_at, exported_by" \
        in result.stdout
    anchored = run("verify-export", str(path), "--head", head, env=NOTHING)
    assert anchored.returncode == 0
    assert anchored.stdout.splitlines()[0] == (f"{path}: intact: case {cid}, {len(lines) - 1} events, ending in the "
                                               f"expected head hash {head}")
    assert "NOT PROVED" not in anchored.stdout


def _edit(line, change):
    record = json.loads(line)
    change(record)
    return json.dumps(record) + "\n"


def _set(key, value):
    return lambda record: record.__setitem__(key, value)


TAMPERINGS = {
    "an edited actor": (lambda ls: ls[:3] + [_edit(ls[3], _set("actor", "mallory"))] + ls[4:],
                        "line 4 (event seq 3): its content does not match its hash (edited)"),
    "edited plaintext": (lambda ls: ls[:4] + [_edit(ls[4], lambda r: r["data"].update(general_threat=True))] + ls[5:],
                         "line 5 (event seq 4): its data does not match the digest recorded with it (edited)"),
    "an edited header event name": (lambda ls: [_edit(ls[0], _set("event_name", "Elsewhere"))] + ls[1:],
                                    "line 1: the header names event 'Elsewhere', but the case was opened for"),
    "an edited public record": (lambda ls: ls[:-1] + [_edit(ls[-1], _set("data", {"viewed": "nothing"}))],
                                "line {last} (event seq {last_seq}): its data is not what was recorded (edited)"),
    "a dropped event": (lambda ls: ls[:3] + ls[4:], "line 4 (event seq 4): expected seq 3 (an event before it is "
                                                   "missing or moved)"),
    "a dropped last event": (lambda ls: ls[:-1], "the export ends at event seq"),
    "an inserted event": (lambda ls: ls[:4] + [ls[3]] + ls[4:], "line 5 (event seq 3): expected seq 4 "
                                                               "(duplicated, inserted or moved)"),
    "renumbered events after a drop": (
        lambda ls: ls[:3] + [_edit(line, lambda r: r.__setitem__("seq", r["seq"] - 1)) for line in ls[4:]],
        "line 4 (event seq 3): does not follow the event before it (inserted, dropped or reordered)"),
    "reordered events": (lambda ls: ls[:3] + [ls[4], ls[3]] + ls[5:], "line 4 (event seq 4): expected seq 3"),
    "an edited diagram": (lambda ls: [_edit(ls[0], lambda h: [v["files"].update(
        {"safety_gate.bpmn": v["files"]["safety_gate.bpmn"].replace("general_threat == True", "True")})
        for v in h["process_versions"].values()])] + ls[1:], "do not hash to it (edited)"),
    "edited plaintext behind a removed digest key": (
        lambda ls: [_edit(ls[0], _set("digest_key", None))] + ls[1:4]
        + [_edit(ls[4], lambda r: r["data"].update(general_threat=True))] + ls[5:],
        "line 2 (event seq 1): it carries data that cannot be checked: the export has no digest key (edited)"),
    "dropped plaintext of a case that was not purged": (
        lambda ls: ls[:4] + [_edit(ls[4], _set("data", None))] + ls[5:],
        "line 5 (event seq 4): its data is missing, but the case was not purged (edited)"),
    "a line that is not JSON": (lambda ls: ls[:2] + ["{not json\n"] + ls[3:], "line 3: not JSON"),
    "another file": (lambda ls: ['{"format": "something else"}\n'] + ls[1:], "line 1: not an incidents case export"),
}


@pytest.mark.parametrize("how", sorted(TAMPERINGS))
def test_verify_export_names_the_first_bad_line_of_any_tampering(exported, how):
    cid, lines, path = exported
    assert check(lines).ok
    tampered, expected = TAMPERINGS[how]
    found = check(tampered(lines))
    expected = expected.format(last=len(lines), last_seq=len(lines) - 1)  # line 1 is the header
    assert not found.ok and expected in found.problem, found.problem


def test_an_export_that_is_not_the_live_case_is_found_by_its_head_hash(exported, system, api):
    cid, lines, path = exported
    assert api("audrey").get(f"/api/cases/{cid}/history").status_code == 200  # the live case moves on
    with system.reading() as uow:
        live_head = uow.session.get(Case, cid).head_hash
    found = check(lines, head=live_head)
    assert not found.ok and found.problem.startswith(
        f"head hash mismatch: the export ends in head hash {json.loads(lines[0])['head_hash']} (event seq "
        f"{len(lines) - 1}), not the expected {live_head}: it is not the history that hash was recorded for")
    path.write_text("".join(lines[:-1]))
    result = run("verify-export", str(path), env=NOTHING)
    assert result.returncode == 1 and result.stdout.startswith(f"{path}: INVALID: after line ")


def test_a_purged_case_exports_without_plaintext_and_its_chain_still_verifies(api, system, tmp_path):
    cid = to_report_sent(api, harasser_identification="M")
    with system.writing() as uow:
        case = uow.session.get(Case, cid)
        case.status, case.closed_at = "closed", utcnow() - timedelta(days=1)
        uow.commit()
    assert retention.purge_closed_before(system, utcnow(), "retention (test)") == [cid]
    path = tmp_path / "purged.jsonl"
    env = {**with_db(system)}
    env.pop("INCIDENTS_MASTER_KEY")
    env["INCIDENTS_MASTER_KEY_FILE"] = "/nonexistent/master_key"  # a purged case needs no key to export
    result = run("export", str(cid), "--output", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert "purged on " in result.stdout and "the history chain still verifies (10 events)" in result.stdout
    found = check(path.read_text().splitlines(keepends=True))
    assert found.ok and found.plaintext["absent"] == 8 and found.plaintext["checked"] == 0
    header = json.loads(path.read_text().splitlines()[0])
    assert header["digest_key"] is None and header["status"] == "purged"


def rewritten(lines, change):
    """The export rewritten wholesale: `change` edits the events' plaintext, and every digest and hash after it is
    recomputed with what the file itself holds (the digest key), so the file agrees with itself again."""
    header = json.loads(lines[0])
    key = bytes.fromhex(header["digest_key"])
    out, prev = [], history.GENESIS
    for line in lines[1:]:
        record = json.loads(line)
        if record["data_mac"] is not None and change(record["data"]):
            record["data_mac"] = digest(key, EVENT_DATA, record["data"])
        record["prev_hash"] = prev
        event = SimpleNamespace(**{**record, "at": datetime.fromisoformat(record["at"])})
        record["hash"] = prev = history.event_hash(prev, event)
        out.append(json.dumps(record) + "\n")
    header["head_hash"] = prev
    return [json.dumps(header) + "\n"] + out


def _blame_someone_else(data):
    if data.get("harasser_identification") != "Ignatius Thornbury":
        return False
    data["harasser_identification"] = "Someone Else"
    return True


def test_export_prints_the_head_hash_and_the_command_to_check_a_copy_against_it(api, system, tmp_path):
    cid, lines, path, printed = export_with_output(api, system, tmp_path)
    head = json.loads(lines[0])["head_hash"]
    said = printed.splitlines()
    assert said[1].startswith(f"head hash {head} (event {len(lines) - 1}); verified: ")
    assert said[-1] == f"  incidents verify-export {path} --head {head}"
    assert "Record this head hash where the export's holders cannot change it" in said[-2]
    command = said[-1].split()[1:]  # the very command printed, run as printed
    result = run(*command, env=NOTHING)
    assert result.returncode == 0 and "ending in the expected head hash" in result.stdout
    # the live case shows the same hash at that event: on its timeline and in its history
    with system.reading() as uow:
        assert uow.session.get(Case, cid).last_seq == len(lines) - 1
    assert api("audrey").get(f"/api/cases/{cid}/history").get_json()[len(lines) - 2]["hash"] == head
    client = api("audrey").client
    login(client, "audrey")
    page = client.get(f"/cases/{cid}/timeline").get_data(as_text=True)
    assert re.search(rf'<li id="event-{len(lines) - 1}" [^>]*>.*?<span class="hash">{head}</span>', page, re.S)


def test_a_wholesale_rewritten_export_passes_alone_but_not_against_the_recorded_head(api, system, tmp_path):
    cid, lines, path, printed = export_with_output(api, system, tmp_path)
    recorded_head = json.loads(lines[0])["head_hash"]
    forged = rewritten(lines, _blame_someone_else)
    assert any("Someone Else" in line for line in forged) and not any("Thornbury" in line for line in forged)
    assert check(forged).ok  # consistent with itself: the file alone cannot tell
    path.write_text("".join(forged))
    alone = run("verify-export", str(path), env=NOTHING)
    assert alone.returncode == 0
    assert alone.stdout.splitlines()[0].startswith(f"{path}: internally consistent: case {cid}, ")
    assert "NOT PROVED: that this file is the case's recorded history. Without --head this check proved internal\n" \
           "consistency only" in alone.stdout
    assert "Compare its head hash" in alone.stdout and "the printed report" in alone.stdout
    assert "the live case" in alone.stdout
    anchored = run("verify-export", str(path), "--head", recorded_head, env=NOTHING)
    assert anchored.returncode == 1
    forged_head = json.loads(forged[0])["head_hash"]
    assert anchored.stdout == (f"{path}: INVALID: head hash mismatch: the export ends in head hash {forged_head} "
                               f"(event seq {len(lines) - 1}), not the expected {recorded_head}: it is not the "
                               "history that hash was recorded for (rewritten, or another case or moment)\n")
