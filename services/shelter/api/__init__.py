"""Shelter's HTTP routes: they check the caller, read the input, call handlers or views.

Shelter staff record arrivals and steps on their own stays; the social protection body the
sheet went to records its decision and its sending with its own token (p.31); a stay's end
needs the head (p.38). A refusal answers 403 (audited), an unknown stay 404, bad input 422
naming the field, a step out of order 409; nothing changes then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from services.shelter import documents, domain, handlers, views
from services.shelter.api.care import routes_of_care
from services.shelter.api.common import Caller, acting, actor_of, checked, error
from services.shelter.api.models import (
    ArrivalBody,
    CapacityBody,
    ContractBody,
    DecisionBody,
    DepartureBody,
    GeneralServicesBody,
    IdentificationBody,
    RefusalBody,
    ReturnBody,
    ScreeningBody,
    SentBody,
    StopBody,
)
from services.shelter.handlers import Actor, ShelterDeps
from shared.access import Gatekeeper
from shared.auth import Principal
from shared.http import PathId
from shared.openapi import refusals

Purpose = Annotated[str, Query(min_length=1, max_length=80, pattern=r"^[a-z_]+$")]


def router(
    deps: ShelterDeps, *, gate: Gatekeeper, wake_relay: Callable[[], None] = lambda: None
) -> APIRouter:
    """Build shelter's routes; every one needs a token."""
    routes = APIRouter(responses=refusals(403, 404, 409))

    act = acting(gate, deps, wake_relay)

    def staff(who: Principal) -> Actor:
        return actor_of(who)

    @routes.post("/v1/stays", status_code=201)
    async def arrive(body: ArrivalBody, who: Caller) -> dict[str, Any]:
        data = handlers.ArrivalIn(
            arrival=body.arrival,
            arrived_at=body.arrived_at,
            person=body.person.model_dump(mode="json", exclude_none=True),
            children=[child.model_dump(mode="json", exclude_none=True) for child in body.children],
            consent=body.consent,
            referral_id=body.referral_id,
            refuses_police=body.refuses_police,
        )
        return await act(who, "stay.open", lambda: handlers.open_stay(data, staff(who), deps=deps))

    @routes.get("/v1/stays")
    async def list_stays(who: Caller) -> dict[str, Any]:
        await checked(
            lambda: gate.require(
                who,
                who.agency_type == "shelter",
                action="stays.read",
                case_id=None,
                reason="a shelter reads its own stays",
            )
        )
        stays = await run_in_threadpool(views.stays_of, who.agency_id, deps=deps)
        return {"agency_id": who.agency_id, "stays": stays}

    @routes.get("/v1/stays/{stay_id}")
    async def read(stay_id: PathId, who: Caller, purpose: Purpose = "shelter") -> dict[str, Any]:
        try:
            return await run_in_threadpool(  # type: ignore[no-any-return]
                lambda: views.read_stay(stay_id, who, purpose=purpose, gate=gate, deps=deps)
            )
        except handlers.UnknownStay:
            raise error(404, "not found: stay") from None

    @routes.get(
        "/v1/stays/{stay_id}/documents/{form}",
        responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
    )
    async def document(
        stay_id: PathId,
        form: PathId,
        who: Caller,
        lang: Annotated[str, Query(max_length=2)] = "kk",
        format: Annotated[str, Query(pattern=r"^(html|pdf)$")] = "html",
        purpose: Purpose = "shelter",
    ) -> Response:
        try:
            documents.check(form, lang)
        except documents.UnknownForm as unknown:
            raise error(422, unknown.message, unknown.field) from None

        def read() -> str:
            stay = views.read_stay(stay_id, who, purpose=purpose, gate=gate, deps=deps)
            shelter = deps.agencies.get(stay["shelter_agency_id"])
            name = shelter.name(lang) if shelter is not None else stay["shelter_agency_id"]
            return documents.render_html(form, lang, stay, shelter_name=name)

        try:
            html = await run_in_threadpool(read)
        except handlers.UnknownStay:
            raise error(404, "not found: stay") from None
        except documents.NotRecorded as missing:
            raise error(404, f"not recorded yet: {missing}") from None
        if format == "pdf":
            pdf = await run_in_threadpool(documents.to_pdf, html)
            return Response(pdf, media_type="application/pdf")
        return Response(html, media_type="text/html; charset=utf-8")

    @routes.get("/v1/referrals")
    async def waiting(who: Caller) -> dict[str, Any]:
        await checked(
            lambda: gate.require(
                who,
                who.agency_type == "shelter",
                action="referrals.read",
                case_id=None,
                reason="a shelter reads the referrals delivered to it",
            )
        )
        found = await run_in_threadpool(views.referrals_waiting, who.agency_id, deps=deps)
        return {"agency_id": who.agency_id, "referrals": found}

    @routes.post("/v1/stays/{stay_id}/screening")
    async def screening(stay_id: PathId, body: ScreeningBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.screening",
            lambda: handlers.screen(
                stay_id, body.contraindications, body.screened_at, staff(who), deps=deps
            ),
        )

    @routes.post("/v1/stays/{stay_id}/readmission")
    async def readmission(stay_id: PathId, body: ReturnBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.readmission",
            lambda: handlers.readmit(stay_id, body.returned_at, staff(who), deps=deps),
        )

    @routes.post("/v1/stays/{stay_id}/general-services")
    async def general(stay_id: PathId, body: GeneralServicesBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.general_services",
            lambda: handlers.general_services(
                stay_id, body.services, body.given_at, staff(who), deps=deps
            ),
        )

    @routes.post("/v1/stays/{stay_id}/identification")
    async def identification(
        stay_id: PathId, body: IdentificationBody, who: Caller
    ) -> dict[str, Any]:
        sheet = handlers.SheetIn(
            interviewed_at=body.interviewed_at,
            criteria=dict(body.criteria),
            conclusion=body.conclusion,
            participants=dict(body.participants),
            signatures=[
                domain.Signature(s.role, s.person_id, s.position, s.signed_on)
                for s in body.signatures
            ],
            signatory_names={s.role: s.name for s in body.signatures},
        )
        return await act(
            who,
            "stay.identification",
            lambda: handlers.identify(stay_id, sheet, staff(who), deps=deps),
        )

    @routes.post("/v1/stays/{stay_id}/sheet/send")
    async def sheet_sent(stay_id: PathId, body: SentBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.sheet_send",
            lambda: handlers.send_sheet(stay_id, body.sent_at, staff(who), deps=deps),
        )

    @routes.post("/v1/stays/{stay_id}/decision")
    async def decision(stay_id: PathId, body: DecisionBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.decision",
            lambda: handlers.decide(
                stay_id, body.decision, body.decided_at, body.number, staff(who), deps=deps
            ),
        )

    @routes.post("/v1/stays/{stay_id}/decision/send")
    async def decision_sent(stay_id: PathId, body: SentBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.decision_send",
            lambda: handlers.send_decision(stay_id, body.sent_at, staff(who), deps=deps),
        )

    @routes.post("/v1/stays/{stay_id}/contract")
    async def contract(stay_id: PathId, body: ContractBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.contract",
            lambda: handlers.sign_contract(
                stay_id, body.signed_at, body.number, staff(who), deps=deps
            ),
        )

    @routes.post("/v1/stays/{stay_id}/police-refusal")
    async def police_refusal(stay_id: PathId, body: RefusalBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.police_refusal",
            lambda: handlers.police_refusal(stay_id, body.refused_at, staff(who), deps=deps),
        )

    @routes.post("/v1/stays/{stay_id}/stop")
    async def stop(stay_id: PathId, body: StopBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.stop",
            lambda: handlers.stop_services(
                stay_id, body.contraindications, body.found_at, staff(who), deps=deps
            ),
        )

    @routes.post("/v1/stays/{stay_id}/departure")
    async def departure(stay_id: PathId, body: DepartureBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.departure",
            lambda: handlers.end_stay(
                stay_id,
                body.ground,
                body.ended_at,
                body.returned,
                staff(who),
                violations=body.violations,
                absent_hours=body.absent_hours,
                order_number=body.order_number,
                deps=deps,
            ),
        )

    @routes.put("/v1/capacity")
    async def put_capacity(body: CapacityBody, who: Caller) -> dict[str, Any]:
        try:
            await run_in_threadpool(
                lambda: handlers.set_capacity(body.beds, dict(body.staff), actor_of(who), deps=deps)
            )
        except domain.NotActor as refused:
            reason = str(refused)
            await checked(
                lambda: gate.require(
                    who, False, action="capacity.change", case_id=None, reason=reason
                )
            )
        except domain.InvalidInput as invalid:
            raise error(422, invalid.message, invalid.field) from None
        wake_relay()
        report: dict[str, Any] = await run_in_threadpool(
            handlers.capacity_report, who.agency_id, deps=deps
        )
        return report

    @routes.get("/v1/capacity")
    async def get_capacity(who: Caller) -> dict[str, Any]:
        await checked(
            lambda: gate.require(
                who,
                who.agency_type == "shelter",
                action="capacity.read",
                case_id=None,
                reason="a shelter reads its own capacity",
            )
        )
        report: dict[str, Any] = await run_in_threadpool(
            handlers.capacity_report, who.agency_id, deps=deps
        )
        return report

    routes.include_router(routes_of_care(deps, act=act))
    return routes
