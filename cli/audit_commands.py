"""`incidents replay`, `verify --all`, `export` and `verify-export`: what an auditor runs on the command line."""
import json
import shlex
import sys
import time
from pathlib import Path

from engine import audit, export
from engine.crypto import MasterKeyError
from engine.errors import NotFound

from .progress import Progress
from .report import render_report


def cmd_replay(args, system):
    """Replay one case step by step; with --step N also print the state after event N (a recorded view)."""
    try:
        with system.writing() as uow:
            view = audit.operator_replay(uow, system.processes, audit.operator_name(), args.case, args.step)
    except NotFound as err:
        print(f"incidents: {err}", file=sys.stderr)
        return 2
    except MasterKeyError as err:
        print(f"incidents: {err}", file=sys.stderr)
        return 2
    print(f"case {view['case_id']} on process version {view['process_version'][:12]}: {view['events']} events")
    for step in view["steps"]:
        what = step["type"] + (f" {step['task']}" if step["task"] else "")
        print(f"  #{step['seq']:<4} {step['at'][:19].replace('T', ' ')}  {what:<45} {step['role']:<14} "
              f"ready: {', '.join(step['ready']) or '-'}")
    shown = _print_state(view, args.step) if args.step is not None else True
    print(view["description"])
    # a state asked for and not given (a purged case's data is gone) is a failure for a script, not a success
    return 0 if view["outcome"] in ("verified", "purged") and shown else 1


def _print_state(view, step):
    state = view.get("state")
    if state is None:
        if view["outcome"] == "broken":
            print(f"no state after event {step}: the hash chain is broken, so nothing was replayed")
        elif view["purged_at"]:
            print(f"no state after event {step}: the case was purged on {view['purged_at'][:10]} and its data "
                  "can no longer be replayed")
        else:
            print(f"no state after event {step}: the replay did not get that far")
        return False
    print(f"\nstate after event {step} ({state['type']}{' ' + state['task'] if state['task'] else ''}):")
    print(f"  process version: {state['process_version'][:12]}")
    print(f"  status: {state['status']}")
    print(f"  ready: {', '.join(state['ready']) or '-'}")
    for name, ids in sorted(state["markers"]["completed"].items()):
        print(f"  completed in {name}: {', '.join(ids)}")
    print("  data:")
    for line in json.dumps(state["data"], indent=2, sort_keys=True, ensure_ascii=False).splitlines():
        print(f"    {line}")
    return True


def cmd_verify_all(args, system):
    """Check every case's hash chain and replay it; a progress bar on stderr, a summary on stdout."""
    if system.master_key is None:
        print("incidents: verify --all replays every case and needs the master key (INCIDENTS_MASTER_KEY or "
              "INCIDENTS_MASTER_KEY_FILE); `incidents verify` checks the hash chains without it", file=sys.stderr)
        return 2
    counts = {"verified": 0, "purged": 0, "differs": 0, "broken": 0}
    events, started = 0, time.monotonic()
    with system.reading() as uow:
        progress = Progress(audit.count_cases(uow.session), "cases")
        uow.session.rollback()  # the count ran in a transaction of its own; the check reads one snapshot
        for found in audit.verify_cases(uow.session, system.processes):
            counts[found.outcome] += 1
            events += found.events
            progress.step()
            if not found.ok:
                print(f"case {found.case_id}: {found.outcome.upper()}: {found.describe()}")
        progress.finish()
    seconds = time.monotonic() - started
    cases = sum(counts.values())
    print(f"{cases} cases, {events} events in {seconds:.1f} s ({cases / seconds if seconds else 0:.0f} cases/s): "
          f"{counts['verified']} verified, {counts['purged']} purged (chain verified, data destroyed), "
          f"{counts['differs']} differ, {counts['broken']} broken")
    return 1 if counts["differs"] or counts["broken"] else 0


def cmd_export(args, system):
    """Write one case as JSON Lines and its printable report (HTML); the export is a recorded view."""
    output = Path(args.output)
    report = Path(args.report) if args.report else output.with_suffix(".html")
    if report.resolve() == output.resolve():
        print("incidents: --report must differ from --output", file=sys.stderr)
        return 2
    try:
        with system.writing() as uow:
            records, story = export.export_case(uow, system.processes, audit.operator_name(), args.case)
    except (NotFound, MasterKeyError) as err:
        print(f"incidents: {err}", file=sys.stderr)
        return 2
    output.write_text(export.dumps(records), encoding="utf-8")
    report.write_text(render_report(records, story, output.name), encoding="utf-8")
    header = records[0]
    print(f"exported case {header['case_id']}: {header['events']} events to {output}; report: {report}")
    print(f"head hash {header['head_hash']} (event {header['events']}); {story['verdict']['description']}")
    # the file alone proves only that it agrees with itself: the head hash, kept elsewhere, anchors it
    print("Record this head hash where the export's holders cannot change it; check a copy of the export with:")
    print(f"  incidents verify-export {shlex.quote(str(output))} --head {header['head_hash']}")
    return 0


def cmd_verify_export(args):
    """Check an export file alone (no database, no server, no key); name the first bad line."""
    try:
        with open(args.file, encoding="utf-8") as handle:
            found = export.verify_export(handle, expected_head=args.head)
    except OSError as err:
        print(f"incidents: cannot read {args.file}: {err.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"incidents: {args.file} is not UTF-8 text", file=sys.stderr)
        return 1
    if not found.ok:
        print(f"{args.file}: INVALID: {found.problem}")
        return 1
    text = found.plaintext
    if args.head:
        print(f"{args.file}: intact: case {found.case_id}, {found.events} events, ending in the expected head hash "
              f"{found.head_hash}")
    else:
        print(f"{args.file}: internally consistent: case {found.case_id}, {found.events} events, head hash "
              f"{found.head_hash}")
    print(f"plaintext: {text['checked']} checked against their digests, {text['public']} public records match, "
          f"{text['unchecked']} recorded before digests (not checkable), {text['absent']} destroyed by a purge")
    print(f"information only (no hash covers it): the header's {', '.join(export.UNCOVERED_HEADER)}")
    if found.unchecked_versions:
        print(f"process versions recorded without their forms (files not checkable): "
              f"{', '.join(v[:12] for v in found.unchecked_versions)}")
    if not args.head:
        print(UNANCHORED.format(head=found.head_hash, events=found.events, file=shlex.quote(args.file)))
    return 0


UNANCHORED = """\
NOT PROVED: that this file is the case's recorded history. Without --head this check proved internal
consistency only: an export rewritten wholesale, with every hash recomputed, passes it too.
Compare its head hash {head} with one recorded elsewhere: the printed report or the
`incidents export` output made when it was exported, or the live case (event {events}'s hash on the
case's timeline, or in GET /api/cases/<id>/history). Then check it against that hash:
  incidents verify-export {file} --head <the recorded head hash>"""
