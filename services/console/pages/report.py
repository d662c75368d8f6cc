"""New report: intake's form, its checks and messages next to each field.

The console does not check a report itself (intake does, and its 422 names each field); it
keeps whatever the person typed when the submit fails and shows each message by its field. It
stores nothing: the form's values live only in the request and the page sent back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from services.console.deps import ConsoleDeps
from services.console.pages.agency import refusal
from services.console.pages.guard import signed_in
from services.console.render import Page, redirect
from services.console.security import csrf_ok
from shared.clock import ALMATY
from shared.contracts.intake import Channel, Concern, Sign, SubjectKind

FLAGS = ("life_threat", "needs_medical_help", "offence_signs", "no_parental_care", "child_removed")
TEXT_FIELDS = (
    "channel",
    "received_at",
    "kind",
    "full_name",
    "birth_date",
    "iin",
    "sex",
    "address",
    "narrative",
)
# intake's field names (its 422) -> the form's.
FIELD_OF = {
    "subject.kind": "kind",
    "subject.full_name": "full_name",
    "subject.birth_date": "birth_date",
    "subject.iin": "iin",
    "subject.sex": "sex",
    "subject.address": "address",
}


def body_of(form: dict[str, Any], who: dict[str, Any]) -> dict[str, Any]:
    """Build intake's report body from the form, in the signed-in agency's name."""

    def text(name: str) -> str | None:
        value = str(form.get(name) or "").strip()
        return value or None

    received = text("received_at")
    if received is not None and len(received) == 16:
        # <input type="datetime-local"> gives Almaty wall time without an offset.
        try:
            received = datetime.fromisoformat(received).replace(tzinfo=ALMATY).isoformat()
        except ValueError:
            pass
    subject = {
        "kind": text("kind"),
        "full_name": text("full_name"),
        "birth_date": text("birth_date"),
        "iin": text("iin"),
        "sex": text("sex"),
        "address": text("address"),
    }
    body: dict[str, Any] = {
        "reporter": {
            "agency_type": who.get("agency_type"),
            "agency_id": who.get("agency_id"),
            "region": who.get("region"),
        },
        "channel": text("channel"),
        "received_at": received,
        "subject": {key: value for key, value in subject.items() if value is not None},
        "concerns": list(form.get("concerns") or []),
        "signs": list(form.get("signs") or []),
        **{flag: flag in (form.get("flags") or []) for flag in FLAGS},
    }
    if text("narrative"):
        body["narrative"] = text("narrative")
    return body


def router(deps: ConsoleDeps) -> APIRouter:
    """Build the new-report page."""
    routes = APIRouter(dependencies=[Depends(signed_in)])

    def show(page: Page, values: dict[str, Any], errors: dict[str, str], status: int) -> Response:
        return page.render(
            "report.html",
            status=status,
            values=values,
            errors=errors,
            channels=[c.value for c in Channel],
            kinds=[k.value for k in SubjectKind],
            concerns=[c.value for c in Concern],
            signs=[s.value for s in Sign],
            flags=FLAGS,
        )

    @routes.get("/reports/new")
    async def new_report(request: Request) -> Response:
        page = Page(request, deps.clock)
        now = page.clock.now().astimezone(ALMATY).strftime("%Y-%m-%dT%H:%M")
        values: dict[str, Any] = {"received_at": now, "channel": "duties", "kind": "minor"}
        return show(page, values, {}, 200)

    @routes.post("/reports/new")
    async def file_report(request: Request) -> Response:
        page = Page(request, deps.clock)
        raw = await request.form()
        values: dict[str, Any] = {name: str(raw.get(name) or "") for name in TEXT_FIELDS}
        values["concerns"] = [str(v) for v in raw.getlist("concerns")]
        values["signs"] = [str(v) for v in raw.getlist("signs")]
        values["flags"] = [str(v) for v in raw.getlist("flags")]
        if not csrf_ok(request, raw.get("csrf_token")):
            # Nothing is lost: the page comes back with every value and a fresh form.
            page.flash("error", page.gettext("The form has expired: check and send again."))
            return show(page, values, {}, 403)
        reply = await deps.backends.post(
            "intake", "/v1/reports", page.token, json=body_of(values, page.who or {})
        )
        if reply.status == 201:
            case = reply.body
            page.flash(
                "ok", page.gettext("Report registered, case number") + f" {case['case_number']}"
            )
            return redirect(f"/cases/{case['case_id']}")
        errors = {FIELD_OF.get(field, field): message for field, message in reply.problems.items()}
        if not errors:
            page.flash("error", refusal(page, reply))
        status = 422 if errors else (503 if reply.down else reply.status or 502)
        return show(page, values, errors, status)

    return routes
