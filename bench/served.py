"""Prints what `incidents serve` (gunicorn, 2 workers) costs end to end, on SQLite and PostgreSQL.

Every figure comes from one run: for each database a real server is started and driven over HTTP by one
client, one request after another (gunicorn's sync workers close each connection, so every request pays for a
new one, as behind a reverse proxy): open a case and complete a task (p50/p95/p99, ratio to the floor). The
floor, the raw engine's load + complete + save in this process, is measured in blocks of 20 steps that take
turns with blocks of 20 of those completions: a machine whose speed drifts by 20-30% over minutes then moves
both alike, and their ratio is one taken in the same moments (the floor measured once, 200 steps in a row
before everything else, is printed too). Then the database is filled to 100,000 cases (copies of
real cases, spread over 1,000 events) and a second one, served beside it, to 1,000 cases; completions are
measured on the two in turn (A B A B: the machine's noise falls on both alike, so the 100k/1k ratio is one
taken in the same moments), then the inbox on each; then a history at 100,000 cases, the stored bytes of an open
and of a closed case (the text of their rows; and on disk, indexes and page overhead included, as the growth of the
1,000-case database by cases made through the use cases); last, the time to replay and verify a case of 50 events (bench/replay.py has the
detail).
Run with `make bench` (PostgreSQL on 127.0.0.1:5432, or INCIDENTS_BENCH_POSTGRES_URL). SQLite runs as served by default,
every commit synced to disk; INCIDENTS_BENCH_DATABASES picks what to measure, among "sqlite postgresql" (the
default) and "sqlite-normal" (SQLite with ?synchronous=normal: no sync at commit, what a power cut may lose).
"""
import gc
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.complete_task import floor_step  # noqa: E402
from bench.replay import Bench as ReplayBench, time_replay  # noqa: E402
from engine import cases, users  # noqa: E402
from engine.config import ROOT, Settings  # noqa: E402
from engine.crypto import generate_master_key  # noqa: E402
from engine.system import build  # noqa: E402

N = int(os.environ.get("INCIDENTS_BENCH_SAMPLES", 200))
OPEN_COPIES, CLOSED_COPIES = 200, 50  # cases made to measure what one takes on disk
# which databases to measure: "sqlite", "postgresql" (both by default), "sqlite-normal"
DATABASES = os.environ.get("INCIDENTS_BENCH_DATABASES", "sqlite postgresql").lower().split()
POSTGRES = os.environ.get("INCIDENTS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "bench password"
CALL = {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}
ASSESS = {"general_threat": False}


def intake(event="Bench 0"):
    return {"event_name": event, "event_format": "in_person", "region": "europe", "opened_by_role": "onsite_staff",
            "reporter_anonymous": True}


def percentiles(samples):
    samples = sorted(samples)
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] * 1000  # noqa: E731
    return statistics.median(samples) * 1000, pick(0.95), pick(0.99)


class Client:
    """An HTTP client of the served app with a bearer token (http.client reconnects when the server closes)."""

    def __init__(self, port, username):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        status, body = self.call("POST", "/api/tokens", {"username": username, "password": PASSWORD}, auth=False)
        assert status == 201, body
        self.token = body["token"]

    def call(self, method, path, body=None, auth=True):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        reply = self.conn.getresponse()
        return reply.status, json.loads(reply.read() or b"null")

    def timed(self, method, path, body=None, expect=200):
        started = time.perf_counter()
        status, answer = self.call(method, path, body)
        elapsed = time.perf_counter() - started
        assert status == expect, (status, answer)
        return elapsed, answer


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(env, tmp):
    port = free_port()
    log = open(tmp / "server.log", "ab")
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", "2"],
                              env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start; see {tmp / 'server.log'}")
            time.sleep(0.2)


def open_at_second_task(system, event="Bench 0"):
    """A case opened and its first task completed by olga, through the use cases; returns its view."""
    with system.writing() as uow:
        actor = users.actor_for(uow, "olga")
    with system.writing() as uow:
        case = cases.open_case(uow, system.processes, actor, intake(event))
    with system.writing() as uow:
        cases.complete_task(uow, system.processes, actor, case["tasks"][0]["id"], CALL)
    return case


