"""Prints what replay costs: one case of 50 events (median of several runs), and `verify --all` over 10,000 cases.

Cases are made through the real use cases, then replayed: the engine alone (events already decrypted),
and the whole verdict (read the events, check the chain, decrypt, replay, compare with the stored
case). Then 10,000 cases (one in ten of 50 events, the others short) are made on a SQLite file and on
PostgreSQL, and the real command `incidents verify --all` is timed over each database. Making the
cases takes most of the run (about 15 minutes on 2 cores). Run with `make bench-detail` (or
`python bench/replay.py --cases N --databases sqlite`).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import audit, cases, history, users, views  # noqa: E402
from engine.casestate import ready_rows  # noqa: E402
from engine.config import ROOT, Settings  # noqa: E402
from engine.crypto import generate_master_key  # noqa: E402
from engine.models import Case  # noqa: E402
from engine.replay import Replayer  # noqa: E402
from engine.system import build  # noqa: E402

EVENT = "Bench"
INTAKE = {"event_name": EVENT, "event_format": "in_person", "region": "europe", "opened_by_role": "onsite_staff",
          "reporter_anonymous": True}
SAFETY = [("olga", "call_incident_team", {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}),
          ("olga", "assess_safety", {"general_threat": False}),
          ("olga", "ask_victim_law_enforcement", {"victim_requests_law_enforcement": True}),
          ("olga", "involve_law_enforcement", {"involved": "security", "involved_at": "2026-11-24T10:10"}),
          ("olga", "support_victim", {"offered_private_place": True, "explained_role_and_asked": True,
                                      "gave_emergency_contacts": True})]
REPORT = [("olga", "choose_account_writer", {"written_by": "staff_transcription"}),
          ("olga", "transcribe_account", {"harasser_identification": "M", "behavior": "B",
                                          "approximate_time": "22:00"}),
          ("olga", "send_report", {"report_reviewed": True})]
DISTRESS = ("olga", "respond_to_distress", {"feelings_acknowledged": True, "reassured": True, "channels_offered": True})


def decision_round(n, revise):
    steps = [("tom", "review_report", {"policy_assessment": f"a{n}"}),
             ("orla", "add_organizer_view", {"organizer_view": f"v{n}"}),
             ("tom", "decide_action", {"action": "temporary_suspension", "suspension_length": f"{n} events",
                                       "rationale": "r", "decided_with": "Olga"}),
             ("olga", "meet_harasser", {"report_summarized": True, "decision_notified": True,
                                        "harasser_disputes": revise,
                                        **({"harasser_account": "A joke"} if revise else {})})]
    return steps + ([("olga", "reconsider_decision", {"decision_revised": True, "reconsider_reason": "x"})]
                    if revise else [])


CLOSING = [("tom", "send_written_notice", {"notice_sent_at": "2026-11-24T12:00",
                                           "reason_shared_with_organizers": False}),
           ("orla", "acknowledge_sanction", {"sanction_acknowledged": True}),
           ("olga", "inform_aware_people", {"informed_people": ["K"], "no_details_shared": True,
                                            "message_text": "Action was taken."}),
           ("tom", "decide_announcement", {"announcement_needed": True, "announcer": "organizer"}),
           ("orla", "draft_announcement", {"announcement_text": "Draft", "announcement_timing": "closing"}),
           ("tom", "approve_wording", {"wording_approved": False, "wording_feedback": "Shorter"}),
           ("orla", "draft_announcement", {"announcement_text": "Action was taken.", "announcement_timing": "closing"}),
           ("tom", "approve_wording", {"wording_approved": True}),
           ("orla", "deliver_announcement", {"delivered_at": "2026-11-24T18:00"})]


class Bench:
    """A system on a fresh SQLite file with one user per role, and a way to drive cases through it."""

    def __init__(self, url=None):
        tmp = Path(tempfile.mkdtemp())
        self.url = url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        self.master_key = generate_master_key()
        self.system = build(Settings(database_url=self.url, secret_key="bench", secret_key_file=str(tmp / "key"),
                                     master_key=self.master_key, bpmn_dir=str(ROOT / "bpmn")))
        self.system.create_schema()
        self.actors = {}
        for name, role in (("olga", "onsite_staff"), ("tom", "incident_team"), ("orla", "organizer"),
                           ("audrey", "auditor")):
            with self.system.writing() as uow:
                self.actors[name] = users.add_user(uow, name, [role], "bench password", events=[EVENT])

    def open(self):
        with self.system.writing() as uow:
            return cases.open_case(uow, self.system.processes, self.actors["olga"], INTAKE)["id"]

    def do(self, case_id, user, task, data):
        with self.system.reading() as uow:
            ready = ready_rows(uow.session, case_id)
            task_id = next((r.id for r in ready if r.task == task), None)
            if task_id is None:
                raise SystemExit(f"case {case_id}: {task} is not ready; ready: {[r.task for r in ready]}")
        with self.system.writing() as uow:
            cases.complete_task(uow, self.system.processes, self.actors[user], task_id, data)

    def message(self, case_id, name, user="olga"):
        with self.system.writing() as uow:
            cases.raise_message(uow, self.system.processes, self.actors[user], case_id, name, {"note": "n"})

    def view(self, case_id):
        with self.system.writing() as uow:
            views.case_history(uow, self.actors["audrey"], case_id)

    def long_case(self) -> int:
        """50 events: every stage, a revised decision, a sent-back announcement, distress, safety, an appeal, views."""
        cid = self.open()
        for step in SAFETY + REPORT:
            self.do(cid, *step)
        self.message(cid, "safety_concern")
        self.do(cid, "olga", "summon_security_now", {"summoned": "security", "summoned_at": "2026-11-24T11:00"})
        for step in decision_round(1, True) + decision_round(2, False):
            self.do(cid, *step)
        for _ in range(6):
            self.message(cid, "attendee_distressed")
            self.do(cid, *DISTRESS)
        for step in CLOSING:
            self.do(cid, *step)
        self.do(cid, "tom", "close_case", {"closing_summary": "Done."})
        self.message(cid, "appeal", "tom")
        self.do(cid, "tom", "decide_appeal", {"appeal_outcome": "upheld", "appeal_rationale": "stands"})
        while self.events(cid) < 50:
            self.view(cid)
        return cid

    def short_case(self, steps) -> int:
        cid = self.open()
        for step in (SAFETY + REPORT)[:steps]:
            self.do(cid, *step)
        return cid

    def events(self, case_id) -> int:
        with self.system.reading() as uow:
            return uow.session.get(Case, case_id).last_seq


def spiff_steps(runner, events):
    """The same events through SpiffWorkflow with nothing checked: the floor any replay stands on."""
    workflow = None
    for event in events:
        if event.type == "case_started":
            workflow = runner.start(event.data, at=event.at)
        elif event.type == "task_completed":
            task = next(t for t in runner.ready_tasks(workflow, {}) if t.task == event.task)
            runner.complete(workflow, task.id, event.data, at=event.at)
        elif event.type == "message_raised":
            runner.catch_message(workflow, event.task, event.data, at=event.at)
        elif event.type == "timer_fired":
            runner.refresh(workflow, at=event.at)


def time_replay(bench, case_id, runs):
    """Median seconds of: SpiffWorkflow's steps alone, the replay (events decrypted), the whole verdict."""
    system = bench.system
    floor, engine_only, whole = [], [], []
    with system.reading() as uow:
        case = uow.session.get(Case, case_id)
        events = audit.recorded(history.events_of(uow.session, case_id))
        runner = system.processes.runner(case.process_version, uow.session)
        for _ in range(runs):
            started = time.perf_counter()
            spiff_steps(runner, events)
            floor.append(time.perf_counter() - started)
            started = time.perf_counter()
            replayer = Replayer(runner, case.cipher)
            for event in events:
                replayer.apply(event)
            engine_only.append(time.perf_counter() - started)
    for _ in range(runs):
        with system.reading() as uow:
            started = time.perf_counter()
            found = audit.verdict(uow.session, system.processes, uow.session.get(Case, case_id))
            whole.append(time.perf_counter() - started)
        assert found.outcome == "verified", found.describe()
    return statistics.median(floor), statistics.median(engine_only), statistics.median(whole)


