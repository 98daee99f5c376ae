"""Failed logins are counted in the database: the 6th within 15 minutes gets 429, in every worker."""
import re
import threading

import pytest

from engine.db import make_engine, session_factories
from engine.system import Incidents
from tests.conftest import PASSWORD
from web import create_app

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def other_worker(system):
    """A second application on its own connection pool, as another gunicorn worker would be."""
    db = make_engine(system.settings.database_url)
    read, write = session_factories(db, system.master_key)
    return create_app({"TESTING": True, "SETTINGS": system.settings,
                       "INCIDENTS": Incidents(system.settings, db, system.processes, system.master_key, read, write)}).test_client()


def token(client, password):
    return client.post("/api/tokens", json={"username": "olga", "password": password}).status_code


def test_the_sixth_failure_in_15_minutes_gets_429_across_workers(system, client, staff):
    second = other_worker(system)
    assert [token(client, "wrong") for _ in range(3)] == [401, 401, 401]
    assert [token(second, "wrong") for _ in range(2)] == [401, 401]
    assert token(client, PASSWORD) == 429  # even the right password, until the window has passed
    assert token(second, "wrong") == 429
    assert client.post("/api/tokens", json={"username": "tom", "password": PASSWORD}).status_code == 201


def test_the_login_page_is_throttled_too_and_a_success_resets_the_count(system, client, staff):
    def login(password):
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        return client.post("/login", data={"username": "olga", "password": password, "csrf_token": csrf}).status_code
    assert [login("wrong") for _ in range(4)] == [401] * 4
    assert login(PASSWORD) == 302
    assert [login("wrong") for _ in range(5)] == [401] * 5
    assert login("wrong") == 429


def test_parallel_wrong_passwords_get_no_more_than_five_tries(system, staff):
    """Ten workers guess at once: the count and the stored failure of each try are one step, so five get checked."""
    workers = [other_worker(system) for _ in range(10)]
    start, answers = threading.Barrier(len(workers)), []

    def guess(client):
        start.wait()
        answers.append(token(client, "wrong"))
    threads = [threading.Thread(target=guess, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(answers) == [401] * 5 + [429] * 5