def fill(system, copies, events=1000):
    """Add `copies` cases waiting at their second task, spread over `events` events, by copying real rows
    (the case, its history, its ready task and that task's notifications)."""
    model = open_at_second_task(system, "Bench filler")
    db = system.db
    numbers = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :last) "
    with db.begin() as conn:
        first = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM cases")).scalar() + 1
        case_cols = [c for c in _columns(conn, "cases") if c != "id"]
        event_cols = [c for c in _columns(conn, "case_events") if c not in ("id", "case_id")]
        task_cols = [c for c in _columns(conn, "ready_tasks") if c not in ("id", "case_id")]
        note_cols = [c for c in _columns(conn, "notifications") if c not in ("id", "case_id", "task_id")]
        values = {"first": first, "last": copies - 1, "model": model["id"], "events": events}
        conn.execute(text(f"INSERT INTO cases (id, {', '.join(case_cols)}) {numbers}SELECT :first + n.i, "
                          + ", ".join("'Bench ' || (n.i % :events)" if c == "event_name" else f"c.{c}"
                                      for c in case_cols)
                          + " FROM cases c, n WHERE c.id = :model"), values)
        conn.execute(text(f"INSERT INTO case_events (case_id, {', '.join(event_cols)}) {numbers}"
                          f"SELECT :first + n.i, {', '.join('e.' + c for c in event_cols)} "
                          "FROM case_events e, n WHERE e.case_id = :model"), values)
        conn.execute(text(f"INSERT INTO ready_tasks (id, case_id, {', '.join(task_cols)}) {numbers}"
                          f"SELECT 'bench-' || (:first + n.i), :first + n.i, {', '.join('t.' + c for c in task_cols)} "
                          "FROM ready_tasks t, n WHERE t.case_id = :model"), values)
        # and what telling people of that task left in the outbox, settled as the sender leaves it without SMTP
        # (a backlog of 100,000 pending messages would have the workers' senders busy through the measurements)
        settled = ", ".join("'outbox'" if c == "status" else "m." + c for c in note_cols)
        conn.execute(text(f"INSERT INTO notifications (case_id, task_id, {', '.join(note_cols)}) {numbers}"
                          f"SELECT :first + n.i, 'bench-' || (:first + n.i), {settled} "
                          "FROM notifications m, n WHERE m.task_id IN "
                          "(SELECT id FROM ready_tasks WHERE case_id = :model)"), values)
        if db.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT MAX(id) FROM cases))"))
    if db.dialect.name == "postgresql":
        with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # what autovacuum and the checkpointer do for a database that grew case by case, done now rather
            # than while the measurements run (the copy wrote gigabytes at once)
            conn.exec_driver_sql("VACUUM ANALYZE")
            conn.exec_driver_sql("CHECKPOINT")
    else:
        raw = db.raw_connection()
        try:
            raw.driver_connection.execute("ANALYZE")
            # the bulk copy left a write-ahead log of the whole database: checkpoint it now, as the regular
            # checkpoints of a database that grew case by case would have, not during the measurements
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    # and the operating system writes out what the copy left in its cache now, not while a commit waits for
    # its own few pages to reach the disk
    os.sync()


def _columns(conn, table):
    from sqlalchemy import inspect
    return [c["name"] for c in inspect(conn).get_columns(table)]


def case_count(system):
    with system.db.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM cases")).scalar()


def ready_for_assess(client, count, event="Bench 0"):
    """Open `count` cases and complete their first task: each then waits at assess_safety."""
    ids = []
    for _ in range(count):
        _, case = client.timed("POST", "/api/cases", intake(event), expect=201)
        _, case = client.timed("POST", f"/api/tasks/{case['tasks'][0]['id']}", {"data": CALL})
        ids.append((case["id"], next(t["id"] for t in case["tasks"] if t["task"] == "assess_safety")))
    return ids


def completions(client, count):
    samples = []
    for _, task_id in ready_for_assess(client, count):
        elapsed, _ = client.timed("POST", f"/api/tasks/{task_id}", {"data": ASSESS})
        samples.append(elapsed)
    return samples