POSTGRES = os.environ.get("INCIDENTS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def make_mix(bench, count, first=None) -> tuple:
    """`count` cases, one in ten of 50 events and the others of 1 to 8 steps; returns (events, seconds to make)."""
    started = time.perf_counter()
    mix = [first] if first is not None else []
    while len(mix) < count:
        i = len(mix)
        mix.append(bench.long_case() if i % 10 == 0 else bench.short_case(i % 9))
    made = time.perf_counter() - started
    with bench.system.reading() as uow:
        events = uow.session.scalar(text("SELECT COUNT(*) FROM case_events"))
    return events, made


def verify_all(bench) -> tuple:
    """Run the real `incidents verify --all` on the bench's database: (seconds, its summary line)."""
    env = {**os.environ, "INCIDENTS_DATABASE_URL": bench.url, "INCIDENTS_MASTER_KEY": bench.master_key,
           "INCIDENTS_SECRET_KEY": "bench", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "cli.main", "verify", "--all"], env=env, cwd=ROOT,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"verify --all failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds, result.stdout.strip().splitlines()[-1]


def postgres_database():
    """A fresh schema on the PostgreSQL server: (its URL, a function that drops it)."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return f"{POSTGRES}?options=-csearch_path%3D{schema}", drop


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases for verify --all (default 10,000)")
    parser.add_argument("--runs", type=int, default=21, help="replays of the 50-event case (default 21)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="where verify --all runs (default both)")
    args = parser.parse_args()
    bench = Bench()
    long_id = bench.long_case()
    floor, engine_only, whole = time_replay(bench, long_id, args.runs)
    print(f"replay of one case of {bench.events(long_id)} events (median of {args.runs} runs, SQLite file):")
    print(f"  SpiffWorkflow's own steps, nothing checked     {floor * 1000:7.1f} ms")
    print(f"  replay with every step compared (decrypted)    {engine_only * 1000:7.1f} ms "
          f"({engine_only / floor:.2f}x)")
    print(f"  whole verdict: read, chain, decrypt, replay,   {whole * 1000:7.1f} ms ({whole / floor:.2f}x)")
    print("  compare with the stored case", flush=True)

    for name in args.databases.split(","):
        drop = None
        if name == "sqlite":
            target, first = bench, long_id
        elif name == "postgresql":
            url, drop = postgres_database()
            target, first = Bench(url), None
        else:
            raise SystemExit(f"unknown database {name!r}: sqlite or postgresql")
        try:
            events, made = make_mix(target, args.cases, first)
            seconds, summary = verify_all(target)
        finally:
            target.system.db.dispose()
            if drop is not None:
                drop()
        print(f"incidents verify --all on {name}, {args.cases:,} cases, {events:,} events (made in {made / 60:.0f} min):")
        print(f"  {seconds:.1f} s ({seconds / 60:.1f} min), {args.cases / seconds:.0f} cases/s, "
              f"{events / seconds:.0f} events/s, the command included", flush=True)
        print(f"  its summary: {summary}", flush=True)


if __name__ == "__main__":
    main()
