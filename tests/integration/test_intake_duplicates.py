"""The same person, or only the same name: intake never merges two children silently.

Two different valid IINs are never the same person. The same name, birth date and region
without both IINs is a possible duplicate: the new report opens its own case, both cases show
the candidate, and the receiving body's head confirms (the later case joins the earlier one,
audited, an event staged) or rejects it. The app runs in process on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from shared import audit
from shared.auth import Role
from tests.integration.test_intake_access import IIN, NAME, Intake, body, intake

__all__ = ["intake"]

OTHER_IIN = "150402600024"  # same birth date and sex, another person
RECEIVER = "kz-75-police"


def subject(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = dict(body()["subject"])
    data.update(overrides)
    return data


def count(intake: Intake, sql: str) -> int:
    with intake.runtime.engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


async def case_answer(intake: Intake, case_id: str, agency_id: str, role: Role) -> dict[str, Any]:
    answer = await intake.client.get(f"/v1/cases/{case_id}", headers=intake.token(agency_id, role))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_two_children_with_different_iins_get_two_cases(intake: Intake) -> None:
    first = await intake.report(subject=subject(iin=IIN))
    second = await intake.report(subject=subject(iin=OTHER_IIN))
    assert second["case_id"] != first["case_id"]
    assert second["joined_existing_case"] is False
    # Each case went out as a new case (a report_received event: R1 notices follow).
    assert count(intake, "SELECT count(*) FROM outbox WHERE subject LIKE '%report_received%'") == 2
    assert count(intake, "SELECT count(*) FROM intake_duplicate_candidates") == 0
    operator = await case_answer(intake, second["case_id"], "kz-75-police", Role.OPERATOR)
    assert operator["duplicate_candidates"] == []


async def test_the_same_iin_joins_the_open_case(intake: Intake) -> None:
    first = await intake.report(subject=subject(iin=IIN))
    second = await intake.report(subject=subject(iin=IIN, full_name="Аружан Сейтқали"))
    assert second["case_id"] == first["case_id"]
    assert second["joined_existing_case"] is True


@pytest.mark.parametrize(
    ("first_iin", "second_iin"), [(None, None), (IIN, None), (None, OTHER_IIN)]
)
async def test_a_name_and_birth_date_match_is_a_candidate_not_a_merge(
    intake: Intake, first_iin: str | None, second_iin: str | None
) -> None:
    first = await intake.report(subject=subject(iin=first_iin))
    second = await intake.report(
        "school-42", subject=subject(iin=second_iin, full_name=f"  {NAME.upper()} ")
    )
    assert second["case_id"] != first["case_id"]
    assert second["joined_existing_case"] is False
    assert count(intake, "SELECT count(*) FROM outbox WHERE subject LIKE '%report_received%'") == 2
    shown = await case_answer(intake, second["case_id"], "kz-75-police", Role.OPERATOR)
    [candidate] = shown["duplicate_candidates"]
    assert candidate["case_id"] == first["case_id"]
    assert candidate["status"] == "open"
    assert candidate["case_number"] == first["case_number"]
    earlier = await case_answer(intake, first["case_id"], "kz-75-police", Role.OPERATOR)
    assert [c["case_id"] for c in earlier["duplicate_candidates"]] == [second["case_id"]]
    # The second reporter relates to the new case only: it is not told of the other case.
    reporter = await case_answer(intake, second["case_id"], "school-42", Role.CASEWORKER)
    assert reporter["duplicate_candidates"] == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Әлия Нұрланқызы", "алия  нурланкызы"),
        ("Алёна Иванова", "АЛЕНА\tИВАНОВА"),
        ("Aru\u200bzhan Seit\u200dkali", "aruzhan seitkali"),
        ("Ａｒｕｚｈａｎ Seitkali", "Aruzhan Seitkali"),
        ("Iлияс", "илияс"),
    ],
)
async def test_names_are_normalised_before_they_are_compared(
    intake: Intake, first: str, second: str
) -> None:
    one = await intake.report(subject=subject(iin=None, full_name=first))
    two = await intake.report(subject=subject(iin=None, full_name=second))
    shown = await case_answer(intake, two["case_id"], "kz-75-police", Role.OPERATOR)
    assert [c["case_id"] for c in shown["duplicate_candidates"]] == [one["case_id"]]


@pytest.mark.parametrize(
    "name", ["   ", "\u200b\u200b", "\u200b \u2060\ufeff", "123 45", "-- . --"]
)
async def test_a_name_without_letters_is_refused(intake: Intake, name: str) -> None:
    answer = await intake.client.post(
        "/v1/reports",
        json=body(subject=subject(full_name=name)),
        headers=intake.token("school-17"),
    )
    assert answer.status_code == 422, answer.text
    assert {p["field"] for p in answer.json()["detail"]} == {"subject.full_name"}
    assert count(intake, "SELECT count(*) FROM intake_cases") == 0


async def test_cases_registered_before_normalisation_still_match(intake: Intake) -> None:
    first = await intake.report(subject=subject(iin=None, full_name="Әлия Нұрланқызы"))
    # The hash as intake wrote it before names were normalised: casefold and whitespace only.
    legacy = intake.deps.cipher.lookup_hash("әлия нұрланқызы|2015-04-02|KZ-75", field="identity")
    with intake.runtime.engine.begin() as connection:
        connection.execute(
            text("UPDATE intake_subjects SET identity_hash = :h WHERE case_id = :c"),
            {"h": legacy, "c": first["case_id"]},
        )
    second = await intake.report(subject=subject(iin=None, full_name="Әлия  Нұрланқызы"))
    shown = await case_answer(intake, second["case_id"], "kz-75-police", Role.OPERATOR)
    assert [c["case_id"] for c in shown["duplicate_candidates"]] == [first["case_id"]]


async def candidate_of(intake: Intake) -> tuple[str, str, str]:
    first = await intake.report(subject=subject(iin=IIN))
    second = await intake.report(subject=subject(iin=None))
    intake.refer(first["case_id"], RECEIVER)
    intake.refer(second["case_id"], RECEIVER)
    shown = await case_answer(intake, second["case_id"], RECEIVER, Role.HEAD)
    [candidate] = shown["duplicate_candidates"]
    return first["case_id"], second["case_id"], candidate["candidate_id"]


async def decide(
    intake: Intake, case_id: str, candidate_id: str, decision: str, *, agency: str, role: Role
) -> Any:
    return await intake.client.post(
        f"/v1/cases/{case_id}/duplicate-candidates/{candidate_id}/decision",
        json={"decision": decision},
        headers=intake.token(agency, role),
    )


async def test_the_receiving_bodys_head_confirms_a_duplicate(intake: Intake) -> None:
    earlier, later, candidate_id = await candidate_of(intake)
    for agency, role in ((RECEIVER, Role.CASEWORKER), ("school-17", Role.HEAD)):
        refused = await decide(intake, later, candidate_id, "confirm", agency=agency, role=role)
        assert refused.status_code == 403, refused.text
    answer = await decide(intake, later, candidate_id, "confirm", agency=RECEIVER, role=Role.HEAD)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "confirmed"
    assert answer.json()["merged_into"] == earlier
    shown = await case_answer(intake, later, RECEIVER, Role.HEAD)
    assert shown["status"] == "merged"
    assert shown["merged_into"] == earlier
    # The event carries ids only.
    with intake.runtime.engine.connect() as connection:
        [payload] = connection.execute(
            text(
                "SELECT payload FROM outbox WHERE subject = 'qorgau.intake.duplicate_confirmed.v1'"
            )
        ).scalars()
    event = json.loads(payload)
    assert event["case_id"] == later
    assert event["merged_into_case_id"] == earlier
    assert event["candidate_id"] == candidate_id
    assert NAME not in payload and IIN not in payload
    decided = [r for r in intake.audit_rows() if r["action"] == "duplicate.decide"]
    assert [r["outcome"] for r in decided][-1] == audit.ALLOWED
    assert len([r for r in decided if r["outcome"] == audit.REFUSED]) == 2
    # Decided once: a second decision is a conflict, changing nothing.
    again = await decide(intake, later, candidate_id, "reject", agency=RECEIVER, role=Role.HEAD)
    assert again.status_code == 409, again.text
    # The earlier case now knows the IIN the later report gave: the next report with it joins.
    joined = await intake.report(subject=subject(iin=IIN))
    assert joined["case_id"] == earlier


async def test_a_rejected_candidate_leaves_two_cases(intake: Intake) -> None:
    earlier, later, candidate_id = await candidate_of(intake)
    answer = await decide(intake, earlier, candidate_id, "reject", agency=RECEIVER, role=Role.HEAD)
    assert answer.status_code == 200, answer.text
    shown = await case_answer(intake, later, RECEIVER, Role.HEAD)
    assert shown["status"] == "open"
    assert shown["duplicate_candidates"][0]["status"] == "rejected"
    assert count(intake, "SELECT count(*) FROM outbox WHERE subject LIKE '%duplicate%'") == 0
    bad = await decide(intake, later, candidate_id, "maybe", agency=RECEIVER, role=Role.HEAD)
    assert bad.status_code == 422
