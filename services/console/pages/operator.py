"""Operators' pages: compliance with plots, a case's trace, the directory, calendar overrides.

Every figure and change goes through deadlines' and routing's APIs with the operator's token:
a person who is not an operator sees those services' refusals, not the console's.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import Response

from services.console import charts
from services.console.deps import ConsoleDeps
from services.console.pages.agency import refusal
from services.console.pages.guard import signed_in
from services.console.render import Page, redirect
from services.console.security import csrf_ok
from services.console.traces import waterfalls
from shared.agencies import AgencyType
from shared.clock import ALMATY

WEEKS = 8


def router(deps: ConsoleDeps) -> APIRouter:
    """Build the operators' pages."""
    routes = APIRouter(prefix="/operator", dependencies=[Depends(signed_in)])

    @routes.get("/compliance")
    async def compliance(
        request: Request,
        region: str | None = None,
        agency_type: str | None = None,
        case_id: str | None = None,
    ) -> Response:
        page = Page(request, deps.clock)
        query = {"region": region, "agency_type": agency_type}
        # Open breaches over time: each week's figures, counted by the week the term ended.
        today = (
            page.clock.now().astimezone(ALMATY).replace(hour=0, minute=0, second=0, microsecond=0)
        )
        monday = today - timedelta(days=today.weekday())
        weeks = [monday - timedelta(weeks=back) for back in range(WEEKS - 1, -1, -1)]
        calls = [deps.backends.get("deadlines", "/v1/compliance", page.token, params=query)]
        for start in weeks:
            period = {
                **query,
                "from": start.isoformat(),
                "to": (start + timedelta(weeks=1)).isoformat(),
            }
            calls.append(
                deps.backends.get("deadlines", "/v1/compliance", page.token, params=period)
            )
        case = (case_id or "").strip()
        if case:
            # One case's breaches next to the figures: what stalled, and where to look in its trace.
            calls.append(
                deps.backends.get(
                    "deadlines", f"/v1/cases/{quote(case, safe='')}/obligations", page.token
                )
            )
        replies = await asyncio.gather(*calls)
        case_reply = replies.pop() if case else None
        breaches = [
            row
            for row in (
                case_reply.body.get("obligations", []) if case_reply and case_reply.ok else []
            )
            if row.get("status") == "breached" or row.get("breached_at")
        ]
        total = replies[0]
        agencies = list(total.body.get("agencies", [])) if total.ok else []
        plots: dict[str, Any] = {}
        if agencies:
            plots["on_time"] = charts.bars(
                page.gettext("On-time share"),
                [
                    (
                        row.get("agency_id") or row.get("agency_type") or "?",
                        row.get("on_time_percent") or 0.0,
                    )
                    for row in agencies
                    if row.get("on_time_percent") is not None
                ][:20],
                maximum=100,
                unit="%",
            )
            lateness = [
                float(row["median_lateness_seconds"])
                for row in agencies
                if row.get("median_lateness_seconds") is not None
            ]
            plots["lateness"] = charts.bars(
                page.gettext("Lateness distribution"), charts.lateness_histogram(lateness)
            )
            weekly = [
                (
                    start.strftime("%d.%m"),
                    float(sum(r.get("open_breaches", 0) for r in reply.body.get("agencies", [])))
                    if reply.ok
                    else 0.0,
                )
                for start, reply in zip(weeks, replies[1:], strict=True)
            ]
            plots["breaches"] = charts.columns(page.gettext("Open breaches over time"), weekly)
        return page.render(
            "compliance.html",
            replies=(total,),
            reply=total,
            agencies=agencies,
            plots=plots,
            region=region or "",
            agency_type=agency_type or "",
            agency_types=[kind.value for kind in AgencyType],
            case_id=case,
            case_reply=case_reply,
            breaches=breaches,
            what=deps.what,
        )

    @routes.get("/trace")
    async def find_trace(request: Request, case_id: str = "") -> Response:
        return redirect(f"/operator/cases/{quote(case_id.strip(), safe='')}/trace")

    @routes.get("/cases/{case_id}/trace")
    async def trace(request: Request, case_id: str) -> Response:
        page = Page(request, deps.clock)
        settings = deps.settings
        jaeger = None
        traces: dict[str, Any] = {}
        if settings.otlp_configured:
            tags = quote(json.dumps({"qorgau.case_id": case_id}))
            jaeger = f"{settings.jaeger_url.rstrip('/')}/search?service=intake&tags={tags}"
        else:
            traces = waterfalls(settings.var_dir, case_id)
        return page.render("trace.html", case_id=case_id, jaeger=jaeger, traces=traces)

    @routes.get("/agencies")
    async def agencies(request: Request, region: str | None = None) -> Response:
        page = Page(request, deps.clock)
        reply = await deps.backends.get(
            "routing", "/v1/agencies", page.token, params={"region": region}
        )
        rows = list(reply.body.get("agencies", [])) if reply.ok else []
        return page.render(
            "agencies.html",
            replies=(reply,),
            reply=reply,
            agencies=rows,
            region=region or "",
            agency_types=[kind.value for kind in AgencyType],
        )

    @routes.post("/agencies")
    async def add_agency(
        request: Request,
        agency_id: Annotated[str, Form(max_length=80)] = "",
        agency_type: Annotated[str, Form(max_length=40)] = "",
        region: Annotated[str, Form(max_length=10)] = "",
        name_kk: Annotated[str, Form(max_length=300)] = "",
        name_ru: Annotated[str, Form(max_length=300)] = "",
        name_en: Annotated[str, Form(max_length=300)] = "",
        csrf_token: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        page = Page(request, deps.clock)
        if not csrf_ok(request, csrf_token):
            return Response("CSRF token missing or wrong", status_code=403)
        body = {
            "agency_id": agency_id,
            "agency_type": agency_type,
            "region": region or None,
            "name_kk": name_kk,
            "name_ru": name_ru,
            "name_en": name_en,
        }
        reply = await deps.backends.post("routing", "/v1/agencies", page.token, json=body)
        if reply.ok:
            page.flash("ok", page.gettext("Agency added."))
        else:
            page.flash("error", refusal(page, reply))
        return redirect(f"/operator/agencies?region={quote(region)}")

    @routes.post("/agencies/{agency_id}")
    async def change_agency(
        request: Request,
        agency_id: str,
        name_kk: Annotated[str, Form(max_length=300)] = "",
        name_ru: Annotated[str, Form(max_length=300)] = "",
        name_en: Annotated[str, Form(max_length=300)] = "",
        active: Annotated[str, Form(max_length=5)] = "",
        csrf_token: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        page = Page(request, deps.clock)
        if not csrf_ok(request, csrf_token):
            return Response("CSRF token missing or wrong", status_code=403)
        body: dict[str, Any] = {
            key: value
            for key, value in (("name_kk", name_kk), ("name_ru", name_ru), ("name_en", name_en))
            if value
        }
        if active in ("true", "false"):
            body["active"] = active == "true"
        reply = await deps.backends.call(
            "routing", "PUT", f"/v1/agencies/{agency_id}", page.token, json=body
        )
        if reply.ok:
            page.flash("ok", page.gettext("Agency changed."))
        else:
            page.flash("error", refusal(page, reply))
        region = (reply.body or {}).get("region") or "" if reply.ok else ""
        return redirect(f"/operator/agencies?region={quote(region)}")

    @routes.get("/calendar")
    async def calendar(request: Request) -> Response:
        page = Page(request, deps.clock)
        reply = await deps.backends.get("deadlines", "/v1/calendar/overrides", page.token)
        return page.render(
            "calendar.html", replies=(reply,), reply=reply, overrides=reply.body if reply.ok else {}
        )

    @routes.post("/calendar")
    async def add_override(
        request: Request,
        day: Annotated[str, Form(max_length=10)] = "",
        kind: Annotated[str, Form(max_length=20)] = "",
        csrf_token: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        page = Page(request, deps.clock)
        if not csrf_ok(request, csrf_token):
            return Response("CSRF token missing or wrong", status_code=403)
        field = "working_days" if kind == "working_day" else "days_off"
        reply = await deps.backends.post(
            "deadlines", "/v1/calendar/overrides", page.token, json={field: [day]}
        )
        page.flash("ok", page.gettext("Calendar changed.")) if reply.ok else page.flash(
            "error", refusal(page, reply)
        )
        return redirect("/operator/calendar")

    @routes.post("/calendar/{day}/delete")
    async def remove_override(
        request: Request, day: str, csrf_token: Annotated[str, Form(max_length=100)] = ""
    ) -> Response:
        page = Page(request, deps.clock)
        if not csrf_ok(request, csrf_token):
            return Response("CSRF token missing or wrong", status_code=403)
        reply = await deps.backends.call(
            "deadlines", "DELETE", f"/v1/calendar/overrides/{quote(day)}", page.token
        )
        page.flash("ok", page.gettext("Calendar changed.")) if reply.ok else page.flash(
            "error", refusal(page, reply)
        )
        return redirect("/operator/calendar")

    return routes
