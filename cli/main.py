"""`incidents`: init, serve, user management, demo users, diagram validation, process tests, publishing,
moving a case to another process version, timers, verification, replay, export, purge and notifications."""
import argparse
import getpass
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from engine import case_moves, delivery, history, notifications, publishing, retention, timers, users, webhooks
from engine.config import Settings
from engine.crypto import MasterKeyError
from engine.diagrams import load_directory
from engine.errors import DiagramError, IncidentsError, InvalidSubmission, NotAllowed
from engine.processtests import every_element, run_process_tests
from engine.system import build
from forms import FORMS

from . import audit_commands

DEMO_EVENT = "Demo Hackathon"
DEMO_USERS = [
    ("onsite", ["onsite_staff"], "onsite-demo-pass"),
    ("team", ["incident_team"], "team-demo-pass"),
    ("organizer", ["organizer"], "organizer-demo-pass"),
    ("auditor", ["auditor"], "auditor-demo-pass"),
    ("policy", ["policy"], "policy-demo-pass"),
]


def _system(settings, create_key=False, need_key=True):
    try:
        return build(settings, create_key=create_key, need_key=need_key)
    except DiagramError as err:
        raise SystemExit(f"incidents: the diagrams do not load: {err}") from None
    except MasterKeyError as err:
        raise SystemExit(f"incidents: {err}") from None


def cmd_init(args, settings):
    """Create (or bring up to date) the database schema; creates the master key file if there is no key."""
    system = _system(settings, create_key=True)
    system.create_schema()
    print(f"database ready: {system.db.url.render_as_string(hide_password=True)}")


def cmd_validate(args, settings):
    """Load and lint every diagram in a directory; exit non-zero naming the first problem."""
    directory = args.directory or settings.bpmn_dir
    try:
        version = load_directory(directory, FORMS)
    except DiagramError as err:
        print(f"invalid: {err}", file=sys.stderr)
        return 1
    print(f"valid: {len(version.files)} files, {len(version.user_tasks)} user tasks, version {version.hash[:12]}")
    return 0


def cmd_test_process(args, settings):
    """Run process tests (YAML) on the diagrams without a database; one line per test, exit 1 if any fails."""
    directory = Path(args.diagrams or settings.bpmn_dir)
    try:
        version = load_directory(directory, FORMS)
    except DiagramError as err:
        print(f"invalid diagrams: {err}", file=sys.stderr)
        return 1
    files = args.files or sorted(p for p in (directory / "tests").glob("*.y*ml") if p.suffix in (".yaml", ".yml"))
    if not files:
        print(f"no process tests: give files, or put .yaml files in {directory / 'tests'}", file=sys.stderr)
        return 1
    results = run_process_tests(version, files)
    for result in results:
        done = f"{result.steps_run} steps" if result.passed else f"stopped after {result.steps_run} steps"
        print(f"{'PASS' if result.passed else 'FAIL'} {_shown(result.file)}: {result.name} ({done})")
        for failure in result.failures:
            print(f"    {failure}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results)} process tests: {len(results) - failed} passed, {failed} failed")
    elements = every_element(version)
    missed = sorted(elements - set().union(*(r.elements for r in results)))
    print(f"diagram elements run: {len(elements) - len(missed)} of {len(elements)}"
          + (f"; never run: {', '.join(missed)}" if missed else ""))
    return 1 if failed else 0


