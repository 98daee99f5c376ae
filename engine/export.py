"""One case as JSON Lines, and the check of such an export that needs no database, no server and no key.

Line 1 is a header: the format, the case, the process versions its events ran on (their files and
form descriptions, which hash to the version), how many events the export holds and the hash of the
last, and the case's digest key. Every further line is one event: all the fields its hash covers,
its prev_hash and hash, and its data decrypted.

The chain covers the *sealed* data, so the decrypted data is bound to it another way: every event
sealed since revision 0009 records a keyed digest of its data (data_mac, covered by the chain), and
the digest key travels in the header. It is derived one-way from the case key: it checks plaintext,
it opens nothing. Public records (views, timers, purges) are compared with their recorded text.
Older sealed events carry no digest: their plaintext is reported as unchecked.

An export is checked against itself: anyone who edits it and recomputes every hash after the edit
makes a consistent forgery. The head hash it ends in is the anchor to compare with the live case
(`incidents verify-export FILE --head HASH`, the printed report, or the API).
"""
import json
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

from . import history, timeline
from .audit import OPERATOR, need_key, read_snapshot
from .crypto import PUBLIC, digest, open_public
from .diagrams import version_hash
from .models import EVENT_DATA, ProcessVersionRow, utcnow
from .views import load_case, record_access

FORMAT = "incidents-case-export/1"
EVENT_FIELDS = ("case_id", "seq", "at", "actor", "role", "type", "task", "task_id", "sealed_data",
                "process_version", "after", "data_mac", "prev_hash", "hash")


def export_case(uow, processes, operator, case_id) -> tuple:
    """The export's records (header first) and the case's timeline, after recording the export as a view."""
    case = load_case(uow.session, case_id)
    if not case.purged:
        need_key(uow.session)
    record_access(uow, SimpleNamespace(username=operator), case, "export (command line)", role=OPERATOR)
    session = uow.session
    case, rows = read_snapshot(session, case_id)
    story = timeline.entries(session, processes, None, case, rows)
    versions = {}
    for version in sorted({e.process_version for e in rows}):
        row = session.get(ProcessVersionRow, version)
        versions[version] = {"files": row.files, "forms": row.forms}
    header = {"format": FORMAT, "case_id": case.id, "event_name": case.event_name, "status": case.status,
              "exported_at": utcnow().isoformat(), "exported_by": operator, "events": len(rows),
              "head_hash": case.head_hash, "digest_key": None if case.purged else case.cipher.digest_key.hex(),
              "verdict": {k: story["verdict"][k] for k in ("outcome", "description")},
              "process_versions": versions}
    return [header] + [_event_record(e) for e in rows], story


def _event_record(e) -> dict:
    fields = {"after": None, "data_mac": None, **history.hashed_fields(e)}
    return {**fields, "prev_hash": e.prev_hash, "hash": e.hash, "data": e.data}


def dumps(records) -> str:
    """The export as text: one JSON object per line."""
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)


@dataclass
class ExportCheck:
    """What checking an export found: case, events, head hash, how its plaintext was checked, or the first problem."""

    case_id: int | None = None
    events: int = 0
    head_hash: str | None = None
    problem: str | None = None
    plaintext: dict = field(default_factory=lambda: {"checked": 0, "public": 0, "unchecked": 0, "absent": 0})
    unchecked_versions: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Bad(Exception):
    pass


def verify_export(lines, expected_head: str | None = None) -> ExportCheck:
    """Check an export's lines: header, process version files, every event's chain link and plaintext."""
    report = ExportCheck()
    try:
        _verify(enumerate(lines, start=1), report, expected_head)
    except _Bad as bad:
        report.problem = str(bad)
    return report


def _verify(numbered, report, expected_head):
    header = _header(numbered, report)
    prev, seq, lineno = history.GENESIS, 0, 1
    for lineno, text in numbered:
        if not text.strip():
            continue
        rec = _json_line(lineno, text)
        seq += 1
        _check_link(lineno, rec, header, prev, seq)
        _check_data(lineno, rec, header, report)
        if seq == 1:
            _check_event_name(header, rec)
        prev = rec["hash"]
        report.events, report.head_hash = seq, prev
    if seq != header["events"] or prev != (header["head_hash"] or history.GENESIS):
        raise _Bad(f"after line {lineno}: the export ends at event seq {seq}, but its header records "
                   f"{header['events']} events (events were dropped from the end, or the header was edited)")
    if expected_head and expected_head != prev:
        raise _Bad(f"head hash mismatch: the export ends in head hash {prev} (event seq {seq}), not the expected "
                   f"{expected_head}: it is not the history that hash was recorded for (rewritten, or another "
                   "case or moment)")


