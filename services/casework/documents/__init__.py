"""Print the primary assessment (Appendix 1) and the rehabilitation plan (Appendix 2).

Rules 38874 p.21-22: both are kept on the appendices' forms. Casework calls:

- `render_assessment_html(assessment, lang, context=None) -> str`: the newest version of an
  `services.casework.assessment.Assessment` (draft or approved) as HTML. `context` (optional):
  `approver_name` (the head who approved; the approval itself holds only a person id).
- `render_plan_html(plan, lang, context=None) -> str`: the version in force of a
  `shared.plans.Plan` of kind `REHABILITATION` (else the draft), with each line's outcome.
  `context`: `child` = {`full_name`, `birth_date` (a date), `contacts`, `address`} (the plan
  holds only the subject's id), `agencies` = {agency id: name} for the responsible
  organisations (an id without a name prints as the id), `head_name`.
- Both take `version=N` to print an earlier version or the open draft (`UnknownVersion`, a
  LookupError whose `field` is "version", when there is none: answer 404).
- `to_pdf(html) -> bytes`: the same page as PDF (WeasyPrint; fonts installed by
  `make install`). Nothing is fetched while printing: the page is self-contained.

`lang` is "kk" or "ru" (else `UnknownLanguage`, a ValueError whose `field` is "lang", to be
answered 422). Dates print as dd.mm.yyyy; times are turned into Almaty dates first. The printed
pages hold personal data: serve them only where the caller's reads are audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.casework.assessment import SECTIONS, Assessment, AssessmentVersion
from services.casework.documents.labels import ASSESSMENT, LANGUAGES, PLAN
from shared.clock import ALMATY
from shared.plans import REHABILITATION, Plan, PlanInvalid, PlanLine

__all__ = [
    "UnknownLanguage",
    "UnknownVersion",
    "UnsupportedPlan",
    "local_day",
    "render_assessment_html",
    "render_plan_html",
    "to_pdf",
]


class UnknownLanguage(ValueError):
    """The document is printed in Kazakh or Russian only."""

    field = "lang"

    def __init__(self, lang: str) -> None:
        super().__init__(f"lang: is one of {', '.join(LANGUAGES)}, not {lang!r}")


class UnknownVersion(LookupError):
    """No version of this number (answered 404)."""

    field = "version"

    def __init__(self, number: int) -> None:
        super().__init__(f"version: no version {number}")


class UnsupportedPlan(ValueError):
    """Only the rehabilitation plan has a form here; other kinds print in their services."""

    field = "kind"


def local_day(value: date | datetime | None) -> str:
    """Return a date as dd.mm.yyyy, an instant as its Almaty date, None as an empty string."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a time to print must carry a timezone offset")
        value = value.astimezone(ALMATY).date()
    return value.strftime("%d.%m.%Y")


_environment: Environment | None = None


def _templates() -> Environment:
    global _environment
    if _environment is None:
        _environment = Environment(
            loader=PackageLoader("services.casework.documents", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _environment.filters["day"] = local_day
    return _environment


def _check(lang: str) -> None:
    if lang not in LANGUAGES:
        raise UnknownLanguage(lang)


def render_assessment_html(
    assessment: Assessment,
    lang: str,
    context: Mapping[str, Any] | None = None,
    *,
    version: int | None = None,
) -> str:
    """Render a version of the assessment (by default its newest) on the form of Appendix 1."""
    _check(lang)
    context = context or {}
    chosen = assessment.current
    if version is not None:
        found = [v for v in assessment.versions if v.number == version]
        if not found:
            raise UnknownVersion(version)
        chosen = found[0]
    return _render_assessment(chosen, lang, context)


def _render_assessment(version: AssessmentVersion, lang: str, context: Mapping[str, Any]) -> str:
    form = version.form
    sections = []
    single: dict[str, str | None] = {}
    for section, names in SECTIONS:
        if section in ("child", "assessors", "signatures"):
            continue
        group = getattr(form, section)
        if len(names) > 1:
            pairs = [(f"{section}.{f.name}", getattr(group, f.name)) for f in fields(group)]
            sections.append((section, pairs))
        else:
            single[section] = group
            sections.append((section, []))
    return (
        _templates()
        .get_template("assessment.html")
        .render(
            lang=lang,
            L=ASSESSMENT[lang],
            form=form,
            sections=sections,
            single=single,
            approver_name=context.get("approver_name", ""),
            approved_at=version.approval.at if version.approval else None,
        )
    )


def render_plan_html(
    plan: Plan,
    lang: str,
    context: Mapping[str, Any] | None = None,
    *,
    version: int | None = None,
) -> str:
    """Render a version of the plan (by default the one in force) on the form of Appendix 2."""
    _check(lang)
    if plan.kind.code != REHABILITATION.code:
        raise UnsupportedPlan(f"kind: {plan.kind.code} plans are not printed by casework")
    context = context or {}
    labels = PLAN[lang]
    try:
        chosen = plan.version(version)
    except PlanInvalid:
        raise UnknownVersion(version or 0) from None
    lines = plan.lines(chosen.number)
    groups: list[tuple[dict[str, Any], list[PlanLine]]] = [
        (
            {"number": n, "code": kind.code},
            [line for line in lines if line.kind == kind.code],
        )
        for n, kind in enumerate(plan.kind.line_kinds, start=1)
    ]
    child = {"full_name": None, "birth_date": None, "contacts": None, "address": None}
    child.update(context.get("child", {}))
    return (
        _templates()
        .get_template("plan.html")
        .render(
            lang=lang,
            L=labels,
            version=chosen,
            groups=groups,
            child=child,
            agencies=dict(context.get("agencies", {})),
            head_name=context.get("head_name", ""),
            approved_at=chosen.approval.at if chosen.approval else None,
            consent=chosen.consent or _NO_CONSENT,
            assessed=labels["assessed"].format(
                start=local_day(chosen.assessed_from) or "____",
                end=local_day(chosen.assessed_to) or "____",
            ),
            period=labels["period"].format(
                start=local_day(chosen.period_start), end=local_day(chosen.period_end)
            ),
        )
    )


_NO_CONSENT = {"name": None, "given_on": None, "not_obtained_reason": None}


def _refuse_fetch(url: str, *args: object, **kwargs: object) -> dict[str, Any]:
    # The pages are self-contained; printing must never reach the network (loopback only),
    # whatever a field's text holds.
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
    assert pdf is not None  # write_pdf without a target returns the bytes
    return pdf
