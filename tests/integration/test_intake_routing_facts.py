"""Facts intake takes for routing and carries on its events: codes, flags and times only.

Standard 14701 p.35 (the person refuses to go to the police), the removal of a child with its
time (Guide p.12.2, p.12.4), and a joined report's subject kind and age band (Guide p.13.4).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from shared.outbox import OutboxRow
from tests.integration.test_intake_access import NOW, Intake, body, intake  # noqa: F401

POLICE = {"agency_type": "police", "region": "KZ-75"}


def events(target: Intake, name: str) -> list[dict[str, Any]]:
    with Session(target.runtime.engine) as session:
        rows = session.exec(select(OutboxRow).order_by(OutboxRow.id)).all()  # type: ignore[arg-type]
        return [json.loads(r.payload) for r in rows if r.subject == f"qorgau.intake.{name}.v1"]


def adult(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "reporter": {"agency_type": "shelter", "region": "KZ-75"},
        "subject": {"kind": "adult", "full_name": "Aigul Nurlanova", "birth_date": "1990-02-03"},
        "concerns": ["domestic_violence"],
        "signs": [],
    }
    data.update(overrides)
    return data


async def test_a_person_refusing_to_go_to_the_police_is_a_fact_on_the_event(
    intake: Intake,  # noqa: F811
) -> None:
    await intake.report("kz-75-shelter", **adult(refuses_police=True))
    (received,) = events(intake, "report_received")
    assert received["flags"]["refuses_police"] is True
    await intake.report(
        "kz-75-shelter",
        **adult(subject={"kind": "adult", "full_name": "Other Person", "birth_date": "1985-01-01"}),
    )
    assert events(intake, "report_received")[1]["flags"]["refuses_police"] is False


async def test_the_removal_of_a_child_is_a_fact_with_its_time(intake: Intake) -> None:  # noqa: F811
    removed = (NOW - timedelta(hours=3)).isoformat()
    await intake.report("kz-75-police", reporter=POLICE, child_removed_at=removed)
    (received,) = events(intake, "report_received")
    assert received["flags"]["child_removed"] is True
    assert datetime.fromisoformat(received["flags"]["child_removed_at"]) == NOW - timedelta(hours=3)
    future = (NOW + timedelta(days=1)).isoformat()
    answer = await intake.client.post(
        "/v1/reports",
        json=body(reporter=POLICE, child_removed_at=future),
        headers=intake.token("kz-75-police"),
    )
    assert answer.status_code == 422
    assert "child_removed_at" in answer.text


async def test_a_joined_report_carries_the_subject_kind_and_the_age_band(
    intake: Intake,  # noqa: F811
) -> None:
    # The same IIN: only that joins a later report to the case.
    toddler = {
        "kind": "minor",
        "full_name": "Aru Bekova",
        "birth_date": "2025-01-10",
        "iin": "250110610005",
    }
    await intake.report(subject=toddler)
    await intake.report(subject=toddler)
    (joined,) = events(intake, "report_joined")
    assert (joined["subject_kind"], joined["under_three"]) == ("minor", True)
