"""Possible duplicates: found when a report opens a case, decided by the receiving body's head.

Two children may share a name, a birth date and a region; only the same IIN makes one person
certain. So a name-and-birth-date match opens a case of its own and records the earlier case
as a candidate, which a person confirms or rejects: never a silent merge.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from services.intake import domain, names, repository
from services.intake.domain import CandidateStatus, DuplicateDecision, Relation
from services.intake.tables import DuplicateCandidate
from shared import audit
from shared.auth import APPROVE, Principal
from shared.clock import ALMATY
from shared.contracts.intake import DuplicateConfirmed
from shared.crypto import FieldCipher
from shared.db import unit_of_work
from shared.outbox import stage

if TYPE_CHECKING:
    from services.intake.handlers import IntakeDeps

# What the candidate rests on (the only basis today: the identity hash).
NAME_BIRTH_DATE_REGION = "name_birth_date_region"
DECIDE = "duplicate.decide"


class UnknownCandidate(LookupError):
    """No such possible duplicate on this case."""


def identity_hashes(
    cipher: FieldCipher, full_name: str | None, birth_date: Any, region: str
) -> tuple[str, ...]:
    """Return the identity hash to store first, then the one cases registered earlier carry."""
    if not full_name or birth_date is None:
        return ()
    birth = str(birth_date)
    keys = dict.fromkeys(
        (
            names.identity_key(full_name, birth, region),
            # Subjects registered before names were normalised carry this hash: they still match.
            names.legacy_identity_key(full_name, birth, region),
        )
    )
    return tuple(cipher.lookup_hash(key, field="identity") for key in keys)


def record_candidates(
    session: Session,
    *,
    case_id: str,
    iin_hash: str | None,
    hashes: tuple[str, ...],
    now: datetime,
) -> list[str]:
    """Record the earlier open cases a new case may duplicate; return their case ids."""
    found = []
    for earlier, earlier_iin_hash in repository.open_namesakes(
        session, identity_hashes=hashes, but=case_id
    ):
        if not domain.may_be_same_person(iin_hash, earlier_iin_hash):
            continue
        session.add(
            DuplicateCandidate(
                candidate_id=str(uuid.uuid4()),
                case_id=case_id,
                earlier_case_id=earlier,
                basis=NAME_BIRTH_DATE_REGION,
                status=CandidateStatus.OPEN.value,
                found_at=now,
            )
        )
        found.append(earlier)
    session.flush()
    return found


def shown_candidates(
    session: Session, *, case_id: str, who: Principal, operator: bool
) -> list[dict[str, Any]]:
    """Return a case's possible duplicates the caller may know of (ids and numbers only).

    An agency learns of the other case only where it relates to it too (Rules 38874 p.33-34):
    the school that reported one child is not told another child's case exists.
    """
    shown = []
    for candidate in repository.candidates_of(session, case_id=case_id):
        other = candidate.earlier_case_id if candidate.case_id == case_id else candidate.case_id
        if not operator and not repository.relations(
            session, case_id=other, agency_id=who.agency_id
        ):
            continue
        other_case = repository.get_case(session, case_id=other)
        shown.append(
            {
                "candidate_id": candidate.candidate_id,
                "case_id": other,
                "case_number": other_case.case_number if other_case else None,
                "later": candidate.case_id != case_id,
                "basis": candidate.basis,
                "status": candidate.status,
                "found_at": candidate.found_at.astimezone(ALMATY).isoformat(),
                "decided_at": (
                    candidate.decided_at.astimezone(ALMATY).isoformat()
                    if candidate.decided_at
                    else None
                ),
            }
        )
    return shown


def merged_into(session: Session, *, case_id: str) -> str | None:
    """Return the case a merged case joined, if it did."""
    for candidate in repository.candidates_of(session, case_id=case_id):
        if candidate.case_id == case_id and candidate.status == CandidateStatus.CONFIRMED:
            return candidate.earlier_case_id
    return None


def decide(
    case_id: str,
    candidate_id: str,
    decision: DuplicateDecision,
    who: Principal,
    *,
    deps: IntakeDeps,
) -> dict[str, Any]:
    """Confirm or reject a possible duplicate as the receiving body's head; audited.

    The receiving body is an agency a referral brought both cases to; its head decides
    (Rules 38874 Appendix 2: the head approves). On confirmation the later case joins the
    earlier one and `duplicate_confirmed` is staged in the same transaction.
    """
    gate = deps.gate()
    gate.require_role(who, APPROVE, action=DECIDE, case_id=case_id)
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        candidate = repository.candidate_for_update(session, candidate_id=candidate_id)
        if candidate is None or case_id not in (candidate.case_id, candidate.earlier_case_id):
            raise UnknownCandidate(candidate_id)
        pair = (candidate.case_id, candidate.earlier_case_id)
        if not all(
            Relation.REFERRAL in repository.relations(session, case_id=one, agency_id=who.agency_id)
            for one in pair
        ):
            reason = "only the head of a body both cases were referred to decides on a duplicate"
            raise gate.refuse(who, action=DECIDE, case_id=case_id, reason=reason)
        later, earlier = (repository.get_case(session, case_id=one) for one in pair)
        if later is None or earlier is None:
            raise UnknownCandidate(candidate_id)
        status = domain.decide_candidate(
            CandidateStatus(candidate.status),
            decision,
            both_open=later.status == "open" and earlier.status == "open",
        )
        candidate.status = status.value
        candidate.decided_at = now
        candidate.decided_by_agency_id = who.agency_id
        session.add(candidate)
        if status is CandidateStatus.CONFIRMED:
            _merge(session, candidate, who, now=now, cipher=deps.cipher)
        audit.append(
            session,
            audit.Access(
                actor=who.subject,
                role=who.role.value,
                agency_id=who.agency_id,
                agency_type=who.agency_type,
                case_id=case_id,
                action=DECIDE,
                reason=f"{status.value}: candidate {candidate_id}",
            ),
            key=deps.audit_key,
            now=now,
        )
        session.commit()
    return {
        "candidate_id": candidate_id,
        "case_id": pair[0],
        "earlier_case_id": pair[1],
        "status": status.value,
        "merged_into": pair[1] if status is CandidateStatus.CONFIRMED else None,
    }


def _merge(
    session: Session,
    candidate: DuplicateCandidate,
    who: Principal,
    *,
    now: datetime,
    cipher: FieldCipher,
) -> None:
    later = repository.get_case(session, case_id=candidate.case_id)
    if later is None:
        raise UnknownCandidate(candidate.candidate_id)
    later.status = "merged"
    session.add(later)
    # The person's IIN, if only the later report gave it, now finds the earlier case.
    kept = repository.subject_of(session, case_id=candidate.earlier_case_id)
    gone = repository.subject_of(session, case_id=candidate.case_id)
    if kept is not None and gone is not None and kept.iin_hash is None and gone.iin_hash:
        kept.iin_hash = gone.iin_hash
        kept.iin = cipher.encrypt(cipher.decrypt(gone.iin, field="iin"), field="iin")
        session.add(kept)
    event = DuplicateConfirmed(
        occurred_at=now,
        case_id=uuid.UUID(candidate.case_id),
        correlation_id=uuid.UUID(candidate.candidate_id),
        producer="intake",
        agency_id=who.agency_id,
        candidate_id=uuid.UUID(candidate.candidate_id),
        merged_into_case_id=uuid.UUID(candidate.earlier_case_id),
        decided_by_agency_id=who.agency_id,
    )
    stage(session, event, now=now)
