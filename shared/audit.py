"""The audit log: every read of personal data, and every refusal, in an append-only hash chain.

Rules 38874 p.33-34 and the personal-data law ask who saw a child's data: each entry names who
(a person id and role), which agency, which case, which fields, when, for which purpose, and
whether it was allowed. Entries are numbered without gaps; each stores the previous entry's hash
and its own, an HMAC-SHA256 over its canonical JSON with a key kept outside the database, so
whoever can write the database still cannot rewrite history unseen. A one-row head remembers
the last entry, so removing entries at the end shows too, unless the head row is rewritten as
well: the head is therefore also checkpointed outside the database (shared.checkpoints). The
database refuses UPDATE and DELETE on the log (triggers); `verify` finds what was changed or
removed anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Field, Session, SQLModel, col, select

from shared.db import AwareDateTime, is_postgres, unit_of_work

GENESIS = "0" * 64
ALLOWED = "allowed"
REFUSED = "refused"

_ATTEMPTS = 8


class AuditEntry(SQLModel, table=True):
    """One recorded access; never updated, never deleted."""

    __tablename__ = "audit_log"

    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_type=AwareDateTime())  # type: ignore[call-overload]
    actor: str = Field(max_length=120)
    role: str = Field(max_length=20)
    agency_id: str = Field(max_length=80)
    agency_type: str = Field(max_length=40)
    case_id: str | None = Field(default=None, index=True, max_length=36)
    action: str = Field(max_length=60)
    fields: str = "[]"
    purpose: str | None = Field(default=None, max_length=80)
    outcome: str = Field(max_length=10)
    reason: str | None = Field(default=None, max_length=200)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The last entry written: a removed tail no longer matches it."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(default=GENESIS, max_length=64)


@dataclass(frozen=True)
class Access:
    """What one entry says, before it is numbered and chained."""

    actor: str
    role: str
    agency_id: str
    agency_type: str
    case_id: str | None
    action: str
    fields: tuple[str, ...] = ()
    purpose: str | None = None
    outcome: str = ALLOWED
    reason: str | None = None


def _described(entry: AuditEntry, *, at: str) -> dict[str, object]:
    return {
        "seq": entry.seq,
        "at": at,
        "actor": entry.actor,
        "role": entry.role,
        "agency_id": entry.agency_id,
        "agency_type": entry.agency_type,
        "case_id": entry.case_id,
        "action": entry.action,
        "fields": json.loads(entry.fields),
        "purpose": entry.purpose,
        "outcome": entry.outcome,
        "reason": entry.reason,
    }


def _canonical(entry: AuditEntry) -> bytes:
    # The chained form: UTC to the microsecond, so the hash never depends on a display zone.
    at = entry.at.astimezone(UTC).isoformat(timespec="microseconds")
    body = {**_described(entry, at=at), "prev_hash": entry.prev_hash}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(entry: AuditEntry, *, key: bytes) -> str:
    """Return the entry's chained hash: HMAC-SHA256 over its canonical JSON."""
    return hmac.new(key, _canonical(entry), hashlib.sha256).hexdigest()


def append(session: Session, access: Access, *, key: bytes, now: datetime) -> AuditEntry:
    """Append an entry in the caller's transaction (which must then commit)."""
    query = select(AuditHead).where(AuditHead.id == 1)
    if is_postgres(session.get_bind()):  # type: ignore[arg-type]
        # One writer at a time extends the chain.
        query = query.with_for_update()
    head = session.exec(query).first()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
    entry = AuditEntry(
        seq=head.seq + 1,
        at=now.astimezone(UTC),
        actor=access.actor,
        role=access.role,
        agency_id=access.agency_id,
        agency_type=access.agency_type,
        case_id=access.case_id,
        action=access.action,
        fields=json.dumps(sorted(access.fields)),
        purpose=access.purpose,
        outcome=access.outcome,
        reason=access.reason,
        prev_hash=head.hash,
        hash="",
    )
    entry.hash = digest(entry, key=key)
    head.seq = entry.seq
    head.hash = entry.hash
    session.add(entry)
    session.add(head)
    session.flush()
    return entry