# header fields no event's hash covers: shown by verify-export as information, not as checked
UNCOVERED_HEADER = ("status", "verdict", "exported_at", "exported_by")


def _check_event_name(header, first):
    """The header's event name must be the one the case was opened for (its first event's checked data)."""
    opened = (first.get("data") or {}).get("event_name") if first.get("type") == "case_started" else None
    if opened is not None and header.get("event_name") != opened:
        raise _Bad(f"line 1: the header names event {header.get('event_name')!r}, but the case was opened for "
                   f"{opened!r} (line 2) (edited)")


def _header(numbered, report) -> dict:
    try:
        lineno, text = next(numbered)
    except StopIteration:
        raise _Bad("line 1: the file is empty") from None
    header = _json_line(lineno, text)
    if header.get("format") != FORMAT:
        raise _Bad(f"line 1: not an incidents case export (format {header.get('format')!r}, expected {FORMAT!r})")
    for key in ("case_id", "events", "head_hash", "process_versions", "digest_key"):
        if key not in header:
            raise _Bad(f"line 1: the header lacks '{key}'")
    report.case_id = header["case_id"]
    for version, content in sorted(header["process_versions"].items()):
        if content.get("forms") is None:
            report.unchecked_versions.append(version)  # recorded before versions kept their forms
            continue
        files = {name: text.encode("utf-8") for name, text in content["files"].items()}
        if version_hash(files, content["forms"]) != version:
            raise _Bad(f"line 1: the files of process version {version[:12]} do not hash to it (edited)")
    return header


def _json_line(lineno, text) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise _Bad(f"line {lineno}: not JSON ({err.msg})") from None
    if not isinstance(value, dict):
        raise _Bad(f"line {lineno}: not a JSON object")
    return value


def _check_link(lineno, rec, header, prev, seq):
    missing = [name for name in EVENT_FIELDS if name not in rec and name not in ("after", "data_mac")]
    if missing:
        raise _Bad(f"line {lineno}: lacks {', '.join(missing)}")
    where = f"line {lineno} (event seq {rec['seq']})"
    if rec["case_id"] != header["case_id"]:
        raise _Bad(f"{where}: belongs to case {rec['case_id']}, not {header['case_id']}")
    if rec["seq"] != seq:
        what = "an event before it is missing or moved" if rec["seq"] > seq else "duplicated, inserted or moved"
        raise _Bad(f"{where}: expected seq {seq} ({what})")
    if rec["prev_hash"] != prev:
        raise _Bad(f"{where}: does not follow the event before it (inserted, dropped or reordered)")
    try:
        event = SimpleNamespace(**{**{k: rec.get(k) for k in EVENT_FIELDS}, "at": datetime.fromisoformat(rec["at"])})
        computed = history.event_hash(prev, event)
    except (TypeError, ValueError, AttributeError):
        raise _Bad(f"{where}: a field has the wrong type (edited)") from None
    if computed != rec["hash"]:
        raise _Bad(f"{where}: its content does not match its hash (edited)")
    if rec["process_version"] not in header["process_versions"]:
        raise _Bad(f"{where}: ran on process version {rec['process_version'][:12]}, whose files the export lacks")


def _check_data(lineno, rec, header, report):
    where = f"line {lineno} (event seq {rec['seq']})"
    sealed, data, mac = rec["sealed_data"], rec.get("data"), rec.get("data_mac")
    if not isinstance(sealed, str):
        raise _Bad(f"{where}: its sealed data is not text (edited)")
    if sealed.startswith(PUBLIC):
        if data != open_public(sealed):
            raise _Bad(f"{where}: its data is not what was recorded (edited)")
        report.plaintext["public"] += 1
    elif data is None:
        if header["digest_key"]:  # only a purge takes the plaintext away, and a purged case has no digest key
            raise _Bad(f"{where}: its data is missing, but the case was not purged (edited)")
        report.plaintext["absent"] += 1  # a purged case: its key, and so its plaintext, is gone
    elif mac is not None and not header["digest_key"]:
        # the header is outside the chain: without this, removing the key would let edited plaintext pass
        raise _Bad(f"{where}: it carries data that cannot be checked: the export has no digest key (edited)")
    elif mac is not None:
        try:
            key = bytes.fromhex(header["digest_key"])
        except ValueError:
            raise _Bad("line 1: the digest key is not hexadecimal (edited)") from None
        if digest(key, EVENT_DATA, data) != mac:
            raise _Bad(f"{where}: its data does not match the digest recorded with it (edited)")
        report.plaintext["checked"] += 1
    else:
        report.plaintext["unchecked"] += 1
