"""Bad input to POST /v1/reports: a 422 naming the field, nothing registered, never a 500.

The intake app runs in process (the fixture of test_intake_access) on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.test_intake_access import IIN, Intake, body, intake

__all__ = ["intake"]


def subject(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = dict(body()["subject"])
    data.update(overrides)
    return data


def cases(intake: Intake) -> int:
    with intake.runtime.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM intake_cases")).scalar_one())


async def refused(intake: Intake, payload: bytes | dict[str, Any]) -> list[dict[str, Any]]:
    headers = {**intake.token("school-17"), "Content-Type": "application/json"}
    if isinstance(payload, bytes):
        answer = await intake.client.post("/v1/reports", content=payload, headers=headers)
    else:
        answer = await intake.client.post("/v1/reports", json=payload, headers=headers)
    assert answer.status_code == 422, answer.text
    assert cases(intake) == 0
    return list(answer.json()["detail"])


def fields(problems: list[dict[str, Any]]) -> set[str]:
    return {problem["field"] for problem in problems}


@pytest.mark.parametrize(
    "iin",
    ["١٥٠٤٠٢٦٠٠٠١٤", "۱۵۰۴۰۲۶۰۰۰۱۴", "１５０４０２６０００１４"],
)
async def test_an_iin_in_other_than_ascii_digits_is_refused(intake: Intake, iin: str) -> None:
    problems = await refused(intake, body(subject=subject(iin=iin)))
    assert fields(problems) == {"subject.iin"}


async def test_json_nested_thirty_thousand_deep_is_a_422(intake: Intake) -> None:
    # Both under the body size limit: the parser's depth, not the size, refuses them.
    deep = b"[" * 30_000 + b"]" * 30_000
    inside = b'{"narrative": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    for payload in (deep, inside):
        [problem] = await refused(intake, payload)
        assert (problem["field"], problem["message"]) == ("body", "nested too deeply")


@pytest.mark.parametrize(
    "received_at",
    [
        "0001-01-01T00:00:00+05:00",
        "0001-01-01T00:00:00Z",
        "1900-03-01T10:00:00+05:00",
        "2014-06-01T10:00:00+05:00",
        # Almaty (UTC+6 until 2024) starts 2015-01-01 at 2014-12-31T18:00Z.
        "2014-12-31T17:30:00+00:00",
    ],
)
async def test_a_report_received_before_the_earliest_act_is_refused(
    intake: Intake, received_at: str
) -> None:
    # A child of 17 then, an adult now: the only problem named is the date of the report.
    payload = body(received_at=received_at, subject=subject(birth_date="1997-06-01", iin=None))
    problems = await refused(intake, payload)
    assert fields(problems) == {"received_at"}
    assert "2015-01-01" in problems[0]["message"]


async def test_a_report_received_on_the_guides_first_day_is_accepted(intake: Intake) -> None:
    payload = body(
        received_at="2015-01-01T09:00:00+06:00",
        subject=subject(birth_date="2010-05-05", iin=None),
    )
    await intake.report(**payload)


async def test_a_report_received_before_the_birth_date_is_refused(intake: Intake) -> None:
    payload = body(
        received_at="2015-03-01T10:00:00+05:00",
        subject=subject(birth_date="2015-04-02"),
    )
    problems = await refused(intake, payload)
    assert "subject.birth_date" in fields(problems)


async def test_an_iin_whose_date_contradicts_the_birth_date_is_refused(intake: Intake) -> None:
    problems = await refused(intake, body(subject=subject(birth_date="2015-04-03", iin=IIN)))
    assert fields(problems) == {"subject.iin"}


async def test_a_minor_is_a_minor_on_the_day_the_report_was_received(intake: Intake) -> None:
    # 16 when the report was received in 2024, 18 by the time it is registered (2026).
    payload = body(
        received_at="2024-09-10T10:00:00+05:00",
        subject=subject(birth_date="2008-01-15", iin=None),
    )
    await intake.report(**payload)
    # Someone 18 on the day the report was received is not a minor.
    adult_then = body(
        received_at="2024-09-10T10:00:00+05:00",
        subject=subject(kind="minor", birth_date="2006-01-15", iin=None),
    )
    headers = intake.token("school-17")
    answer = await intake.client.post("/v1/reports", json=adult_then, headers=headers)
    assert answer.status_code == 422, answer.text
    assert fields(answer.json()["detail"]) == {"subject.birth_date"}
