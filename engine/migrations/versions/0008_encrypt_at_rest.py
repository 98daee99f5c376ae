"""Encrypt case data at rest: per-case keys wrapped by the master key; reporter links kept as digests.

Existing rows are sealed here, with the master key that `incidents init` hands in. Each case's history
chain is first checked with the old formula (over plaintext data): a case whose chain does not verify
stops the migration, so re-sealing cannot launder an altered history. The chain is then recomputed over
the sealed data, which is what it covers from now on (it verifies without keys, and after a purge).

The formulas are frozen here on purpose: later changes to engine/history.py must not change what this
migration wrote.

Revision ID: 0008
Revises: 0007
"""
import hashlib
import json
from datetime import timezone

import sqlalchemy as sa
from alembic import op

from engine.crypto import public, token_digest
from engine.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _canonical(fields):
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _hash(prev, fields):
    return hashlib.sha256(prev.encode() + b"\n" + _canonical(fields)).hexdigest()


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def upgrade():
    bind = op.get_bind()
    op.add_column("cases", sa.Column("wrapped_key", sa.Text(), nullable=True))
    op.add_column("cases", sa.Column("sealed_data", sa.Text(), nullable=True))
    op.add_column("cases", sa.Column("closed_at", UTCDateTime(), nullable=True))
    op.add_column("cases", sa.Column("purged_at", UTCDateTime(), nullable=True))
    op.create_index("ix_cases_closed_at", "cases", ["closed_at"])
    op.execute("ALTER TABLE cases RENAME COLUMN state TO sealed_state")
    op.add_column("case_events", sa.Column("sealed_data", sa.Text(), nullable=True))
    op.execute("ALTER TABLE reporter_links RENAME COLUMN token TO token_hash")
    op.add_column("reporter_links", sa.Column("sealed_token", sa.Text(), nullable=True))
    op.add_column("idempotency_keys", sa.Column("case_id", sa.Integer(), nullable=True))
    op.add_column("idempotency_keys", sa.Column("sealed_response", sa.Text(), nullable=True))
    op.create_index("ix_idempotency_keys_case_id", "idempotency_keys", ["case_id"])

    _seal_existing(bind)

    op.execute("ALTER TABLE cases DROP COLUMN data")
    op.execute("ALTER TABLE case_events DROP COLUMN data")
    op.execute("ALTER TABLE idempotency_keys DROP COLUMN response")


def _seal_existing(bind):
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("status", sa.String),
                     sa.column("sealed_state", sa.Text), sa.column("data", sa.JSON),
                     sa.column("wrapped_key", sa.Text), sa.column("sealed_data", sa.Text),
                     sa.column("updated_at", UTCDateTime), sa.column("closed_at", UTCDateTime),
                     sa.column("last_seq", sa.Integer), sa.column("head_hash", sa.String))
    rows = bind.execute(sa.select(cases).order_by(cases.c.id)).all()
    if not rows:
        return
    master = op.get_context().config.attributes.get("master_key")
    if master is None:
        raise RuntimeError("migration 0008 encrypts the stored cases and needs the master key: "
                           "run `incidents init` (it reads INCIDENTS_MASTER_KEY or the master key file)")
    ciphers = {}
    for case in rows:
        cipher, wrapped = master.new_case_key()
        ciphers[case.id] = cipher
        bind.execute(cases.update().where(cases.c.id == case.id).values(
            wrapped_key=wrapped, sealed_state=cipher.seal("case state", case.sealed_state),
            sealed_data=cipher.seal("case data", _json(case.data)),
            closed_at=case.updated_at if case.status == "closed" else None))
    _reseal_history(bind, rows, ciphers)
    _seal_links(bind, ciphers)
    _seal_answers(bind, ciphers)