def _shown(path):
    """A path relative to the working directory when it is below it (shorter lines), else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _refused(err: InvalidSubmission) -> int:
    for field, messages in err.errors.items():
        print(f"{field}: {' '.join(messages)}", file=sys.stderr)
    return 1


def cmd_user_add(args, settings):
    """Create a staff user with one or more roles."""
    password = args.password or getpass.getpass("Password: ")
    system = _system(settings)
    try:
        with system.writing() as uow:
            actor = users.add_user(uow, args.name, args.role, password, events=args.event, email=args.email)
    except InvalidSubmission as err:
        return _refused(err)
    events = f"; events {', '.join(sorted(actor.events))}" if actor.events else ""
    print(f"added {actor.username} with roles {', '.join(sorted(actor.roles))}{events}")
    return 0


def cmd_user_set_email(args, settings):
    """Set or remove the address a user's notifications are emailed to."""
    system = _system(settings)
    try:
        with system.writing() as uow:
            email = users.set_email(uow, args.name, args.email)
    except InvalidSubmission as err:
        return _refused(err)
    print(f"{args.name}: notifications by email to {email}" if email else
          f"{args.name}: no email address; notifications stay in the outbox")
    return 0


def cmd_webhook_set(args, settings):
    """Tell an incoming webhook (Slack or Discord) about ready tasks of an event's cases."""
    if not settings.public_url:  # a post's link must open from a chat app: a bare /tasks/... path does not
        print("INCIDENTS_PUBLIC_URL is not set: a webhook post links to the task with it (e.g. "
              "https://incidents.example.org); set it, then set the webhook", file=sys.stderr)
        return 1
    system = _system(settings)
    try:
        with system.writing() as uow:
            hook = webhooks.set_webhook(uow, args.event, args.url)
    except InvalidSubmission as err:
        return _refused(err)
    print(f"{hook['event_name']}: ready tasks are posted to the webhook at {hook['host']}")
    return 0


def cmd_webhook_remove(args, settings):
    """Stop posting an event's ready tasks to its webhook."""
    with _system(settings).writing() as uow:
        removed = webhooks.remove_webhook(uow, args.event)
    print(f"{args.event}: webhook removed" if removed else f"{args.event}: had no webhook")
    return 0 if removed else 1


def cmd_webhook_list(args, settings):
    """List the events with a webhook (host only: the full URL is a credential)."""
    with _system(settings).reading() as uow:
        hooks = webhooks.list_webhooks(uow)
    for hook in hooks:
        print(f"{hook['event_name']}\t{hook['host']}")
    print(f"{len(hooks)} webhooks")
    return 0


def cmd_outbox(args, settings):
    """List the notifications, newest first; with --send, deliver every pending one now first."""
    system = _system(settings)
    if args.send:
        report = delivery.deliver(system, due_only=False)
        print("delivered: " + (", ".join(f"{n} {status}" for status, n in sorted(report.items())) or "nothing pending"))
    try:
        with system.reading() as uow:
            messages = notifications.list_all(uow, status=args.status, limit=args.limit)
    except InvalidSubmission as err:
        return _refused(err)
    for m in messages:
        tries = f" after {m['attempts']} attempts" if m["attempts"] > 1 else ""
        print(f"{m['id']}\t{m['created_at'][:16]}\t{m['status']}{tries}\t{m['channel']} {m['recipient']}\t"
              f"{m['event_name']}: {m['title']}\t/tasks/{m['task_id']}" + (f"\t({m['detail']})" if m["detail"] else ""))
    print(f"{len(messages)} notifications shown")
    return 0


def cmd_user_assign(args, settings):
    """Add events a user works at (on-site staff and organizers see only their events' cases)."""
    system = _system(settings)
    try:
        with system.writing() as uow:
            actor = users.assign_events(uow, args.name, args.event)
    except InvalidSubmission as err:
        return _refused(err)
    print(f"{actor.username} works at: {', '.join(sorted(actor.events))}")
    return 0


def cmd_seed_demo(args, settings):
    """Create one demo user per role (if missing) and print their logins."""
    system = _system(settings)
    print(f"Demo logins (for trying it out on 127.0.0.1 only; event: {DEMO_EVENT}):")
    for name, roles, password in DEMO_USERS:
        try:
            with system.writing() as uow:
                users.add_user(uow, name, roles, password, events=[DEMO_EVENT])
        except InvalidSubmission:
            pass  # already there from an earlier run
        print(f"  {name:<10} {password:<20} {', '.join(roles)}")
    return 0


