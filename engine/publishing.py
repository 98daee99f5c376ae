"""Policy staff change the process: drafts are validated, then published as new versions.

A draft starts from a published version, replaces or adds files (diagrams, DMN tables, declarative
forms) and may remove some. It is validated at once (safe XML, schema, lanes, forms, code, timers, loop
caps: everything `load_files` checks) and the process tests (bpmn/tests/*.yaml, plus the draft's own) must
pass on it. Publishing validates again and records who published it, when,
why and on which version it is based. Cases started afterwards use it; running cases stay on theirs.
"""
from pathlib import Path

from sqlalchemy import select

from .diagrams import describe_forms, is_version_file, load_files
from .errors import DiagramError, InvalidSubmission, NotAllowed, NotFound
from .models import MAX_ID, ProcessDraft, ProcessVersionRow, utcnow
from .processtests import run_process_tests
from .roles import AUDITOR, INCIDENT_TEAM, POLICY
from .versiondiff import diff

MAX_FILES = 50
VERSION_READERS = frozenset({POLICY, AUDITOR, INCIDENT_TEAM})


def _check_policy(actor):
    if POLICY not in actor.roles:
        raise NotAllowed("only policy staff change the process")


def _check_reader(actor):
    if not actor.roles & VERSION_READERS:
        raise NotAllowed("your roles do not show process versions")


def validate(processes, files: dict, tests=None, base_tests=None):
    """Load the files as a version and run the process tests on it.

    Returns (version, errors): errors name file, element and line; a version whose process tests fail
    comes back with one error per failure. The tests are those the base version was published with
    (bpmn/tests/*.yaml for a version from the directory), replaced or added to by the draft's `tests`.
    A draft may drop a task whose form is in the code: it is validated like a stored version, which
    needs forms only for its own tasks.
    """
    try:
        version = load_files(files, processes.forms, stored=True)
    except DiagramError as err:
        return None, [{"file": err.file_name, "element": err.element_id, "line": err.line, "message": err.message}]
    suite = {**(process_tests(processes) if base_tests is None else base_tests), **(tests or {})}
    errors = [{"file": f"tests/{result.file}", "element": None, "line": None, "message": failure}
              for result in run_process_tests(version, suite) for failure in result.failures]
    return version, errors


def process_tests(processes) -> dict:
    """The process tests shipped next to the diagrams: {file name: text}."""
    directory = Path(processes.directory) / "tests" if processes.directory else None
    if directory is None or not directory.is_dir():
        return {}
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.yaml"))}


def create_draft(uow, processes, actor, files: dict, remove=(), based_on=None, tests=None) -> dict:
    """Start a draft from a published version (the latest by default) with `files` ({name: text}) changed."""
    _check_policy(actor)
    session = uow.session
    base = based_on or processes.latest_hash(session)
    base_row = session.get(ProcessVersionRow, base)
    if base_row is None or base_row.published_at is None:
        raise NotFound(f"no published version {base}")
    problems = {}
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        problems["files"] = ["Send the files as {\"name.bpmn\": \"<xml text>\"}."]
    elif len(files) > MAX_FILES:
        problems["files"] = [f"At most {MAX_FILES} files at once."]
    else:
        bad = [name for name in files if not is_version_file(name)]
        if bad:
            problems["files"] = [f"{name}: not a .bpmn, .dmn or .form.yaml file name" for name in bad]
    if tests is not None and (not isinstance(tests, dict) or not all(
            isinstance(k, str) and k.endswith(".yaml") and "/" not in k and isinstance(v, str) for k, v in tests.items())):
        problems["tests"] = ["Send process tests as {\"name.yaml\": \"<yaml text>\"}."]
    remove = list(remove or [])
    missing = [name for name in remove if name not in base_row.files]
    if missing:
        problems["remove"] = [f"{name}: not a file of version {base[:12]}" for name in missing]
    if problems:
        raise InvalidSubmission(problems)
    merged = {name: text for name, text in base_row.files.items() if name not in remove}
    merged.update(files)
    version, errors = validate(processes, {name: text.encode("utf-8") for name, text in merged.items()}, tests,
                               base_row.tests)
    if version is not None and version.hash == base:
        errors = [{"file": None, "element": None, "line": None, "message": "nothing changed"}]
    draft = ProcessDraft(author=actor.username, created_at=utcnow(), based_on=base, files=merged, tests=tests or {},
                         errors=errors, status="invalid" if errors else "valid")
    session.add(draft)
    session.flush()
    view = draft_view(draft, base_row, version)
    uow.commit()
    return view