def stored_bytes(system, case_id):
    """Bytes of the case's rows as stored (text columns' lengths and fixed-size columns)."""
    total = 0
    with system.db.connect() as conn:
        for table, column in (("cases", "id"), ("case_events", "case_id"), ("ready_tasks", "case_id"),
                              ("reporter_links", "case_id"), ("idempotency_keys", "case_id"),
                              ("notifications", "case_id")):
            for row in conn.execute(text(f"SELECT * FROM {table} WHERE {column} = :id"), {"id": case_id}):
                total += sum(len(str(v).encode()) if v is not None else 0 for v in row)
    return total


def database_bytes(system):
    """What the database takes on disk for its tables, their indexes and (PostgreSQL) TOAST, free space left out:
    SQLite's pages in use; PostgreSQL's relations after VACUUM FULL (dead rows of updated cases dropped)."""
    db = system.db
    if db.dialect.name == "postgresql":
        with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM FULL")
            return conn.execute(text("SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c "
                                     "JOIN pg_namespace s ON s.oid = c.relnamespace "
                                     "WHERE s.nspname = current_schema() AND c.relkind = 'r'")).scalar()
    raw = db.raw_connection()
    try:
        sqlite = raw.driver_connection
        sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (sqlite.execute(f"PRAGMA {name}").fetchone()[0]
                             for name in ("page_count", "freelist_count", "page_size"))
        return (pages - free) * size
    finally:
        raw.close()


def growth_per_case(system, count, make_case):
    """Bytes on disk per case (database_bytes before and after `count` cases made by `make_case()`)."""
    before = database_bytes(system)
    for _ in range(count):
        make_case()
    return (database_bytes(system) - before) / count


def close_case(system, actor_names):
    """Run one case to closed through the use cases; returns its id."""
    with system.writing() as uow:
        actors = {name: users.actor_for(uow, name) for name in actor_names}
    with system.writing() as uow:
        case = cases.open_case(uow, system.processes, actors["olga"], intake())
    steps = [("olga", "call_incident_team", CALL), ("olga", "assess_safety", ASSESS),
             ("olga", "ask_victim_law_enforcement", {"victim_requests_law_enforcement": False}),
             ("olga", "support_victim", {"offered_private_place": True, "explained_role_and_asked": True,
                                         "gave_emergency_contacts": True}),
             ("olga", "choose_account_writer", {"written_by": "staff_transcription"}),
             ("olga", "transcribe_account", {"harasser_identification": "H", "behavior": "B",
                                             "approximate_time": "22:00"}),
             ("olga", "send_report", {"report_reviewed": True}),
             ("tom", "review_report", {"policy_assessment": "A"}),
             ("orla", "add_organizer_view", {"organizer_view": "V"}),
             ("tom", "decide_action", {"action": "no_action", "rationale": "R", "decided_with": "O"}),
             ("olga", "meet_harasser", {"report_summarized": True, "decision_notified": True,
                                        "harasser_disputes": False}),
             ("olga", "inform_aware_people", {"informed_people": [], "no_details_shared": True,
                                              "message_text": "Handled."}),
             ("tom", "decide_announcement", {"announcement_needed": False}),
             ("tom", "close_case", {"closing_summary": "Done."})]
    for user, task, data in steps:
        task_id = next(t["id"] for t in case["tasks"] if t["task"] == task)
        with system.writing() as uow:
            case = cases.complete_task(uow, system.processes, actors[user], task_id, data)
    assert case["status"] == "closed", case["status"]
    return case["id"]


def _setup(url):
    """A system on a fresh database at `url` with the bench's users; returns it and the server's environment."""
    key = generate_master_key()
    settings = Settings(database_url=url, secret_key="bench", master_key=key, bpmn_dir=str(ROOT / "bpmn"))
    system = build(settings)
    system.create_schema()
    with system.writing() as uow:
        # works at the event her cases are measured at and the one the filler cases are made at, as staff
        # work at a few events (every request reads the user's events)
        users.add_user(uow, "olga", ["onsite_staff"], PASSWORD, events=["Bench 0", "Bench filler"])
    with system.writing() as uow:
        users.add_user(uow, "tom", ["incident_team"], PASSWORD)
    with system.writing() as uow:
        users.add_user(uow, "orla", ["organizer"], PASSWORD, events=["Bench 0"])
    with system.writing() as uow:
        users.add_user(uow, "stan", ["onsite_staff"], PASSWORD, events=["Bench 7"])
    env = {**os.environ, "INCIDENTS_DATABASE_URL": url, "INCIDENTS_SECRET_KEY": "bench", "INCIDENTS_MASTER_KEY": key,
           "INCIDENTS_TICK_SECONDS": "0", "PYTHONPATH": str(ROOT)}
    return system, env


