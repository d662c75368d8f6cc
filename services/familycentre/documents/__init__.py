"""Print the individual work plan (F5, p.15-17), the emergency response plan (F7, p.22) and the
written notice of an admission with minor children (F10, p.26), in Kazakh and Russian.

- `render_plan_html(plan, lang, context=None, version=None) -> str`: a `shared.plans.Plan` of
  kind FAMILY_WORK or EMERGENCY_RESPONSE, a version (default: the one in force, else the draft)
  with its lines grouped by kind and their outcomes. `context`: `centre` (its name), `person`
  (the person's name; the plan holds only the case id), `agencies` = {agency id: name}.
- `render_notice_html(notice, lang) -> str`: the F10 notice to the police or the guardianship
  body (`Notice`).
- `to_pdf(html) -> bytes`: the same page as PDF (WeasyPrint; nothing is fetched).

`lang` is "kk" or "ru" (else `UnknownLanguage`, field "lang", answered 422). The pages hold
personal data: serve them only where the read is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.familycentre.documents.labels import (
    COMMON,
    EMERGENCY,
    ENDINGS,
    LANGUAGES,
    NOTICE,
    PLAN,
    STATUSES,
)
from shared.clock import ALMATY
from shared.plans import EMERGENCY_RESPONSE, FAMILY_WORK, Plan, PlanInvalid

__all__ = [
    "Notice",
    "UnknownLanguage",
    "UnknownVersion",
    "render_notice_html",
    "render_plan_html",
    "to_pdf",
]


class UnknownLanguage(ValueError):
    """The pages print in Kazakh or Russian only."""

    field = "lang"

    def __init__(self, lang: str) -> None:
        super().__init__(f"lang: is one of {', '.join(LANGUAGES)}, not {lang!r}")


class UnknownVersion(LookupError):
    """No version of this number (answered 404)."""

    field = "version"


@dataclass(frozen=True)
class Notice:
    """What the F10 notice says: to whom, who was admitted with which children, when."""

    to: str  # "police" or "guardianship"
    centre: str
    case_id: str
    admitted_at: datetime
    until: date
    room: str
    person: Mapping[str, Any]
    children: tuple[Mapping[str, Any], ...]
    today: date
    to_name: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def day(value: date | datetime | None) -> str:
    """Return a date as dd.mm.yyyy, an instant as its Almaty date, None as an empty string."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(ALMATY).date()
    return value.strftime("%d.%m.%Y")


_environment: Environment | None = None


def _templates() -> Environment:
    global _environment
    if _environment is None:
        _environment = Environment(
            loader=PackageLoader("services.familycentre.documents", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
        )
    return _environment


def _language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise UnknownLanguage(lang)
    return lang


def render_plan_html(
    plan: Plan, lang: str, context: Mapping[str, Any] | None = None, version: int | None = None
) -> str:
    """Return a version of the work plan or the emergency plan as an HTML page."""
    lang = _language(lang)
    context = context or {}
    try:
        chosen = plan.version(version)
    except PlanInvalid:
        raise UnknownVersion(f"version: no version {version}") from None
    emergency = plan.kind.code == EMERGENCY_RESPONSE.code
    texts = {**(EMERGENCY if emergency else PLAN)[lang]}
    lines = plan.lines(chosen.number)
    kinds = EMERGENCY_RESPONSE.line_kinds if emergency else FAMILY_WORK.line_kinds
    groups = [
        {
            "title": texts.get(kind.code, kind.code),
            "lines": [x for x in lines if x.kind == kind.code],
        }
        for kind in kinds
    ]
    ending = ENDINGS[lang].get(plan.ending.ground, plan.ending.ground) if plan.ending else ""
    return (
        _templates()
        .get_template("plan.html")
        .render(
            lang=lang,
            T=texts,
            P=PLAN[lang],
            C=COMMON[lang],
            day=day,
            version=chosen,
            groups=[g for g in groups if g["lines"]],
            statuses=STATUSES[lang],
            ending=ending,
            case_id=plan.subject_id,
            centre=context.get("centre", ""),
            person=context.get("person", ""),
            agencies=dict(context.get("agencies", {})),
        )
    )


def render_notice_html(notice: Notice, lang: str) -> str:
    """Return the written notice of p.26 as an HTML page."""
    lang = _language(lang)
    return (
        _templates()
        .get_template("notice.html")
        .render(
            lang=lang,
            T=NOTICE[lang],
            C=COMMON[lang],
            day=day,
            to=notice.to,
            to_name=notice.to_name,
            centre=notice.centre,
            case_id=notice.case_id,
            admitted_at=notice.admitted_at.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M"),
            until=notice.until,
            room=notice.room,
            person=dict(notice.person),
            children=[dict(child) for child in notice.children],
            today=notice.today,
        )
    )


def _refuse_fetch(url: str, *args: object, **kwargs: object) -> dict[str, Any]:
    # The pages are self-contained: printing never reaches the network.
    raise ValueError(f"documents fetch nothing while printing: {url[:40]}")


def to_pdf(html: str) -> bytes:
    """Print an HTML page of this package as PDF."""
    # Imported here: loading pango is slow, and only printing needs it.
    from weasyprint import HTML

    fetcher: Any
    try:  # WeasyPrint 68+: a fetcher object; no protocol allowed means nothing is fetched
        from weasyprint.urls import URLFetcher

        fetcher = URLFetcher(allowed_protocols=(), fail_on_errors=False)
    except ImportError:
        fetcher = _refuse_fetch
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf()
    assert pdf is not None
    return pdf