def cmd_verify(args, settings):
    """Check every case's hash chain; name the first broken link of each broken case (needs no master key).

    With --all, also replay every case (needs the master key).
    """
    system = _system(settings, need_key=False)
    if args.all:
        return audit_commands.cmd_verify_all(args, system)
    checked = broken = events = 0
    with system.reading() as uow:
        for report in history.verify_all(uow.session):
            checked += 1
            events += report.events
            if not report.ok:
                broken += 1
                print(f"case {report.case_id}: BROKEN at {report.problem}")
    print(f"{checked} cases, {events} events checked: {checked - broken} intact, {broken} broken")
    return 1 if broken else 0


def cmd_purge(args, settings):
    """Destroy the keys of cases closed before a date (crypto-shredding); the purge is recorded in each history."""
    try:
        day = datetime.fromisoformat(args.closed_before)
    except ValueError:
        print(f"--closed-before: '{args.closed_before}' is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    closed_before = day if day.tzinfo else day.replace(tzinfo=timezone.utc)
    system = _system(settings)
    if args.dry_run:
        with system.reading() as uow:
            ids = retention.purgeable(uow.session, closed_before)
        print(f"{len(ids)} closed cases would be purged: {', '.join(map(str, ids)) or 'none'}")
        return 0
    try:
        ids = retention.purge_closed_before(system, closed_before, f"retention ({getpass.getuser()})")
    except ValueError as err:
        print(f"--closed-before: {err}", file=sys.stderr)
        return 2
    print(f"{len(ids)} closed cases purged: {', '.join(map(str, ids)) or 'none'}")
    return 0


def cmd_publish(args, settings):
    """Validate changed diagram, DMN and form files as a draft and publish them as a new version."""
    files, tests = {}, {}
    for path, into in [(p, files) for p in args.paths] + [(p, tests) for p in args.test]:
        try:
            into[os.path.basename(path)] = open(path, encoding="utf-8").read()
        except (OSError, UnicodeDecodeError) as err:
            print(f"{path}: cannot be read ({err})", file=sys.stderr)
            return 2
    system = _system(settings)
    try:
        with system.writing() as uow:
            actor = users.actor_for(uow, args.by)
        if actor is None:
            print(f"--by: no active user {args.by!r}", file=sys.stderr)
            return 2
        with system.writing() as uow:
            draft = publishing.create_draft(uow, system.processes, actor, files, args.remove, tests=tests)
        for error in draft["errors"]:
            where = ", ".join(str(x) for x in (error["file"], error["line"] and f"line {error['line']}",
                                                error["element"] and f"element '{error['element']}'") if x)
            print(f"invalid: {where + ': ' if where else ''}{error['message']}", file=sys.stderr)
        if draft["errors"]:
            return 1
        for change in draft["changes"]:
            print(f"  {change['change']:<8} {change['kind']:<10} {change['id']} {' '.join(change['fields'])}".rstrip())
        with system.writing() as uow:
            version = publishing.publish_draft(uow, system.processes, actor, draft["id"], args.note)
    except InvalidSubmission as err:
        return _refused(err)
    except NotAllowed as err:
        return _refused(InvalidSubmission({"by": [str(err)]}))
    print(f"published version {version['hash'][:12]} (draft {draft['id']}); new cases start on it")
    return 0


def cmd_move_case(args, settings):
    """Move an open case to another published process version, as a policy staff account (recorded in its history)."""
    system = _system(settings)
    with system.reading() as uow:
        actor = users.actor_for(uow, args.by)
    if actor is None:
        print(f"--by: no active staff account named '{args.by}'", file=sys.stderr)
        return 2
    try:
        with system.writing() as uow:
            moved = case_moves.move_case(uow, system.processes, actor, args.case, args.version)
    except InvalidSubmission as err:
        return _refused(err) + 1  # exit 2: the command line was wrong
    except IncidentsError as err:
        print(f"not moved: {err}", file=sys.stderr)
        return 1
    print(f"case {moved['id']} moved from version {moved['moved_from'][:12]} to {moved['process_version'][:12]}; "
          f"ready: {', '.join(moved['tasks']) or 'none'}")
    return 0


def cmd_replay(args, settings):
    """Replay one case's history and compare it with the recorded state after every step."""
    return audit_commands.cmd_replay(args, _system(settings, need_key=False))


def cmd_export(args, settings):
    """Export one case as JSON Lines plus a printable HTML report."""
    return audit_commands.cmd_export(args, _system(settings, need_key=False))


def cmd_verify_export(args, settings):
    """Check an export file without the database, the server or any key."""
    return audit_commands.cmd_verify_export(args)


def cmd_tick(args, settings):
    """Fire every timer that is due now, once."""
    report = timers.tick(_system(settings))
    print(f"{report.tasks} tasks created by timers in {report.cases} due cases")
    return 0


def cmd_serve(args, settings):
    """Validate the diagrams, then run gunicorn with the application factory (each worker also ticks timers)."""
    system = _system(settings)  # a broken diagram stops start here, with a message naming file, element and line
    with system.writing() as uow:  # the version served is the last good one a restarted worker falls back to
        system.processes.record_current(uow.session)
        uow.commit()
    os.environ.setdefault("INCIDENTS_TICK_SECONDS", "30")
    os.environ.setdefault("INCIDENTS_SEND_SECONDS", "5")
    argv = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--bind", f"{args.host}:{args.port}",
            "--access-logfile", "-", "--access-logformat", '"%(m)s %(U)s" %(s)s %(L)ss',
            "--logger-class", "cli.gunicorn_logging.RedactingLogger", "--config", "python:cli.gunicorn_conf",
            "web:create_app()"]
    os.execv(sys.executable, argv)


