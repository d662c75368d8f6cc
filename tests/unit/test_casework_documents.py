"""Printed assessment and plan: seed labels, both languages, the child's data, Kazakh letters."""

from __future__ import annotations

import io
import re
import threading
from dataclasses import replace
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pypdf
import pytest

from services.casework.assessment import (
    Assessment,
    AssessmentForm,
    Assessor,
    ChildData,
    Needs,
    PsychologicalNeeds,
    PsychPedagogicalNeeds,
)
from services.casework.documents import (
    UnknownLanguage,
    UnknownVersion,
    UnsupportedPlan,
    local_day,
    render_assessment_html,
    render_plan_html,
    to_pdf,
)
from services.casework.documents.labels import ASSESSMENT, PLAN
from shared.plans import FAMILY_WORK, REHABILITATION, Consent, LineStatus, Plan, PlanLine

# Every Kazakh-specific letter, small and capital, in the child's data.
KAZAKH_LETTERS = "әғқңөұүһіӘҒҚҢӨҰҮҺІ"
CHILD_NAME = "Әсемгүл Ғалымқызы Іңкәр"
ADDRESS = "Шаһар, Үміт көшесі 5, Өскемен, Ұлытау ауданы, Һ-тұрғын үй, ҢҚҒ"
NOW = datetime(2026, 12, 1, 5, tzinfo=UTC)


def _seed_dir() -> Path | None:
    for base in Path(__file__).resolve().parents:
        seeds = base / "shared" / "seeds"
        if (seeds / "001_e22a187bce1a1b6c.txt").exists():
            return seeds
    return None


def _flat(text: str) -> str:
    """Collapse whitespace, and the break after a hyphen, so wrapped text compares."""
    return re.sub(r"\s+", " ", re.sub(r"-\s+", "-", text)).strip()


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return _flat(" ".join(page.extract_text() for page in reader.pages))


def assessment() -> Assessment:
    form = AssessmentForm(
        child=ChildData(full_name=CHILD_NAME, sex="female", age=9),
        assessors=(Assessor("Қасым Өмірұлы Нұрлан", "бас маман", "cm-1"),),
        home_family="Ата-анасы міндеттерін орындамайды",
        relations="Әжесімен жақын",
        needs=Needs("тұрғын үй", "құжаттар бар", "тексеру", "кеңес", "мектеп №12"),
        psych_pedagogical=PsychPedagogicalNeeds("қауіп", "дағды", "байланыс", "көңіл", "оқу"),
        psychological=PsychologicalNeeds("мазасыз", "жарақат", "төмен", "анасы"),
        conclusions=f"Қорытынды: {ADDRESS}",
        signed_on=date(2026, 12, 1),
    )
    started = Assessment.start("a1", "case-1", at=NOW, form=form)
    return started.approve(by="head-1", at=datetime(2026, 12, 1, 20, tzinfo=UTC))


def plan() -> Plan:
    agencies = {"psc-1", "fsc-1"}
    draft = Plan.draft(
        "p1",
        REHABILITATION,
        "case-1",
        period_start=date(2026, 12, 2),
        period_end=date(2027, 6, 1),
        assessed_from=date(2026, 12, 1),
        assessed_to=date(2026, 12, 2),
        remarks="Ескертпе",
    )
    draft = draft.add_line(
        PlanLine(
            "l1",
            "psychological",
            "Жеке психологиялық кеңес",
            date(2026, 12, 2),
            date(2026, 12, 20),
            "psc-1",
        ),
        agencies=agencies,
    )
    draft = draft.add_line(
        PlanLine(
            "l2", "social", "Жәрдемақы рәсімдеу", date(2026, 12, 3), date(2027, 1, 15), "fsc-1"
        ),
        agencies=agencies,
    )
    draft = draft.record_consent(Consent(name="Ғалым Қасымұлы", given_on=date(2026, 12, 2)))
    approved = draft.approve(
        by="head-1", at=datetime(2026, 12, 2, 5, tzinfo=UTC), agencies=agencies
    )
    return approved.record_outcome(
        "l1",
        LineStatus.DONE,
        done_on=date(2026, 12, 18),
        result="5 кеңес өтті",
        today=date(2026, 12, 18),
    )


PLAN_CONTEXT = {
    "child": {
        "full_name": CHILD_NAME,
        "birth_date": date(2017, 3, 8),
        "contacts": "+7 701 000 00 00",
        "address": ADDRESS,
    },
    "agencies": {"psc-1": "Психологиялық қолдау орталығы №1", "fsc-1": "Отбасын қолдау орталығы"},
    "head_name": "Басшы Бекұлы",
}


@pytest.mark.parametrize("labels", [ASSESSMENT["kk"], PLAN["kk"]], ids=["appendix-1", "appendix-2"])
def test_kazakh_labels_are_the_seed_text(labels: dict[str, str]) -> None:
    seeds = _seed_dir()
    if seeds is None:
        pytest.skip("the handbook's seeds are not beside this checkout")
    seed = _flat((seeds / "001_e22a187bce1a1b6c.txt").read_text(encoding="utf-8"))
    for key, label in labels.items():
        if key.startswith("sex."):
            continue  # values, not labels of the form
        for part in re.split(r"\{\w+\}", label):
            assert _flat(part) in seed, (key, part)


