"""Print the shelter's forms: the application (Appendix 4), the assessment sheet (Appendix 5),
the contract (Appendix 6), the registration card (Appendix 7), the work plan (Appendix 1) and the
monitoring journal (Appendix 2), as HTML and PDF, in Kazakh and Russian.

`render_html(form, lang, stay)` takes the stay as `views.read_stay` returns it (the person's
data, the steps with their details): the caller has read it through the audited path. The page
is self-contained (nothing is fetched while printing); `to_pdf(html)` prints it with WeasyPrint.
Unknown language or form: `UnknownForm` (a ValueError naming its field, answered 422); a form
whose step is not recorded yet: `NotRecorded` (a LookupError, answered 404).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.shelter import domain
from services.shelter.documents.contract_labels import CONTRACT
from services.shelter.documents.labels import (
    APPLICATION,
    CARD,
    JOURNAL,
    KINDS,
    LANGUAGES,
    PLAN,
    SHEET,
    STANDARD,
)
from shared.clock import ALMATY

FORMS = (
    "application",
    "assessment-sheet",
    "contract",
    "registration-card",
    "work-plan",
    "monitoring-journal",
)
_TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    "application": ("application.html", APPLICATION),
    "assessment-sheet": ("sheet.html", SHEET),
    "contract": ("contract.html", CONTRACT),
    "registration-card": ("card.html", CARD),
    "work-plan": ("plan.html", PLAN),
    "monitoring-journal": ("journal.html", JOURNAL),
}
_ENV = Environment(
    loader=PackageLoader("services.shelter.documents", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)


class UnknownForm(ValueError):
    """A language or form the shelter does not print."""

    def __init__(self, field: str, value: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"{field}: is one of {', '.join(allowed)}, not {value!r}")
        self.field = field
        self.message = f"is one of {', '.join(allowed)}"


class NotRecorded(LookupError):
    """The step the form prints is not recorded on this stay yet."""


def _day(value: Any) -> str:
    """Return a date or an ISO date/time as dd.mm.yyyy (times as their Almaty day)."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(ALMATY).date()
    return str(value.strftime("%d.%m.%Y"))


def _step(stay: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [step for step in stay["steps"] if step["kind"] == kind]
    if not found:
        raise NotRecorded(kind)
    return dict(found[-1])


def _sections() -> list[tuple[str, list[str]]]:
    sections: dict[str, list[str]] = {}
    for code in domain.CRITERIA:
        sections.setdefault(code.split(".")[0], []).append(code)
    return list(sections.items())


def check(form: str, lang: str) -> None:
    """Refuse a form or language the shelter does not print (before anything is read)."""
    if lang not in LANGUAGES:
        raise UnknownForm("lang", lang, LANGUAGES)
    if form not in FORMS:
        raise UnknownForm("form", form, FORMS)


def render_html(form: str, lang: str, stay: dict[str, Any], *, shelter_name: str = "") -> str:
    """Return a form of the stay as an HTML page in Kazakh or Russian."""
    check(form, lang)
    template, labels = _TEMPLATES[form]
    context: dict[str, Any] = {
        "lang": lang,
        "L": labels[lang],
        "standard": STANDARD[lang],
        "person": stay["person"],
    }
    if form == "application":
        context |= {
            "shelter_name": shelter_name,
            "consent": stay["consent_recorded"],
            "children": [
                {**child["person"], "birth_date": _day(child["person"].get("birth_date"))}
                for child in stay.get("children", [])
            ],
            "applied_on": _day(stay["arrived_at"]),
        }
    elif form == "assessment-sheet":
        sheet = _step(stay, "identification")
        details = sheet["details"] or {}
        context |= {
            "sections": _sections(),
            "criteria": details.get("criteria", {}),
            "recognised": sheet["outcome"] == domain.Conclusion.RECOGNISED.value,
            "signatures": {
                s["role"]: {**s, "signed_on": _day(s["signed_on"])}
                for s in details.get("signatures", [])
            },
        }
    elif form == "contract":
        contract = _step(stay, "contract")
        context |= {
            "shelter_name": shelter_name,
            "number": (contract["details"] or {}).get("number", ""),
            "signed_on": _day(contract["at"]),
        }
    elif form in ("work-plan", "monitoring-journal"):
        context |= _plan_context(stay, lang, shelter_name)
    else:
        card = _step(stay, "registration_card")
        details = dict(card["details"] or {})
        yes, no = labels[lang]["yes"], labels[lang]["no"]
        details["police_informed"] = yes if details.get("police_informed") else no
        details["birth_date"] = _day(details.get("birth_date"))
        document = details.get("document")
        if isinstance(document, dict):
            details["document"] = ", ".join(str(value) for value in document.values() if value)
        context |= {
            "card": details,
            "filled_by": card["person_id"],
            "filled_on": _day(card["at"]),
        }
    return _ENV.get_template(template).render(**context)


def _plan_context(stay: dict[str, Any], lang: str, shelter_name: str) -> dict[str, Any]:
    """Return what Appendices 1 and 2 print: the version in force (else the draft), the journal."""
    plan = stay.get("plan")
    if not plan:
        raise NotRecorded("work plan")
    versions = plan["versions"]
    approved = [v for v in versions if v["status"] == "approved"]
    version = approved[-1] if approved else versions[-1]
    kinds = [
        (
            code,
            name,
            [
                {**line, "assigned_on": _day(line["assigned_on"])}
                for line in version["lines"]
                if line["kind"] == code
            ],
        )
        for code, name in KINDS[lang].items()
    ]
    names = KINDS[lang]
    return {
        "shelter_name": shelter_name,
        "approved_on": _day((version.get("approval") or {}).get("at")),
        "born": _day(stay["person"].get("birth_date")),
        "arrived": _day(stay["arrived_at"]),
        "assessed_from": _day(version.get("assessed_from")),
        "assessed_to": _day(version.get("assessed_to")),
        "period_start": _day(version["period_start"]),
        "period_end": _day(version["period_end"]),
        "kinds": kinds,
        "review": "",
        "entries": [
            {
                **entry,
                "observed_on": _day(entry["observed_on"]),
                "corrections": ", ".join(names.get(c, c) for c in entry["corrections"]),
            }
            for entry in plan["monitoring"]
        ],
    }


def to_pdf(html: str) -> bytes:
    """Return the page as PDF (WeasyPrint)."""
    # Loaded when printing only: WeasyPrint loads pango and its fonts on import.
    from weasyprint import HTML

    return bytes(HTML(string=html).write_pdf())
