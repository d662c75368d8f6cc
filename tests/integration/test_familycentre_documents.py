"""The printed pages on real databases: the work plan and the F10 notice, kk and ru, HTML and
PDF, each print an audited read; the notice only for the centre and its addressees."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import Session

from shared import audit
from tests.integration.familycentre_setup import POLICE, SOCIAL, Centre, make_centre
from tests.integration.test_familycentre_plans import DONE, drafted, needs_determined


@pytest.fixture
def centre(migrated_engine: Callable[[str], Engine]) -> Centre:
    return make_centre(migrated_engine("familycentre"))


def test_the_work_plan_prints_in_kazakh_and_russian_as_html_and_pdf(centre: Centre) -> None:
    plan_id = drafted(centre, needs_determined(centre))
    centre.put(
        f"/v1/plans/{plan_id}/lines/l1",
        {
            "kind": "state_support",
            "activity": "атаулы әлеуметтік көмек",
            "assigned_on": "2026-11-23",
            "due_on": "2026-12-07",
            "responsible": SOCIAL,
        },
    )
    kk = centre.get(f"/v1/plans/{plan_id}/document?lang=kk")
    assert kk.status_code == 200, kk.text
    assert "Жеке жұмыс жоспары" in kk.text and "атаулы әлеуметтік көмек" in kk.text
    assert "07.12.2026" in kk.text
    ru = centre.get(f"/v1/plans/{plan_id}/document?lang=ru")
    assert "Индивидуальный план работы" in ru.text
    assert centre.get(f"/v1/plans/{plan_id}/document?lang=en").status_code == 422
    assert centre.get(f"/v1/plans/{plan_id}/document?version=9").status_code == 404
    assert centre.get(f"/v1/plans/{plan_id}/document", agency_id=SOCIAL).status_code == 404
    pdf = centre.get(f"/v1/plans/{plan_id}/document?lang=kk&format=pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Жеке жұмыс жоспары" in text
    with Session(centre.engine) as session:
        case_id = centre.get(f"/v1/plans/{plan_id}").json()["case_id"]
        actions = [e.action for e in audit.entries(session, case_id=case_id)]
    assert actions.count("plan.print") == 3


def test_the_f10_notice_prints_for_the_centre_and_the_police_not_for_others(
    centre: Centre,
) -> None:
    assert centre.put("/v1/rooms/4", {"capacity": 2}, role="head").status_code == 200
    stay = centre.post(
        "/v1/stays",
        {
            "basis": "referral_police",
            "room": "4",
            "admitted_at": DONE,
            "until": (centre.clock.now() + timedelta(days=10)).date().isoformat(),
            "person": {"full_name": "Айгүл Серікова"},
            "children": [{"full_name": "Ерлан", "birth_date": "2017-03-01"}],
        },
    ).json()
    path = f"/v1/stays/{stay['stay_id']}/notice"
    kk = centre.get(f"{path}?to=police&lang=kk")
    assert kk.status_code == 200, kk.text
    assert "Ерлан" in kk.text and "26-тармақ" in kk.text
    police = centre.get(f"{path}?to=police&lang=ru", agency_id=POLICE)
    assert police.status_code == 200 and "пункт 26" in police.text
    assert centre.get(f"{path}?to=guardianship", agency_id=POLICE).status_code == 403
    assert centre.get(f"{path}?to=police", agency_id=SOCIAL).status_code == 403
    pdf = centre.get(f"{path}?to=guardianship&format=pdf")
    assert pdf.content.startswith(b"%PDF")
    with Session(centre.engine) as session:
        entries = audit.entries(session, case_id=stay["case_id"])
    assert [e.outcome for e in entries if e.action == "stay.notice"].count(audit.REFUSED) == 2
