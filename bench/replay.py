"""Prints what replay costs: one case of 50 events (median of several runs), and the rate of `verify --all`.

Cases are made through the real use cases on a SQLite file, then replayed: the engine alone (events
already decrypted), and the whole verdict (read the events, check the chain, decrypt, replay, compare
with the stored case). `verify --all` is timed over a mix of short and long cases and extrapolated to
10,000 cases. Run with `make bench` (or `python bench/replay.py --cases N`).
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import audit, cases, history, users, views  # noqa: E402
from engine.casestate import ready_rows  # noqa: E402
from engine.config import ROOT, Settings  # noqa: E402
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

    def __init__(self):
        tmp = Path(tempfile.mkdtemp())
        self.system = build(Settings(database_url=f"sqlite:///{tmp / 'bench.sqlite3'}", secret_key="bench",
                                     secret_key_file=str(tmp / "key"), master_key_file=str(tmp / "master_key"),
                                     bpmn_dir=str(ROOT / "bpmn")), create_key=True)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="cases for the verify --all rate (default 200)")
    parser.add_argument("--runs", type=int, default=21, help="replays of the 50-event case (default 21)")
    args = parser.parse_args()
    bench = Bench()
    long_id = bench.long_case()
    floor, engine_only, whole = time_replay(bench, long_id, args.runs)
    print(f"replay of one case of {bench.events(long_id)} events (median of {args.runs} runs, SQLite file):")
    print(f"  SpiffWorkflow's own steps, nothing checked     {floor * 1000:7.1f} ms")
    print(f"  replay with every step compared (decrypted)    {engine_only * 1000:7.1f} ms "
          f"({engine_only / floor:.2f}x)")
    print(f"  whole verdict: read, chain, decrypt, replay,   {whole * 1000:7.1f} ms ({whole / floor:.2f}x)")
    print("  compare with the stored case")

    made = time.perf_counter()
    mix = [long_id] + [bench.long_case() if i % 10 == 0 else bench.short_case(i % 9) for i in range(args.cases - 1)]
    made = time.perf_counter() - made
    total_events = sum(bench.events(cid) for cid in mix)
    started = time.perf_counter()
    with bench.system.reading() as uow:
        outcomes = [found.outcome for found in audit.verify_cases(uow.session, bench.system.processes)]
    seconds = time.perf_counter() - started
    assert outcomes == ["verified"] * len(mix), outcomes
    rate = len(mix) / seconds
    print(f"verify --all over {len(mix)} cases ({total_events} events, one in ten of 50 events; made in {made:.0f} s):")
    print(f"  {seconds:.1f} s, {rate:.0f} cases/s, {total_events / seconds:.0f} events/s; "
          f"10,000 such cases: about {10000 / rate / 60:.1f} minutes")


if __name__ == "__main__":
    main()