def test_both_languages_label_the_same_fields() -> None:
    assert ASSESSMENT["kk"].keys() == ASSESSMENT["ru"].keys()
    assert PLAN["kk"].keys() == PLAN["ru"].keys()


def test_local_day_is_almaty() -> None:
    assert local_day(date(2026, 3, 8)) == "08.03.2026"
    assert local_day(datetime(2026, 12, 1, 20, tzinfo=UTC)) == "02.12.2026"  # 01:00 in Almaty
    assert local_day(None) == ""
    with pytest.raises(ValueError):
        local_day(datetime(2026, 12, 1, 20))


def test_html_escapes_what_was_typed() -> None:
    a = assessment()
    form = replace(a.current.form, relations="<img src=x onerror=alert(1)>")
    html = render_assessment_html(a.correct(reason="x", at=NOW).save(form, at=NOW), "kk")
    assert "<img src=x" not in html
    assert "&lt;img src=x" in html


def test_refusals() -> None:
    with pytest.raises(UnknownLanguage) as caught:
        render_assessment_html(assessment(), "en")
    assert caught.value.field == "lang"
    family = Plan.draft(
        "f", FAMILY_WORK, "p", period_start=date(2026, 12, 1), period_end=date(2027, 1, 1)
    )
    with pytest.raises(UnsupportedPlan):
        render_plan_html(family, "kk")


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_printed_assessment_holds_its_sections_and_the_child(lang: str) -> None:
    labels = ASSESSMENT[lang]
    html = render_assessment_html(assessment(), lang, {"approver_name": "Басшы Бекұлы"})
    text = pdf_text(to_pdf(html))
    assert _flat(labels["rules"]) in text
    assert labels["appendix"] in text
    for key in (
        "title",
        "child",
        "assessors",
        "home_family",
        "relations",
        "needs",
        "needs.medical",
        "psych_pedagogical",
        "psych_pedagogical.safety",
        "psychological",
        "psychological.past_trauma",
        "conclusions",
        "signatures",
        "approved",
    ):
        assert _flat(labels[key]) in text, key
    assert f"{CHILD_NAME}, {labels['sex.female']}, 9" in text
    assert "Қасым Өмірұлы Нұрлан, бас маман" in text
    assert "мектеп №12" in text
    assert "01.12.2026" in text  # signed
    assert "02.12.2026" in text  # approved at 01:00 Almaty
    assert "Басшы Бекұлы" in text
    for letter in KAZAKH_LETTERS:
        assert letter in text, letter


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_printed_plan_holds_its_sections_lines_and_the_child(lang: str) -> None:
    labels = PLAN[lang]
    text = pdf_text(to_pdf(render_plan_html(plan(), lang, PLAN_CONTEXT)))
    for key in ("title", "child", "contacts", "address", "measures", "remarks", "head", "consent"):
        assert _flat(labels[key]) in text, key
    for kind in ("medical", "psychological", "pedagogical", "social", "legal"):
        assert labels[f"kind.{kind}"] in text
    for column in ("col.name", "col.assigned", "col.done", "col.result"):
        assert labels[column] in text
    assert labels["period"].format(start="02.12.2026", end="01.06.2027") in text
    assert labels["assessed"].format(start="01.12.2026", end="02.12.2026") in text
    assert f"{CHILD_NAME}, 08.03.2017" in text
    assert _flat(ADDRESS) in text
    assert "+7 701 000 00 00" in text
    assert "Жеке психологиялық кеңес" in text
    assert "Психологиялық қолдау орталығы №1" in text
    assert "18.12.2026" in text and "5 кеңес өтті" in text  # the line reported done
    assert "Жәрдемақы рәсімдеу" in text
    assert "Ғалым Қасымұлы" in text
    assert "Басшы Бекұлы" in text
    for letter in KAZAKH_LETTERS:
        assert letter in text, letter


def test_printing_fetches_nothing() -> None:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        html = f'<html><body><img src="{url}/x.png"><link rel="stylesheet" href="{url}/s.css">'
        pdf = to_pdf(html + "Қ</body></html>")
    finally:
        server.shutdown()
        server.server_close()
    assert pdf.startswith(b"%PDF")
    assert hits == []


def test_an_earlier_version_or_the_draft_prints_on_request() -> None:
    revised = plan().revise(reason="new school", at=datetime(2026, 12, 20, tzinfo=UTC))
    revised = revised.remove_line("l2")
    in_force = render_plan_html(revised, "kk", PLAN_CONTEXT)
    draft = render_plan_html(revised, "kk", PLAN_CONTEXT, version=2)
    assert "Жәрдемақы рәсімдеу" in in_force
    assert "Жәрдемақы рәсімдеу" not in draft
    assert "5 кеңес өтті" in draft  # the outcome follows the line into the new version
    with pytest.raises(UnknownVersion):
        render_plan_html(revised, "kk", PLAN_CONTEXT, version=3)
    corrected = assessment().correct(reason="x", at=datetime(2026, 12, 5, tzinfo=UTC))
    assert "01.12.2026" in render_assessment_html(corrected, "ru", version=1)
    assert "01.12.2026" not in render_assessment_html(corrected, "ru")  # the draft is unsigned
    with pytest.raises(UnknownVersion):
        render_assessment_html(corrected, "ru", version=7)