def draft_view(draft, base_row, version=None) -> dict:
    """A draft: its status, errors and what it changes against its base version."""
    changes = []
    if version is not None:
        changes = diff(base_row.files, draft.files, base_row.forms or {}, describe_forms(version.forms))
    return {"id": draft.id, "author": draft.author, "created_at": draft.created_at.isoformat(),
            "based_on": draft.based_on, "status": draft.status, "errors": draft.errors, "changes": changes,
            "version": draft.version, "files": sorted(draft.files)}


def get_draft(uow, processes, actor, draft_id) -> dict:
    """One draft as draft_view shows it."""
    _check_policy(actor)
    draft = _find_draft(uow.session, draft_id)
    version = None
    if not draft.errors:
        version = load_files({n: t.encode("utf-8") for n, t in draft.files.items()}, processes.forms, stored=True)
    return draft_view(draft, uow.session.get(ProcessVersionRow, draft.based_on), version)


def publish_draft(uow, processes, actor, draft_id, note) -> dict:
    """Validate the draft again and publish it as the version new cases start on."""
    _check_policy(actor)
    session = uow.session
    draft = _find_draft(session, draft_id)
    if not isinstance(note, str) or not note.strip():
        raise InvalidSubmission({"note": ["Say in a sentence what changes and why."]})
    if draft.status == "published":
        raise InvalidSubmission({"draft": [f"This draft was already published as {draft.version[:12]}."]})
    base_row = session.get(ProcessVersionRow, draft.based_on)
    version, errors = validate(processes, {n: t.encode("utf-8") for n, t in draft.files.items()}, draft.tests,
                               base_row.tests)
    if errors or draft.errors:
        raise InvalidSubmission({"draft": ["The draft does not validate: " + (errors or draft.errors)[0]["message"]]})
    row = session.get(ProcessVersionRow, version.hash)
    now = utcnow()
    if row is not None and row.published_at is not None:
        # publishing it again would overwrite who published it and why: the record must stay
        raise InvalidSubmission({"draft": [f"This is exactly version {row.hash[:12]}, published by "
                                           f"{row.published_by} on {row.published_at:%Y-%m-%d %H:%M}."]})
    if row is None:
        row = ProcessVersionRow(hash=version.hash, files=version.files, forms=describe_forms(version.forms),
                                created_at=now)
        session.add(row)
    row.published_at, row.published_by, row.note = now, actor.username, note.strip()
    row.tests = {**(process_tests(processes) if base_row.tests is None else base_row.tests), **(draft.tests or {})}
    row.based_on = draft.based_on
    draft.status, draft.version = "published", version.hash
    session.flush()
    processes.adopt(version)
    view = version_view(row)
    uow.commit()
    return view


def version_view(row) -> dict:
    return {"hash": row.hash, "published_at": row.published_at.isoformat() if row.published_at else None,
            "published_by": row.published_by, "note": row.note, "based_on": row.based_on,
            "files": sorted(row.files)}


def list_versions(uow, actor) -> list:
    """Every published version, newest first: who, when, why, and what it changed against its base."""
    _check_reader(actor)
    rows = uow.session.scalars(select(ProcessVersionRow).where(ProcessVersionRow.published_at.is_not(None))
                               .order_by(ProcessVersionRow.published_at.desc())).all()
    by_hash = {row.hash: row for row in rows}
    out = []
    for row in rows:
        view = version_view(row)
        base = by_hash.get(row.based_on) if row.based_on else None
        view["changes"] = (diff(base.files, row.files, base.forms or {}, row.forms or {}) if base is not None
                           else None)
        out.append(view)
    return out


def compare(uow, actor, old_hash, new_hash) -> dict:
    """The changes from one version to another, with both versions' files for drawing them."""
    _check_reader(actor)
    old, new = uow.session.get(ProcessVersionRow, old_hash), uow.session.get(ProcessVersionRow, new_hash)
    if old is None or new is None:
        raise NotFound("no such version")
    return {"from": version_view(old), "to": version_view(new),
            "changes": diff(old.files, new.files, old.forms or {}, new.forms or {}),
            "old_files": old.files, "new_files": new.files}


def version_file(uow, actor, version_hash, name) -> str:
    """One file of a version (for the modeler and the diagram views)."""
    _check_reader(actor)
    row = uow.session.get(ProcessVersionRow, version_hash)
    if row is None or name not in row.files:
        raise NotFound("no such version or file")
    return row.files[name]


def draft_file(uow, actor, draft_id, name) -> str:
    """One file of a draft (for drawing it with its errors)."""
    _check_policy(actor)
    draft = _find_draft(uow.session, draft_id)
    if name not in draft.files:
        raise NotFound("no such draft or file")
    return draft.files[name]



def _find_draft(session, draft_id):
    draft = session.get(ProcessDraft, draft_id) if isinstance(draft_id, int) and 1 <= draft_id <= MAX_ID else None
    if draft is None:
        raise NotFound("no such draft")
    return draft
