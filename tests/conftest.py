"""Fixtures: the real diagrams loaded once, a fresh database per test, the app, clients and users."""
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from engine import audit, users
from engine.config import ROOT, Settings
from engine.crypto import generate_master_key, load_master_key
from engine.db import make_engine, session_factories
from engine.processes import ProcessRegistry
from engine.system import Incidents, build
from forms import FORMS
from tests.conformance import check_answer
from tests.net import free_port, request
from web import create_app

PASSWORD = "correct horse battery"
MASTER_KEY = generate_master_key()  # one per test run; the served tests get it through the environment
POSTGRES = os.environ.get("INCIDENTS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True, scope="session")
def quick_password_hashes():
    """Test accounts get argon2id hashes of the smallest cost. Each test makes several accounts and logs in
    a few times, and the real parameters (64 MiB, 3 passes: 0.12 s a hash) were most of the suite's time.
    A hash carries its parameters, so served workers (the real hasher) verify these too;
    test_hardening.py checks the real parameters in a fresh interpreter."""
    saved = users._HASHER, users._DUMMY_HASH
    quick = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    users._HASHER, users._DUMMY_HASH = quick, quick.hash("not a real password")
    yield
    users._HASHER, users._DUMMY_HASH = saved


@pytest.fixture(scope="session")
def processes():
    """The real diagrams of bpmn/, parsed once for the whole run."""
    return ProcessRegistry.from_directory(ROOT / "bpmn", FORMS)


@pytest.fixture(params=["sqlite"])
def database_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a new schema on the local PostgreSQL server.

    A module runs on both with `pytestmark = pytest.mark.parametrize("database_url",
    ["sqlite", "postgresql"], indirect=True)`.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'incidents.sqlite3'}"
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


# (test id, whether it edits stored cases on purpose, the verdicts of its cases): every case any test
# created is replayed when the test ends; test_replay.py's last test fails if one did not verify
REPLAYS = []


@pytest.fixture
def system(processes, tmp_path, database_url, request):
    """The engine's collaborators on a fresh database; afterwards, every case in it is replayed and checked."""
    settings = Settings(database_url=database_url, secret_key="test-secret", secret_key_file=str(tmp_path / "key"),
                        master_key=MASTER_KEY)
    db = make_engine(settings.database_url)
    master_key = load_master_key(settings)
    read, write = session_factories(db, master_key)
    incidents = Incidents(settings, db, processes, master_key, read, write)
    incidents.create_schema()
    yield incidents
    REPLAYS.append((request.node.nodeid, request.node.get_closest_marker("edits_stored_cases") is not None,
                    replay_every_case(incidents)))
    db.dispose()


def collect_replays_of(request, settings):
    """For tests whose cases live in a database of their own (the command line's): replay every case in it
    when the test ends, like the `system` fixture does. A database that was never created holds no case."""
    path = make_url(settings.database_url).database
    if not path or not Path(path).exists():
        return
    with sqlite3.connect(path) as raw:
        if not raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'cases'").fetchone():
            return
        if not raw.execute("SELECT COUNT(*) FROM cases").fetchone()[0]:
            return
    incidents = build(settings)
    try:
        REPLAYS.append((request.node.nodeid, request.node.get_closest_marker("edits_stored_cases") is not None,
                        replay_every_case(incidents)))
    finally:
        incidents.db.dispose()


def replay_every_case(incidents) -> list:
    """The verdict of every case in the system's database, or the error that stopped the check."""
    try:
        with incidents.reading() as uow:
            return list(audit.verify_cases(uow.session, incidents.processes))
    except Exception as err:  # reported by the final test rather than as an error in this test's teardown
        return [f"the replay check itself failed: {type(err).__name__}: {err}"]


def pytest_collection_modifyitems(items):
    """The test that checks every collected replay runs after all the others."""
    items.sort(key=lambda item: item.get_closest_marker("after_every_case") is not None)


# the events the tests' cases happen at; on-site staff and organizers made here work at all of them
EVENTS = ("HackTest", "HackAPI", "Second", "HackPages", "HackPhone", "Chain", "Timers", "Faults")


@pytest.fixture
def make_user(system):
    """Create a staff user with roles (working at the test events); returns its Actor."""
    def make(name, *roles, events=EVENTS):
        with system.writing() as uow:
            return users.add_user(uow, name, list(roles), PASSWORD, events=events)
    return make


@pytest.fixture
def staff(make_user):
    """One user per role, plus one who holds two roles."""
    return {
        "onsite": make_user("olga", "onsite_staff"),
        "team": make_user("tom", "incident_team"),
        "organizer": make_user("orla", "organizer"),
        "auditor": make_user("audrey", "auditor"),
        "policy": make_user("pol", "policy"),
        "both": make_user("bea", "onsite_staff", "organizer"),
    }


@pytest.fixture
def app(system):
    """The Flask app on the test database."""
    return create_app({"TESTING": True, "SETTINGS": system.settings, "INCIDENTS": system})


@pytest.fixture
def client(app):
    """A test client for pages and API."""
    return app.test_client()


@pytest.fixture
def api(client, staff):
    """Call the JSON API as a named user: api('olga').get('/api/tasks'); each answer must match the document."""
    tokens = {}

    def checked(method, url, response):
        check_answer(client.application, method, url, response)
        return response

    class As:
        def __init__(self, username):
            if username not in tokens:
                reply = client.post("/api/tokens", json={"username": username, "password": PASSWORD})
                assert reply.status_code == 201, reply.get_json()
                tokens[username] = reply.get_json()["token"]
            self.headers = {"Authorization": f"Bearer {tokens[username]}"}
            self.client = client

        def get(self, url):
            return checked("GET", url, client.get(url, headers=self.headers))

        def post(self, url, json=None):
            return checked("POST", url, client.post(url, json=json, headers=self.headers))

    return As


@pytest.fixture
def server(app):
    """The app served on a real loopback port in a background thread (for the browser tests)."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture
def serve(system, tmp_path):
    """Start `incidents serve` on the test database; returns (port, token). Stops it afterwards."""
    servers = []

    def start(workers=4, **env):
        port = free_port()
        environ = {**os.environ, "INCIDENTS_DATABASE_URL": system.settings.database_url,
                   "INCIDENTS_SECRET_KEY": "fault-tests", "INCIDENTS_MASTER_KEY": MASTER_KEY,
                   "INCIDENTS_TICK_SECONDS": "0", "PYTHONPATH": str(ROOT), **env}
        server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port),
                                   "--workers", str(workers)], env=environ, cwd=ROOT,
                                  stdout=open(tmp_path / "server.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        servers.append(server)
        (tmp_path / "server.pid").write_text(str(server.pid))  # `serve` execs gunicorn: this is its master
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = request(port, "POST", "/api/tokens", {"username": "olga", "password": PASSWORD})
                assert status == 201
                return port, body["token"]
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.2)
    yield start
    for server in servers:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
