"""The printed pages (HTML, PDF; Kazakh, Russian): the work plan and the emergency plan for the
centre, the F10 notice for the centre and its addressees (p.26). Every print is an audited read.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from services.familycentre import documents, handlers, records, repository
from services.familycentre.api.common import Caller, actor_of, error, refusals_as_http
from services.familycentre.handlers import CentreDeps
from services.familycentre.handlers.support import PEOPLE_FIELD
from services.familycentre.tables import DirectoryAgency
from shared.access import Gatekeeper, forbidden
from shared.auth import Refused
from shared.clock import ALMATY
from shared.http import PathId
from shared.openapi import refusals

Lang = Literal["kk", "ru"]
Format = Literal["html", "pdf"]


def _name(found: DirectoryAgency | None, *, lang: str) -> str:
    if found is None:
        return ""
    return found.name_kk if lang == "kk" else found.name_ru


def _answer(html: str, fmt: str, name: str) -> Response:
    if fmt == "pdf":
        pdf = documents.to_pdf(html)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
        )
    return HTMLResponse(html)


def routes_of_documents(deps: CentreDeps, *, gate: Gatekeeper) -> APIRouter:
    """Build the printing routes."""
    routes = APIRouter(responses=refusals(403, 404))

    @routes.get("/v1/plans/{plan_id}/document", response_class=Response)
    async def plan_document(
        plan_id: PathId,
        who: Caller,
        lang: Lang = "kk",
        format: Format = "html",
        version: int | None = Query(default=None, ge=1, le=1000),
    ) -> Response:
        def run() -> str:
            row, plan = refusals_as_http(
                lambda: handlers.read_plan(plan_id, actor=actor_of(who), deps=deps)
            )
            if who.agency_id != row.centre_agency_id:
                raise error(404, f"not found: plan {plan_id}")
            with Session(deps.engine) as session:
                ids = {line.responsible for v in plan.versions for line in v.lines}
                names = {
                    agency_id: _name(found, lang=lang) or agency_id
                    for agency_id in ids
                    if agency_id and (found := repository.get_agency(session, agency_id=agency_id))
                }
                centre = repository.get_agency(session, agency_id=row.centre_agency_id)
            try:
                html = documents.render_plan_html(
                    plan,
                    lang,
                    {"agencies": names, "centre": _name(centre, lang=lang) or row.centre_agency_id},
                    version=version,
                )
            except documents.UnknownVersion:
                raise error(404, f"not found: version {version}") from None
            # The page holds what people told the centre: the print is on the audit log.
            gate.record_read(
                who,
                action="plan.print",
                case_id=row.case_id,
                fields=("plan.document",),
                purpose="family_support",
            )
            return html

        html = await run_in_threadpool(run)
        return await run_in_threadpool(_answer, html, format, f"plan-{plan_id}")

    @routes.get("/v1/stays/{stay_id}/notice", response_class=Response)
    async def notice(
        stay_id: PathId,
        who: Caller,
        to: Literal["police", "guardianship"],
        lang: Lang = "kk",
        format: Format = "html",
    ) -> Response:
        def run() -> str:
            with Session(deps.engine) as session:
                stay = repository.get_stay(session, stay_id=stay_id)
                if stay is None or not stay.accompanying_minors:
                    raise error(404, f"not found: notice of stay {stay_id}")
                addressee = repository.agency_of_type(session, agency_type=to, region=stay.region)
                centre = repository.get_agency(session, agency_id=stay.centre_agency_id)
                allowed = who.agency_id == stay.centre_agency_id or (
                    addressee is not None and who.agency_id == addressee.agency_id
                )
                reason = "only the centre and the notice's addressee read it (p.26)"
                try:
                    gate.require(
                        who, allowed, action="stay.notice", case_id=stay.case_id, reason=reason
                    )
                except Refused as refused:
                    raise forbidden(refused) from None
                gate.record_read(
                    who,
                    action="stay.notice",
                    case_id=stay.case_id,
                    fields=(PEOPLE_FIELD,),
                    purpose="notice_p26",
                )
                people = records.unseal(deps.cipher, stay.people, field=PEOPLE_FIELD) or {}
                name = partial(_name, lang=lang)
                return documents.render_notice_html(
                    documents.Notice(
                        to=to,
                        to_name=name(addressee),
                        centre=name(centre) or stay.centre_agency_id,
                        case_id=stay.case_id,
                        admitted_at=stay.admitted_at,
                        until=stay.until,
                        room=stay.room,
                        person=people.get("person", {}),
                        children=tuple(people.get("children", [])),
                        today=deps.clock.now().astimezone(ALMATY).date(),
                    ),
                    lang,
                )

        html = await run_in_threadpool(run)
        return await run_in_threadpool(_answer, html, format, f"notice-{stay_id}-{to}")

    return routes
