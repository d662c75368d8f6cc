"""Calls to the platform's services with the signed-in person's token.

The console decides nothing: each service checks the token, answers or refuses, and audits as
it always does. A call ends in one of three ways a page can show: an answer, a refusal (the
service's status and reason), or the service not answering (which one, so the rest of the page
still works).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from opentelemetry.propagate import inject

from services.console.config import ConsoleSettings


@dataclass(frozen=True)
class Reply:
    """What a service answered: its status and body, or that it did not answer at all."""

    service: str
    status: int
    body: Any = None
    down: bool = False
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Tell whether the service answered with success."""
        return not self.down and 200 <= self.status < 300

    @property
    def reason(self) -> str:
        """Return the service's own reason for a refusal (its `detail`), or ''."""
        if isinstance(self.body, dict):
            detail = self.body.get("detail")
            if isinstance(detail, str):
                return detail
        return ""


def _problems(body: Any) -> dict[str, str]:
    # A 422 names each bad field: {"detail": [{"field": "subject.iin", "message": ...}]}.
    found: dict[str, str] = {}
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        for problem in body["detail"]:
            if isinstance(problem, dict) and problem.get("field"):
                found.setdefault(str(problem["field"]), str(problem.get("message", "")))
    return found


class Backends:
    """The services the console calls, by name."""

    def __init__(
        self, settings: ConsoleSettings, transport: httpx.AsyncBaseTransport | None = None
    ):
        self.settings = settings
        self._client = httpx.AsyncClient(timeout=settings.backend_timeout, transport=transport)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        token: str | None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Call a service's API; never raises for the service's answer or its absence."""
        url = self.settings.backend_url(service) + path
        sent = dict(headers or {})
        # The trace goes on into the service (W3C traceparent of the page's span).
        inject(sent)
        if token:
            sent["Authorization"] = f"Bearer {token}"
        clean = {key: value for key, value in (params or {}).items() if value not in (None, "")}
        try:
            response = await self._client.request(
                method, url, json=json, params=clean, headers=sent
            )
        except httpx.HTTPError:
            return Reply(service, 0, down=True)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 500:
            # 503 while its database or NATS is away: for the person, the service is down.
            return Reply(service, response.status_code, body, down=True)
        return Reply(service, response.status_code, body, problems=_problems(body))

    async def get(self, service: str, path: str, token: str | None, **kw: Any) -> Reply:
        """GET a service's resource."""
        return await self.call(service, "GET", path, token, **kw)

    async def post(self, service: str, path: str, token: str | None, **kw: Any) -> Reply:
        """POST to a service."""
        return await self.call(service, "POST", path, token, **kw)

    async def put(self, service: str, path: str, token: str | None, **kw: Any) -> Reply:
        """PUT a service's resource."""
        return await self.call(service, "PUT", path, token, **kw)

    async def document(
        self, service: str, path: str, token: str | None, params: dict[str, Any]
    ) -> httpx.Response | None:
        """GET a printed document as the service sends it (bytes), or None when it is down."""
        sent: dict[str, str] = {}
        inject(sent)
        if token:
            sent["Authorization"] = f"Bearer {token}"
        try:
            return await self._client.get(
                self.settings.backend_url(service) + path, params=params, headers=sent
            )
        except httpx.HTTPError:
            return None
