"""The gate every service's API passes: roles, refusals recorded in the audit log, 403 answers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Engine

from shared import audit
from shared.auth import Principal, Refused, Role
from shared.clock import Clock
from shared.crypto import KeyRing

log = logging.getLogger(__name__)

# The audit chain's key is derived from the service's data keys, kept outside the database.
AUDIT_KEY_PURPOSE = "audit-chain"


def audit_key(ring: KeyRing) -> bytes:
    """Return the key that chains a service's audit entries."""
    return ring.derived_key(AUDIT_KEY_PURPOSE)


@dataclass(frozen=True)
class CaseStanding:
    """Whether a service has heard of a case, and whether an agency relates to it."""

    known: bool
    related: bool


@dataclass
class Gatekeeper:
    """Decides nothing itself: records each refusal (and each allowed read) and raises."""

    engine: Engine
    key: bytes
    clock: Clock

    def refuse(self, who: Principal, *, action: str, case_id: str | None, reason: str) -> Refused:
        """Record a refusal in the audit log and return the exception to raise."""
        self._record(
            who, action=action, case_id=case_id, outcome=audit.REFUSED, reason=reason[:200]
        )
        log.warning(
            "refused: action=%s agency=%s role=%s case=%s", action, who.agency_id, who.role, case_id
        )
        return Refused(reason)

    def record_read(
        self, who: Principal, *, action: str, case_id: str, fields: Iterable[str], purpose: str
    ) -> None:
        """Record an allowed read of personal data: which fields, for which purpose."""
        self._record(who, action=action, case_id=case_id, fields=tuple(fields), purpose=purpose)

    def _record(self, who: Principal, *, action: str, case_id: str | None, **details: Any) -> None:
        entry = audit.Access(
            actor=who.subject,
            role=who.role.value,
            agency_id=who.agency_id,
            agency_type=who.agency_type,
            case_id=case_id,
            action=action,
            **details,
        )
        audit.record(self.engine, entry, key=self.key, now=self.clock.now())

    def require_role(
        self, who: Principal, roles: Iterable[Role], *, action: str, case_id: str | None = None
    ) -> None:
        """Refuse (recorded) unless the caller has one of the roles."""
        try:
            who.require(roles)
        except Refused as refused:
            raise self.refuse(who, action=action, case_id=case_id, reason=refused.reason) from None

    def require_case(
        self,
        who: Principal,
        standing: Callable[[], CaseStanding],
        *,
        action: str,
        case_id: str,
        reason: str,
    ) -> bool:
        """Refuse (recorded) an agency unrelated to a case this service knows; else tell whether
        to show the case's data (False: the service has not heard of the case yet; answer empty).

        Intake answers 201 before the event reaches this service, and the reporter asking at once
        is not probing someone else's case: it gets an empty answer, not a refusal.
        """
        if who.role is Role.OPERATOR:
            return True
        found = standing()
        if found.related:
            return True
        if not found.known:
            return False
        raise self.refuse(who, action=action, case_id=case_id, reason=reason)

    def require(
        self, who: Principal, allowed: bool, *, action: str, case_id: str | None, reason: str
    ) -> None:
        """Refuse (recorded) unless allowed holds."""
        if not allowed:
            raise self.refuse(who, action=action, case_id=case_id, reason=reason)


def forbidden(refused: Refused) -> HTTPException:
    """Answer a refusal: 403 with its reason (which never carries personal data)."""
    return HTTPException(status_code=403, detail=refused.reason)