def record(engine: Engine, access: Access, *, key: bytes, now: datetime) -> AuditEntry:
    """Append an entry in a transaction of its own, retrying when another writer won the race."""
    for attempt in range(_ATTEMPTS):
        try:
            with unit_of_work(engine) as session:
                entry = append(session, access, key=key, now=now)
                session.commit()
                # Detached as it is now, so that the unit of work's rollback leaves it loaded.
                session.expunge(entry)
                return entry
        except (IntegrityError, OperationalError):
            # SQLite answers a lost race with "database is locked"; PostgreSQL with a key clash.
            if attempt == _ATTEMPTS - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise RuntimeError("unreachable")


def entries(session: Session, *, case_id: str) -> list[AuditEntry]:
    """Return a case's entries, oldest first."""
    return list(
        session.exec(
            select(AuditEntry).where(AuditEntry.case_id == case_id).order_by(col(AuditEntry.seq))
        ).all()
    )


def search(
    session: Session,
    *,
    case_id: str | None = None,
    agency_id: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int = 0,
    limit: int = 500,
) -> list[AuditEntry]:
    """Return entries matching every filter given (time in [since, until)), oldest first."""
    query = select(AuditEntry).where(col(AuditEntry.seq) > after_seq)
    if case_id is not None:
        query = query.where(AuditEntry.case_id == case_id)
    if agency_id is not None:
        query = query.where(AuditEntry.agency_id == agency_id)
    if outcome is not None:
        query = query.where(AuditEntry.outcome == outcome)
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since.astimezone(UTC))
    if until is not None:
        query = query.where(col(AuditEntry.at) < until.astimezone(UTC))
    return list(session.exec(query.order_by(col(AuditEntry.seq)).limit(limit)).all())


def has_audit_log(engine: Engine) -> bool:
    """Tell whether the database has an audit log."""
    return inspect(engine).has_table("audit_log")


def verify(engine: Engine, *, key: bytes) -> list[str]:
    """Walk the chain; return one line per problem, naming the entry (empty: intact)."""
    problems: list[str] = []
    with unit_of_work(engine) as session:
        head = session.exec(select(AuditHead).where(AuditHead.id == 1)).first()
        expected_seq = 1
        previous = GENESIS
        for entry in session.exec(select(AuditEntry).order_by(col(AuditEntry.seq))):
            if entry.seq != expected_seq:
                missing = (
                    f"entry {expected_seq}"
                    if entry.seq == expected_seq + 1
                    else f"entries {expected_seq}-{entry.seq - 1}"
                )
                problems.append(f"{missing} removed (the log jumps to entry {entry.seq})")
            elif entry.prev_hash != previous:
                problems.append(f"entry {entry.seq}: does not follow entry {entry.seq - 1}")
            if entry.hash != digest(entry, key=key):
                problems.append(f"entry {entry.seq}: changed (its hash does not match its content)")
            previous = entry.hash
            expected_seq = entry.seq + 1
        last = expected_seq - 1
        if head is None:
            if last:
                problems.append("head: missing (the log's end cannot be checked)")
        elif head.seq != last or head.hash != previous:
            if head.seq > last:
                problems.append(
                    f"entries {last + 1}-{head.seq} removed at the end (the head names "
                    f"entry {head.seq}, the log ends at {last})"
                )
            else:
                problems.append(f"head: does not match entry {last} (head or log rewritten)")
    return problems


def as_dict(entry: AuditEntry) -> dict[str, object]:
    """Return an entry as the audit API shows it."""
    return {**_described(entry, at=entry.at.isoformat()), "hash": entry.hash}


__all__: Sequence[str] = (
    "ALLOWED",
    "REFUSED",
    "Access",
    "AuditEntry",
    "AuditHead",
    "append",
    "as_dict",
    "digest",
    "entries",
    "has_audit_log",
    "record",
    "search",
    "verify",
)