def interleaved(*calls, rounds):
    """Each call's timings over `rounds` rounds, the calls taking turns (A B A B ...): the machine's slow
    and fast moments fall on both alike, so their ratio holds better than two figures taken minutes apart."""
    samples = [[] for _ in calls]
    for _ in range(rounds):
        for timings, call in zip(samples, calls):
            timings.append(call())
    return samples


def alongside(floor, call, rounds, block=20):
    """`rounds` timings of `floor` and of `call`, taken in blocks of `block` that take turns."""
    floors, calls = [], []
    while len(calls) < rounds:
        floors += [floor() for _ in range(min(block, rounds - len(floors)))]
        calls += [call() for _ in range(min(block, rounds - len(calls)))]
    return floors, calls


def bench_database(label, url, small_url, tmp, step):
    """The figures of one database kind: a fresh database, then grown to 100,000 cases, measured in turn with a
    second database of 1,000 cases served at the same time. Returns the rows (name, timings, the floor timings
    to compare with or None) and the summary figures."""
    system, env = _setup(url)
    small, small_env = _setup(small_url)
    server, port = serve(env, tmp)
    small_server = None
    rows = []
    # this process is the client and the floor: what it built so far is left out of garbage collections, as the
    # served workers do with theirs (cli/gunicorn_conf.py), so a full collection does not land in a timing
    gc.collect()
    gc.freeze()
    try:
        client = Client(port, "olga")
        opened = [client.timed("POST", "/api/cases", intake(), expect=201)[0] for _ in range(N)]
        tasks = iter(ready_for_assess(client, N))
        floor, complete = alongside(step, lambda: client.timed("POST", f"/api/tasks/{next(tasks)[1]}",
                                                               {"data": ASSESS})[0], N)
        rows.append((f"{label}: raw engine, alongside its completions", floor, floor))
        rows.append((f"{label}: open a case (HTTP)", opened, floor))
        rows.append((f"{label}: complete a task (HTTP)", complete, floor))

        fill(system, 100_000 - case_count(system))
        fill(small, 1000 - case_count(small))
        small_server, small_port = serve(small_env, tmp)
        small_client, stan, small_stan = Client(small_port, "olga"), Client(port, "stan"), Client(small_port, "stan")
        big_tasks, small_tasks = iter(ready_for_assess(client, N)), iter(ready_for_assess(small_client, N))
        at_100k, at_1k = interleaved(
            lambda: client.timed("POST", f"/api/tasks/{next(big_tasks)[1]}", {"data": ASSESS})[0],
            lambda: small_client.timed("POST", f"/api/tasks/{next(small_tasks)[1]}", {"data": ASSESS})[0],
            rounds=N)
        # the inboxes one server after the other, like every other absolute figure here (alternating servers
        # costs each request a worker whose caches the other server's requests have cooled: 0.2-0.5 ms more)
        inbox = [stan.timed("GET", "/api/tasks")[0] for _ in range(N)]
        inbox_1k = [small_stan.timed("GET", "/api/tasks")[0] for _ in range(N)]
        some_case = ready_for_assess(client, 1)[0][0]
        history = [client.timed("GET", f"/api/cases/{some_case}/history")[0] for _ in range(N)]
        rows.append((f"{label}: inbox at 1,000 cases", inbox_1k, None))
        rows.append((f"{label}: inbox at 100,000 cases", inbox, None))
        rows.append((f"{label}: history at 100,000 cases", history, None))
        rows.append((f"{label}: complete at 1,000 cases", at_1k, floor))
        rows.append((f"{label}: complete at 100,000 cases", at_100k, floor))
        ratio = statistics.median(at_100k) / statistics.median(at_1k)
        open_bytes = stored_bytes(system, some_case)
        closed_bytes = stored_bytes(system, close_case(system, ("olga", "tom", "orla")))
        # and what they take on disk, indexes and page overhead included: the growth of the database of 1,000
        # cases (where PostgreSQL's VACUUM FULL is quick) by cases made through the use cases
        disk = (growth_per_case(small, OPEN_COPIES, lambda: open_at_second_task(small)),
                growth_per_case(small, CLOSED_COPIES, lambda: close_case(small, ("olga", "tom", "orla"))))
    finally:
        for running in (server, small_server):
            if running is not None:
                os.killpg(running.pid, signal.SIGTERM)
                running.wait(timeout=30)
        system.db.dispose()
        small.db.dispose()
        for database in (url, small_url):  # gigabytes the next database's commits would wait behind
            path = make_url(database).database
            if database.startswith("sqlite") and path:
                for suffix in ("", "-wal", "-shm"):
                    Path(path + suffix).unlink(missing_ok=True)
        os.sync()
    return rows, ratio, (open_bytes, closed_bytes) + disk