def _reseal_history(bind, cases_rows, ciphers):
    events = sa.table("case_events", sa.column("id", sa.Integer), sa.column("case_id", sa.Integer),
                      sa.column("seq", sa.Integer), sa.column("at", UTCDateTime), sa.column("actor", sa.String),
                      sa.column("role", sa.String), sa.column("type", sa.String), sa.column("task", sa.String),
                      sa.column("task_id", sa.String), sa.column("data", sa.JSON),
                      sa.column("sealed_data", sa.Text), sa.column("process_version", sa.String),
                      sa.column("prev_hash", sa.String), sa.column("hash", sa.String))
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("head_hash", sa.String))
    _history_triggers(bind, enable=False)
    for case in cases_rows:
        old_prev = new_prev = GENESIS
        rows = bind.execute(sa.select(events).where(events.c.case_id == case.id).order_by(events.c.seq)).all()
        for expected_seq, e in enumerate(rows, start=1):
            fields = {"case_id": e.case_id, "seq": e.seq, "at": e.at.astimezone(timezone.utc).isoformat(),
                      "actor": e.actor, "role": e.role, "type": e.type, "task": e.task, "task_id": e.task_id,
                      "process_version": e.process_version}
            data = _json(e.data)
            if e.seq != expected_seq or e.prev_hash != old_prev or _hash(old_prev, {**fields, "data": data}) != e.hash:
                raise RuntimeError(f"migration 0008 stopped: the history of case {case.id} does not verify at event "
                                   f"seq {e.seq}; run `incidents verify` and resolve it before upgrading")
            old_prev = e.hash
            readable = e.type in ("case_viewed", "timer_fired")  # records that name no one stay readable
            sealed = public(data) if readable else ciphers[case.id].seal("event data", data)
            new_hash = _hash(new_prev, {**fields, "sealed_data": sealed})
            bind.execute(events.update().where(events.c.id == e.id).values(
                sealed_data=sealed, prev_hash=new_prev, hash=new_hash))
            new_prev = new_hash
        if len(rows) != (case.last_seq or 0) or old_prev != (case.head_hash or GENESIS):
            raise RuntimeError(f"migration 0008 stopped: case {case.id} records {case.last_seq} events but has "
                               f"{len(rows)}; run `incidents verify` and resolve it before upgrading")
        bind.execute(cases.update().where(cases.c.id == case.id).values(head_hash=new_prev if rows else None))
    _history_triggers(bind, enable=True)


def _history_triggers(bind, enable):
    """The append-only triggers stand aside while this migration re-seals the history, and only then."""
    if bind.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE case_events {'ENABLE' if enable else 'DISABLE'} TRIGGER case_events_append_only")
    elif bind.dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            if enable:
                op.execute(f"""
                    CREATE TRIGGER case_events_no_{action.lower()} BEFORE {action} ON case_events
                    BEGIN SELECT RAISE(ABORT, 'case history is append-only: {action} refused on case_events'); END""")
            else:
                op.execute(f"DROP TRIGGER case_events_no_{action.lower()}")


def _seal_links(bind, ciphers):
    links = sa.table("reporter_links", sa.column("token_hash", sa.String), sa.column("case_id", sa.Integer),
                     sa.column("sealed_token", sa.Text))
    for link in bind.execute(sa.select(links)).all():
        token = link.token_hash  # still the plain token: renamed above, digested here
        bind.execute(links.update().where(links.c.token_hash == token).values(
            token_hash=token_digest(token), sealed_token=ciphers[link.case_id].seal("reporter link", token)))


def _seal_answers(bind, ciphers):
    answers = sa.table("idempotency_keys", sa.column("scope", sa.String), sa.column("key", sa.String),
                       sa.column("response", sa.JSON), sa.column("case_id", sa.Integer),
                       sa.column("sealed_response", sa.Text))
    for row in bind.execute(sa.select(answers)).all():
        response = _json(row.response)
        case_id = response.get("id") if isinstance(response, dict) else None
        if case_id in ciphers:
            values = {"case_id": case_id, "sealed_response": ciphers[case_id].seal("stored answer", response)}
        else:  # the reporter's {"status": "received"}: names no one, and its case is not recorded
            values = {"sealed_response": public(response)}
        bind.execute(answers.update().where(answers.c.scope == row.scope, answers.c.key == row.key).values(**values))


def downgrade():
    raise RuntimeError("migration 0008 cannot be undone: turning the sealed data back into plaintext is refused")
