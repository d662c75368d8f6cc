"""Children who come with an adult victim: a case each, a minor who witnessed violence, linked.

Rules 38874 p.1, p.4 and p.8: a minor who witnessed violence is in scope and is passed on at
once. Intake opens (or joins) a case per child, linked both ways to the adult's case, and the
child's report_received names the adult's case; a child known only by number gets a case with
no personal data, which the receiving bodies identify (p.12.3, p.21).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from tests.integration import test_intake_access
from tests.integration.test_intake_access import IIN, NOW, Intake

# The in-process intake app of the access tests, on SQLite and PostgreSQL.
intake = test_intake_access.intake

ADULT_IIN = "900101400013"
CHILD_IIN = "170301600019"
SECOND_CHILD = {"full_name": "Dana Omarova", "birth_date": "2019-06-30", "sex": "female"}


def adult_report(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "reporter": {"agency_type": "police", "region": "KZ-75"},
        "channel": "duties",
        "received_at": NOW.isoformat(),
        "subject": {"kind": "adult", "full_name": "Saule Omarova", "iin": ADULT_IIN},
        "concerns": ["domestic_violence"],
        "children": [
            {"full_name": "Arman Omarov", "birth_date": "2017-03-01", "iin": CHILD_IIN},
            SECOND_CHILD,
        ],
    }
    data.update(overrides)
    return data


async def post(intake: Intake, data: dict[str, Any], agency_id: str = "kz-75-police") -> Any:
    return await intake.client.post("/v1/reports", json=data, headers=intake.token(agency_id))


async def case(intake: Intake, case_id: str) -> dict[str, Any]:
    answer = await intake.client.get(f"/v1/cases/{case_id}", headers=intake.token("kz-75-police"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def events(intake: Intake, name: str) -> list[dict[str, Any]]:
    with intake.runtime.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT payload FROM outbox WHERE subject = :s ORDER BY id"),
            {"s": f"qorgau.intake.{name}.v1"},
        )
        return [json.loads(row[0]) for row in rows]


async def test_each_child_gets_a_linked_case_as_a_witness(intake: Intake) -> None:
    posted = await post(intake, adult_report())
    assert posted.status_code == 201, posted.text
    adult_id = posted.json()["case_id"]

    adult = await case(intake, adult_id)
    links = adult["linked_cases"]
    assert [(link["relation"], link["identified"]) for link in links] == [
        ("accompanying_child", True),
        ("accompanying_child", True),
    ]
    child_ids = [link["case_id"] for link in links]
    assert len(set(child_ids) | {adult_id}) == 3
    for child_id in child_ids:
        child = await case(intake, child_id)
        assert child["subject_kind"] == "minor"
        assert child["reports"][0]["concerns"] == ["witnessed_violence"]
        assert child["reports"][0]["forwarded_under"] == "Rules 38874, p.8"
        assert [(link["case_id"], link["relation"]) for link in child["linked_cases"]] == [
            (adult_id, "adult_victim")
        ]
        assert child["your_relations"] == ["reporter"]

    received = {e["case_id"]: e for e in events(intake, "report_received")}
    assert sorted(received[adult_id]["child_case_ids"]) == sorted(child_ids)
    # The answer names the children's cases in the order of the report (a shelter keeps each
    # on the child's own stay).
    assert posted.json()["child_case_ids"] == received[adult_id]["child_case_ids"]
    assert received[adult_id]["flags"]["accompanying_minors"] == 2
    for child_id in child_ids:
        assert received[child_id]["adult_case_id"] == adult_id
        assert received[child_id]["subject_kind"] == "minor"
        assert received[child_id]["concerns"] == ["witnessed_violence"]
        assert received[child_id]["reporter_agency_id"] == "kz-75-police"

    # The child's own details, encrypted like the adult's, read back by a related agency.
    named = await intake.client.get(
        f"/v1/cases/{child_ids[1]}/subject?purpose=offence_check",
        headers=intake.token("kz-75-police"),
    )
    assert named.status_code == 200, named.text
    assert named.json()["fields"]["full_name"] == "Dana Omarova"
    with intake.runtime.engine.connect() as connection:
        dump = " ".join(
            str(row) for row in connection.execute(text("SELECT * FROM intake_subjects"))
        )
    assert "Dana Omarova" not in dump and CHILD_IIN not in dump


async def test_a_count_alone_opens_unidentified_child_cases_once(intake: Intake) -> None:
    first = await post(intake, adult_report(children=[], accompanying_minors=2))
    assert first.status_code == 201, first.text
    adult_id = first.json()["case_id"]
    links = (await case(intake, adult_id))["linked_cases"]
    assert [(link["identified"], link["legal_basis"]) for link in links] == [
        (False, "Rules 38874, p.12.3, p.21"),
        (False, "Rules 38874, p.12.3, p.21"),
    ]
    anonymous = await intake.client.get(
        f"/v1/cases/{links[0]['case_id']}/subject?purpose=offence_check",
        headers=intake.token("kz-75-police"),
    )
    assert anonymous.json()["fields"]["full_name"] is None

    # The same adult reported again with the same two children: the reports join the same
    # cases, and no third or fourth child case opens.
    again = await post(intake, adult_report(children=[], accompanying_minors=2))
    assert again.json()["case_id"] == adult_id and again.json()["joined_existing_case"]
    relinked = (await case(intake, adult_id))["linked_cases"]
    assert [link["case_id"] for link in relinked] == [link["case_id"] for link in links]
    joined = [e for e in events(intake, "report_joined") if e.get("adult_case_id") == adult_id]
    assert sorted(e["case_id"] for e in joined) == sorted(link["case_id"] for link in links)
    with intake.runtime.engine.connect() as connection:
        cases = connection.execute(text("SELECT COUNT(*) FROM intake_cases")).scalar_one()
    assert cases == 3


async def test_a_child_with_an_open_case_is_joined_and_linked(intake: Intake) -> None:
    school = await intake.client.post(
        "/v1/reports",
        json={
            "reporter": {"agency_type": "education_org", "region": "KZ-75"},
            "channel": "duties",
            "received_at": NOW.isoformat(),
            "subject": {"kind": "minor", "full_name": "Arman Omarov", "iin": CHILD_IIN},
            "concerns": ["violence"],
        },
        headers=intake.token("school-17"),
    )
    child_id = school.json()["case_id"]
    posted = await post(intake, adult_report(children=[{"iin": CHILD_IIN}]))
    adult_id = posted.json()["case_id"]
    assert [link["case_id"] for link in (await case(intake, adult_id))["linked_cases"]] == [
        child_id
    ]
    joined = events(intake, "report_joined")
    assert [(e["case_id"], e["adult_case_id"]) for e in joined] == [(child_id, adult_id)]


async def test_children_listed_wrongly_are_refused_naming_the_field(intake: Intake) -> None:
    cases = [
        (adult_report(subject={"kind": "minor", "iin": IIN}), "children"),
        (adult_report(concerns=["bullying"]), "children"),
        (adult_report(accompanying_minors=1), "children"),
        (adult_report(children=[{"birth_date": "2000-01-01"}]), "children.0.birth_date"),
        (adult_report(children=[{"iin": "123456789012"}]), "children.0.iin"),
        (adult_report(children=[{"iin": CHILD_IIN}, {"iin": CHILD_IIN}]), "children"),
        (adult_report(children=[{"iin": ADULT_IIN}]), "children"),
    ]
    for data, field in cases:
        answer = await post(intake, data)
        assert answer.status_code == 422, (field, answer.text)
        assert field in {problem["field"] for problem in answer.json()["detail"]}, answer.text
    with intake.runtime.engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM intake_cases")).scalar_one() == 0
