"""Deadlines' queries: the only place that builds them."""

from __future__ import annotations

from sqlmodel import Session, col, select

from services.deadlines.tables import Obligation


def get(session: Session, *, obligation_id: str) -> Obligation | None:
    """Return an obligation by id."""
    return session.get(Obligation, obligation_id)


def of_case(session: Session, *, case_id: str) -> list[Obligation]:
    """Return a case's obligations, earliest due first."""
    return list(
        session.exec(
            select(Obligation)
            .where(Obligation.case_id == case_id)
            .order_by(col(Obligation.due_at), col(Obligation.code), col(Obligation.obligation_id))
        ).all()
    )
