"""The `incidents` command: init, user add, validate, seed-demo and serve (gunicorn) as real processes."""
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from engine.config import ROOT, Settings
from tests.conftest import collect_replays_of
from tests.net import free_port

INCIDENTS = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def env(tmp_path, request):
    """The command line's environment on a database of its own; its cases are replayed when the test ends."""
    env = {**os.environ, "INCIDENTS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
           "INCIDENTS_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
           "INCIDENTS_MASTER_KEY_FILE": str(tmp_path / "master_key"), "PYTHONPATH": str(ROOT)}
    yield env
    collect_replays_of(request, Settings.from_env(env))


def run(env, *args):
    return subprocess.run([*INCIDENTS, *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_init_then_user_add_then_a_duplicate_is_refused(env):
    assert run(env, "init").returncode == 0
    added = run(env, "user", "add", "sam", "--role", "onsite_staff", "--role", "organizer", "--password", "long enough",
                "--event", "HackA")
    assert added.returncode == 0 and "onsite_staff, organizer; events HackA" in added.stdout
    assigned = run(env, "user", "assign", "sam", "--event", "HackB")
    assert assigned.returncode == 0 and "sam works at: HackA, HackB" in assigned.stdout
    again = run(env, "user", "add", "sam", "--role", "onsite_staff", "--password", "long enough")
    assert again.returncode == 1 and "username: This username is taken." in again.stderr
    bad = run(env, "user", "add", "kim", "--role", "wizard", "--password", "long enough")
    assert bad.returncode == 1 and "unknown: wizard" in bad.stderr


def test_seed_demo_prints_a_login_for_every_role(env):
    assert run(env, "init").returncode == 0
    out = run(env, "seed-demo").stdout
    for role in ("onsite_staff", "incident_team", "organizer", "auditor", "policy"):
        assert role in out


def test_validate_accepts_the_real_diagrams_and_names_the_broken_element(env, tmp_path):
    ok = run(env, "validate", str(ROOT / "bpmn"))
    assert ok.returncode == 0 and "32 user tasks" in ok.stdout
    broken = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", broken)
    path = broken / "response.bpmn"
    path.write_text(path.read_text().replace("harasser_disputes == True", "harasser_disputes ==="))
    result = run(env, "validate", str(broken))
    assert result.returncode == 1
    assert "response.bpmn" in result.stderr and "flow_gw_disputes_to_gw_revision_allowed" in result.stderr
    assert "line " in result.stderr


def test_test_process_runs_the_shipped_tests_then_fails_on_a_wrong_expectation(env, tmp_path):
    shipped = sorted((ROOT / "bpmn" / "tests").glob("*.yaml"))
    ok = run(env, "test-process")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:len(shipped)]] == [f"PASS bpmn/tests/{p.name}" for p in shipped]
    assert lines[len(shipped)] == f"{len(shipped)} process tests: {len(shipped)} passed, 0 failed"
    covered = re.fullmatch(r"diagram elements run: (\d+) of (\d+)", lines[-1])
    assert covered and covered[1] == covered[2] and int(covered[1]) > 90
    good = ROOT / "bpmn" / "tests" / "04_team_reaches_onsite_staff.yaml"
    broken = tmp_path / "broken.yaml"
    broken.write_text(good.read_text().replace('"+91 000 80004 02492"', '"+91 000 0000"'))
    failed = run(env, "test-process", str(broken), str(good))
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[:4] == [
        f"FAIL {broken}: The team receives the concern and hands it to on-site staff they reached "
        "(stopped after 3 steps)",
        '    line 30: expected reporting_phone = "+91 000 0000" at step 4 (the end), got "+91 000 80004 02492"',
        f"PASS {good.relative_to(ROOT)}: The team receives the concern and hands it to on-site staff they reached "
        "(3 steps)",
        "2 process tests: 1 passed, 1 failed",
    ]