def postgres_schema():
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return admin, schema


def main():
    tmp = Path(tempfile.mkdtemp())
    floor_system = build(Settings(database_url=f"sqlite:///{tmp / 'floor.sqlite3'}", master_key=generate_master_key(),
                                  bpmn_dir=str(ROOT / "bpmn")))
    step = floor_step(floor_system.processes.runner(floor_system.processes.current.hash))
    raw = [step() for _ in range(N)]
    results = [("raw engine: load + complete + save, in a row", raw, raw)]
    summary, targets_line = [], []
    targets = {"SQLite": 3, "SQLite-normal": 3, "PostgreSQL": 4}
    admin, schema = postgres_schema()
    _, small_schema = postgres_schema()
    try:
        for label, url, small_url in (
                ("SQLite", f"sqlite:///{tmp / 'bench.sqlite3'}", f"sqlite:///{tmp / 'small.sqlite3'}"),
                ("SQLite-normal", f"sqlite:///{tmp / 'normal.sqlite3'}?synchronous=normal",
                 f"sqlite:///{tmp / 'normal-small.sqlite3'}?synchronous=normal"),
                ("PostgreSQL", f"{POSTGRES}?options=-csearch_path%3D{schema}",
                 f"{POSTGRES}?options=-csearch_path%3D{small_schema}")):
            if label.lower() not in DATABASES:
                continue
            rows, ratio, (open_bytes, closed_bytes, open_disk, closed_disk) = bench_database(
                label, url, small_url, tmp, step)
            results += rows
            # single figures, in the table's first column
            summary += [(f"{label}: completion 100k / 1k cases (ratio)", ratio),
                        (f"{label}: stored KB per open case", open_bytes / 1000),
                        (f"{label}: stored KB per closed case", closed_bytes / 1000),
                        (f"{label}: on disk KB per open case", open_disk / 1000),
                        (f"{label}: on disk KB per closed case", closed_disk / 1000)]
            targets_line.append(f"{label} complete p50 <= {targets[label]}x raw")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text(f'DROP SCHEMA "{small_schema}" CASCADE'))
        admin.dispose()
    replay_bench = ReplayBench()  # a case of 50 events, made through the use cases on a SQLite file
    long_case = replay_bench.long_case()
    _, _, whole = time_replay(replay_bench, long_case, 21)
    replay_bench.system.db.dispose()
    print(f"incidents serve (gunicorn, 2 workers), {N} samples per figure, one client, requests in turn")
    print(f"{'measure':<44}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'x raw':>8}")
    for name, samples, floor in results:
        p50, p95, p99 = percentiles(samples)
        ratio = f"{p50 / (statistics.median(floor) * 1000):>8.2f}" if floor else f"{'':>8}"
        print(f"{name:<44}{p50:>8.2f}{p95:>8.2f}{p99:>8.2f}{ratio}")
    for name, figure in summary:
        print(f"{name:<44}{figure:>8.2f}")
    print(f"{'replay + verify a 50-event case (median of 21)':<44}{whole * 1000:>8.2f}")
    print("targets: " + "; ".join(targets_line) + "; p99 < 20 ms; inbox at 100,000 cases p50 < 3 ms; "
          "completion 100k / 1k < 1.2")


if __name__ == "__main__":
    main()
