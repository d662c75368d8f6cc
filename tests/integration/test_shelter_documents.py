"""The shelter's printed forms from a real stay (Appendices 1, 2, 4, 5, 6, 7; Kazakh, Russian;
PDF), read through the audited path."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from services.shelter import documents, domain, handlers, views
from shared.access import Gatekeeper
from shared.auth import Principal, Role
from shared.clock import ALMATY
from shared.crypto import KeyRing
from shared.plans import MonitoringEntry
from tests.integration.test_shelter_care import SIGNED, contracted, draft
from tests.integration.test_shelter_stay import (
    CHILD,
    HEAD,
    SHELTER,
    Shelter,
    shelter,  # noqa: F401  (the fixture)
)

STAFF = Principal("specialist-1", "kz-75-shelter", "shelter", "KZ-75", Role.CASEWORKER, "t1")


def read(shelter: Shelter, stay_id: str) -> dict[str, Any]:  # noqa: F811
    gate = Gatekeeper(shelter.engine, KeyRing.generate().derived_key("audit"), shelter.clock)
    return views.read_stay(stay_id, STAFF, purpose="printing", gate=gate, deps=shelter.deps)


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_sheet_application_and_card_print_in_both_languages(
    shelter: Shelter,  # noqa: F811
    lang: str,
) -> None:
    stay_id = contracted(shelter)
    filled = SIGNED + timedelta(hours=1)
    shelter.at(filled)
    card = {"full_name": "Айгерим Серікқызы", "iin": "900304400017", "police_informed": True}
    handlers.fill_card(stay_id, card, filled, SHELTER, deps=shelter.deps)
    stay = read(shelter, stay_id)

    sheet = documents.render_html("assessment-sheet", lang, stay)
    assert "Айгерим Серікқызы" in sheet and "Signature" not in sheet
    if lang == "kk":
        assert "Бағалау парағы" in sheet and "деп танылады" in sheet
        assert "Ішкі істер органының өкілі" in sheet
    else:
        assert "Оценочный лист" in sheet and "Признается" in sheet
    application = documents.render_html("application", lang, stay, shelter_name="Crisis centre")
    assert ("ӨТІНІШ" if lang == "kk" else "ЗАЯВЛЕНИЕ") in application
    card_page = documents.render_html("registration-card", lang, stay)
    assert "900304400017" in card_page
    # Appendix 6: the model contract's text, the parties, its day (p.32).
    contract = documents.render_html("contract", lang, stay, shelter_name="Crisis centre")
    assert "Crisis centre" in contract and "Айгерим Серікқызы" in contract
    if lang == "kk":
        assert "Арнаулы әлеуметтік қызметтер көрсету туралы үлгілік шарт" in contract
        assert "6-қосымша" in contract and "37-тармағында" in contract
    else:
        assert "Типовой договор" in contract and "Приложение 6" in contract
    assert SIGNED.astimezone(ALMATY).strftime("%d.%m.%Y") in contract
    contract_pdf = documents.to_pdf(contract)
    assert contract_pdf.startswith(b"%PDF")

    pdf = documents.to_pdf(sheet)
    assert pdf.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Айгерим" in text


def test_a_form_not_recorded_yet_and_an_unknown_language(shelter: Shelter) -> None:  # noqa: F811
    stay_id = handlers.open_stay(
        handlers.ArrivalIn(
            domain.Arrival.APPLICATION,
            SIGNED - timedelta(days=5),
            {"full_name": "Айгерим"},
            children=[CHILD],
            consent=True,
        ),
        SHELTER,
        deps=shelter.deps,
    ).stay_id
    stay = read(shelter, stay_id)
    with pytest.raises(documents.NotRecorded):
        documents.render_html("assessment-sheet", "kk", stay)
    with pytest.raises(documents.UnknownForm) as unknown:
        documents.render_html("application", "en", stay)
    assert unknown.value.field == "lang"
    assert "Әлия Серікқызы" in documents.render_html("application", "kk", stay)


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_the_work_plan_and_its_journal_print(shelter: Shelter, lang: str) -> None:  # noqa: F811
    stay_id = contracted(shelter)
    assessed = SIGNED + timedelta(days=2)
    shelter.at(assessed + timedelta(hours=4))
    handlers.assess_needs(stay_id, ["social_psychological"], assessed, SHELTER, deps=shelter.deps)
    handlers.save_plan(stay_id, draft(), SHELTER, deps=shelter.deps)
    handlers.approve_plan(stay_id, assessed + timedelta(hours=3), HEAD, deps=shelter.deps)
    observed = assessed + timedelta(days=80)
    shelter.at(observed)
    entry = MonitoringEntry(observed.date(), "sw-2", "positive", note="calmer, sleeps")
    handlers.monitor(stay_id, entry, SHELTER, deps=shelter.deps)
    stay = read(shelter, stay_id)
    plan = documents.render_html("work-plan", lang, stay, shelter_name="Crisis centre")
    assert "psychological counselling, weekly" in plan and "psy-3" in plan
    assert ("Жеке жұмыс жоспары" if lang == "kk" else "Индивидуальный план работы") in plan
    assert ("әлеуметтік-құқықтық" if lang == "kk" else "социально-правовые") in plan
    journal = documents.render_html("monitoring-journal", lang, stay)
    assert "calmer, sleeps" in journal and observed.strftime("%d.%m.%Y") in journal