def parser():
    """The argument parser of every sub-command."""
    p = argparse.ArgumentParser(prog="incidents", description="Code of Conduct incident response as executable BPMN.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create or upgrade the database").set_defaults(func=cmd_init)
    serve = sub.add_parser("serve", help="serve the web app and API with gunicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=2)
    serve.set_defaults(func=cmd_serve)
    validate = sub.add_parser("validate", help="validate the diagrams of a directory")
    validate.add_argument("directory", nargs="?")
    validate.set_defaults(func=cmd_validate)
    tests = sub.add_parser("test-process", help="run process tests (YAML files) on the diagrams, without a database")
    tests.add_argument("files", nargs="*", help="test files (default: the diagrams' tests/*.yaml)")
    tests.add_argument("--diagrams", metavar="DIR", help="the diagrams to test (default: INCIDENTS_BPMN_DIR or bpmn/)")
    tests.set_defaults(func=cmd_test_process)
    user = sub.add_parser("user", help="manage staff users").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", action="append", required=True)
    add.add_argument("--password")
    add.add_argument("--event", action="append", default=[], help="an event the user works at (repeatable)")
    add.add_argument("--email", help="where the user's notifications are emailed")
    add.set_defaults(func=cmd_user_add)
    set_email = user.add_parser("set-email", help="set (or, without EMAIL, remove) a user's email address")
    set_email.add_argument("name")
    set_email.add_argument("email", nargs="?")
    set_email.set_defaults(func=cmd_user_set_email)
    assign = user.add_parser("assign", help="add events a user works at")
    assign.add_argument("name")
    assign.add_argument("--event", action="append", required=True)
    assign.set_defaults(func=cmd_user_assign)
    sub.add_parser("seed-demo", help="create demo users for every role").set_defaults(func=cmd_seed_demo)
    verify = sub.add_parser("verify", help="check the hash chain of every case history")
    verify.add_argument("--all", action="store_true", help="also replay every case (needs the master key)")
    verify.set_defaults(func=cmd_verify)
    replay = sub.add_parser("replay", help="replay a case and compare it with its recorded state after every step")
    replay.add_argument("case", type=int)
    replay.add_argument("--step", type=int, metavar="N", help="also show the state after event N (a recorded view)")
    replay.set_defaults(func=cmd_replay)
    exporting = sub.add_parser("export", help="export one case as JSON Lines and a printable report")
    exporting.add_argument("case", type=int)
    exporting.add_argument("--output", required=True, metavar="FILE", help="the JSON Lines file to write")
    exporting.add_argument("--report", metavar="FILE", help="the HTML report (default: FILE with .html)")
    exporting.set_defaults(func=cmd_export)
    checking = sub.add_parser("verify-export", help="check an export file (no database, no key needed)")
    checking.add_argument("file")
    checking.add_argument("--head", metavar="HASH", help="the head hash the export must end in")
    checking.set_defaults(func=cmd_verify_export)
    sub.add_parser("tick", help="fire the timers that are due").set_defaults(func=cmd_tick)
    publish = sub.add_parser("publish", help="validate changed diagrams, DMN tables and forms and publish them")
    publish.add_argument("paths", nargs="+", metavar="PATH", help=".bpmn, .dmn or .form.yaml files")
    publish.add_argument("--note", required=True, help="what changes and why (shown in the versions list)")
    publish.add_argument("--by", required=True, help="the policy staff user publishing it")
    publish.add_argument("--remove", action="append", default=[], metavar="NAME", help="a file to leave out")
    publish.add_argument("--test", action="append", default=[], metavar="YAML",
                         help="a process test to add or replace (it then travels with the version)")
    publish.set_defaults(func=cmd_publish)
    move = sub.add_parser("move-case", help="move an open case to another published process version")
    move.add_argument("case", help="the case id")
    move.add_argument("version", help="the full hash of the process version to move it to")
    move.add_argument("--by", required=True, metavar="USER", help="the policy staff account doing it (recorded)")
    move.set_defaults(func=cmd_move_case)
    purge = sub.add_parser("purge", help="destroy the keys of cases closed before a date (crypto-shredding)")
    purge.add_argument("--closed-before", required=True, metavar="DATE", help="YYYY-MM-DD (UTC) or an ISO time")
    purge.add_argument("--dry-run", action="store_true", help="list the cases without purging them")
    purge.set_defaults(func=cmd_purge)
    outbox = sub.add_parser("outbox", help="list the notifications (and with --send, deliver the pending ones now)")
    outbox.add_argument("--send", action="store_true", help="deliver every pending notification now, then list")
    outbox.add_argument("--status", choices=notifications.STATUSES, help="only notifications in this status")
    outbox.add_argument("--limit", type=int, default=50, help="how many to list, newest first (default 50)")
    outbox.set_defaults(func=cmd_outbox)
    hook = sub.add_parser("webhook", help="incoming webhooks told about each event's ready tasks") \
        .add_subparsers(dest="webhook_command", required=True)
    hook_set = hook.add_parser("set", help="post an event's ready tasks to a Slack- or Discord-compatible webhook")
    hook_set.add_argument("event")
    hook_set.add_argument("url")
    hook_set.set_defaults(func=cmd_webhook_set)
    hook_remove = hook.add_parser("remove", help="stop posting an event's ready tasks")
    hook_remove.add_argument("event")
    hook_remove.set_defaults(func=cmd_webhook_remove)
    hook.add_parser("list", help="events with a webhook").set_defaults(func=cmd_webhook_list)
    return p


def main(argv=None):
    """Entry point of the `incidents` command."""
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as err:
        raise SystemExit(f"incidents: {err}") from None
    try:
        return args.func(args, settings) or 0
    except BrokenPipeError:  # the reader went away (`incidents replay 7 | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
