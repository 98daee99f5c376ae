"""`incidents`: init, serve, user management, demo users, diagram validation, timers, verification, replay,
export and purge."""
import argparse
import getpass
import os
import sys
from datetime import datetime, timezone

from engine import history, retention, timers, users
from engine.config import Settings
from engine.crypto import MasterKeyError
from engine.diagrams import load_directory
from engine.errors import DiagramError, InvalidSubmission
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


def cmd_user_add(args, settings):
    """Create a staff user with one or more roles."""
    password = args.password or getpass.getpass("Password: ")
    system = _system(settings)
    try:
        with system.writing() as uow:
            actor = users.add_user(uow, args.name, args.role, password, events=args.event)
    except InvalidSubmission as err:
        for field, messages in err.errors.items():
            print(f"{field}: {' '.join(messages)}", file=sys.stderr)
        return 1
    events = f"; events {', '.join(sorted(actor.events))}" if actor.events else ""
    print(f"added {actor.username} with roles {', '.join(sorted(actor.roles))}{events}")
    return 0


def cmd_user_assign(args, settings):
    """Add events a user works at (on-site staff and organizers see only their events' cases)."""
    system = _system(settings)
    try:
        with system.writing() as uow:
            actor = users.assign_events(uow, args.name, args.event)
    except InvalidSubmission as err:
        for field, messages in err.errors.items():
            print(f"{field}: {' '.join(messages)}", file=sys.stderr)
        return 1
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
    argv = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--bind", f"{args.host}:{args.port}",
            "--access-logfile", "-", "--access-logformat", '"%(m)s %(U)s" %(s)s %(L)ss',
            "--logger-class", "cli.gunicorn_logging.RedactingLogger",
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
    user = sub.add_parser("user", help="manage staff users").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", action="append", required=True)
    add.add_argument("--password")
    add.add_argument("--event", action="append", default=[], help="an event the user works at (repeatable)")
    add.set_defaults(func=cmd_user_add)
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
    purge = sub.add_parser("purge", help="destroy the keys of cases closed before a date (crypto-shredding)")
    purge.add_argument("--closed-before", required=True, metavar="DATE", help="YYYY-MM-DD (UTC) or an ISO time")
    purge.add_argument("--dry-run", action="store_true", help="list the cases without purging them")
    purge.set_defaults(func=cmd_purge)
    return p


def main(argv=None):
    """Entry point of the `incidents` command."""
    args = parser().parse_args(argv)
    return args.func(args, Settings.from_env()) or 0


if __name__ == "__main__":
    sys.exit(main())