def test_test_process_refuses_broken_diagrams_and_a_directory_without_tests(env, tmp_path):
    broken = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", broken)
    (broken / "response.bpmn").write_text("<not xml")
    result = run(env, "test-process", "--diagrams", str(broken))
    assert result.returncode == 1 and result.stderr.startswith("invalid diagrams: response.bpmn")
    shutil.rmtree(broken)
    shutil.copytree(ROOT / "bpmn", broken, ignore=shutil.ignore_patterns("tests"))
    empty = run(env, "test-process", "--diagrams", str(broken))
    assert empty.returncode == 1 and "no process tests" in empty.stderr
    missing = run(env, "test-process", "--diagrams", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and missing.stderr == f"invalid diagrams: {tmp_path / 'nowhere'} is not a directory\n"


def test_serve_runs_gunicorn_and_refuses_to_start_on_a_broken_diagram(env, tmp_path):
    assert run(env, "init").returncode == 0
    port = free_port()
    server = subprocess.Popen([*INCIDENTS, "serve", "--port", str(port), "--workers", "2"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as reply:
                    assert reply.status == 200
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/r/secret-token-value", timeout=2)
                except urllib.error.HTTPError as err:
                    assert err.code == 404
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Booting worker" in output
    # each worker froze what it built at start (diagrams, forms, mappers): full collections skip it
    frozen = re.findall(r"worker ready: (\d+) start-up objects left out of garbage collection", output)
    assert len(frozen) == 2 and all(int(count) > 100_000 for count in frozen), output
    assert '"GET /r/<token>" 404' in output and "secret-token-value" not in output
    assert "127.0.0.1 " not in output.replace("Listening at: http://127.0.0.1", "")
    broken = tmp_path / "broken"
    shutil.copytree(ROOT / "bpmn", broken)
    (broken / "decision.bpmn").write_text("<definitions>")
    result = subprocess.run([*INCIDENTS, "serve", "--port", str(free_port())], env={**env, "INCIDENTS_BPMN_DIR": str(broken)},
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode != 0 and "decision.bpmn" in result.stderr and "line 1" in result.stderr


def test_move_case_moves_an_open_case_to_a_published_version_as_a_policy_account(env, tmp_path):
    from engine import cases, users
    from engine.config import Settings
    from engine.diagrams import load_directory
    from engine.system import build
    from forms import FORMS

    assert run(env, "init").returncode == 0
    assert run(env, "user", "add", "pol", "--role", "policy", "--password", "long enough").returncode == 0
    assert run(env, "user", "add", "olga", "--role", "onsite_staff", "--password", "long enough",
               "--event", "HackCLI").returncode == 0
    system = build(Settings.from_env(env))
    with system.reading() as uow:
        olga = users.actor_for(uow, "olga")
    with system.writing() as uow:
        case = cases.open_case(uow, system.processes, olga, {
            "event_name": "HackCLI", "event_format": "in_person", "region": "europe", "reporter_anonymous": True})
    system.db.dispose()
    newer = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", newer)
    gate = newer / "safety_gate.bpmn"
    gate.write_text(gate.read_text().replace('name="Assess safety"', 'name="Check everyone is safe"'))
    published = {**env, "INCIDENTS_BPMN_DIR": str(newer)}
    assert run(published, "init").returncode == 0  # publishes (records) the new version
    version = load_directory(newer, FORMS).hash

    moved = run(env, "move-case", str(case["id"]), version, "--by", "pol")
    assert moved.returncode == 0, moved.stderr
    assert f"case {case['id']} moved from version {case['process_version'][:12]} to {version[:12]}" in moved.stdout
    again = run(env, "move-case", str(case["id"]), version, "--by", "pol")
    assert again.returncode == 1 and "already runs on version" in again.stderr
    not_policy = run(env, "move-case", str(case["id"]), version, "--by", "olga")
    assert not_policy.returncode == 1 and "only policy staff" in not_policy.stderr
    assert run(env, "move-case", str(case["id"]), version, "--by", "ghost").returncode == 2
    assert run(env, "move-case", str(case["id"]), "abc", "--by", "pol").returncode == 2


def test_the_access_log_can_print_only_method_path_status_and_time(tmp_path):
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from cli.gunicorn_logging import RedactingLogger
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    # a format asking for everything gunicorn could offer: the address, the request line and query, headers both
    # ways, the environment
    config.set("access_log_format", '%(h)s "%(r)s" %(q)s %({authorization}i)s %({set-cookie}o)s '
                                    '%({remote_addr}e)s %(a)s "%(m)s %(U)s" %(s)s %(L)ss')
    logger = RedactingLogger(config)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/reporter/secret-token-value", "QUERY_STRING": "q=x",
               "RAW_URI": "/api/reporter/secret-token-value?q=x", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "10.1.2.3", "HTTP_AUTHORIZATION": "Bearer bearer-secret", "HTTP_USER_AGENT": "phone"}
    request = SimpleNamespace(headers=[("AUTHORIZATION", "Bearer bearer-secret"), ("USER-AGENT", "phone")])
    response = SimpleNamespace(status="200 OK", headers=[("Set-Cookie", "session=cookie-secret")], sent=12)
    logger.access(response, request, environ, timedelta(milliseconds=3, microseconds=5))
    for handler in logger.access_log.handlers:
        handler.flush()
    assert (tmp_path / "access.log").read_text() == '- "-" - - - - - "POST /api/reporter/<token>" 200 0.003005s\n'
