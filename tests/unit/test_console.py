"""The console without a browser: sessions, CSRF, headers, sign-in modes, services that are down,
catalogues that cover every message, OIDC claims. The services it calls are not running: the
console must name them and keep the page working.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.console import i18n
from services.console.app import build
from services.console.config import ConsoleSettings
from services.console.oidc import ClaimsRefused, map_claims
from services.console.pages.signin import local_path
from services.console.security import CSP

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "console" / "templates"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings(tmp_path: Path, deployment: str = "development") -> ConsoleSettings:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    return ConsoleSettings(
        var_dir=tmp_path,
        deployment=deployment,
        intake_url=nowhere,
        routing_url=nowhere,
        deadlines_url=nowhere,
        backend_timeout=2,
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(build(settings(tmp_path)), follow_redirects=False) as found:
        yield found


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_every_page_carries_a_strict_policy_and_the_session_cookie_is_guarded(
    client: TestClient,
) -> None:
    page = client.get("/signin")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "<script>" not in page.text  # no inline script anywhere
    assert 'src="/static/htmx.min.js"' in page.text
    assert client.get("/static/htmx.min.js").status_code == 200


def test_a_form_without_its_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/signin")
    refused = client.post("/signin/dev", data={"agency_id": "school-17", "role": "caseworker"})
    assert refused.status_code == 403
    assert client.get("/inbox").status_code == 303  # still not signed in


def test_a_service_that_is_down_is_named_and_the_rest_of_the_page_works(
    client: TestClient,
) -> None:
    signin = client.get("/signin")
    # routing (the directory) is not answering: the page says so and still signs in.
    assert "routing" in signin.text
    done = client.post(
        "/signin/dev",
        data={"agency_id": "school-17", "role": "caseworker", "csrf_token": csrf_of(signin.text)},
    )
    assert done.status_code == 303
    obligations = client.get("/obligations")
    assert obligations.status_code == 200
    assert "<strong>deadlines</strong>" in obligations.text
    case = client.get("/cases/5f0c7a52-0000-4000-8000-000000000000")
    assert case.status_code == 200
    for service in ("intake", "deadlines", "routing"):
        assert f"<strong>{service}</strong>" in case.text
    form = client.get("/reports/new")
    assert form.status_code == 200 and 'id="f-iin"' in form.text
    # A submit that fails keeps everything typed.
    sent = client.post(
        "/reports/new",
        data={
            "csrf_token": csrf_of(form.text),
            "full_name": "Name Kept",
            "iin": "150402600014",
            "concerns": "violence",
            "channel": "duties",
            "kind": "minor",
        },
    )
    assert sent.status_code == 503
    assert 'value="Name Kept"' in sent.text and 'value="150402600014"' in sent.text
    assert 'value="violence" checked' in sent.text


def test_production_has_no_development_sign_in(tmp_path: Path) -> None:
    with TestClient(build(settings(tmp_path, "production")), follow_redirects=False) as client:
        page = client.get("/signin")
        assert 'action="/signin/dev"' not in page.text
        posted = client.post(
            "/signin/dev",
            data={"agency_id": "school-17", "role": "head", "csrf_token": "any"},
        )
        assert posted.status_code == 404


def test_the_language_is_remembered_and_redirects_stay_on_the_site(client: TestClient) -> None:
    switched = client.get("/lang/ru?next=/signin")
    assert switched.status_code == 303 and switched.headers["location"] == "/signin"
    assert 'lang="ru"' in client.get("/signin").text
    assert client.get("/lang/kk?next=//elsewhere.example").headers["location"] == "/"
    assert local_path("https://elsewhere.example/") == "/"
    assert local_path("/inbox") == "/inbox"


def test_every_message_of_the_pages_is_translated() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""_\(["']([^"']+)["']\)""", template.read_text()))
    for lang in ("kk", "ru"):
        catalogue = i18n.translations(lang)
        missing = [m for m in used if catalogue.gettext(m) == m and m != "Qorgau"]
        assert not missing, (lang, missing)
    assert i18n.translations("kk").gettext("Inbox") == "Кіріс"
    assert i18n.translations("ru").gettext("status.breached") == "срок нарушен"


def test_times_are_shown_in_almaty_time_in_the_local_form() -> None:
    # 05:00 UTC is 10:00 in Almaty (UTC+5).
    assert i18n.when("2026-11-20T05:00:00+00:00", "ru") == "20.11.2026, 10:00"
    assert "10:00" in i18n.when("2026-11-20T05:00:00+00:00", "kk")


def test_oidc_claims_map_to_agency_role_and_person_id(tmp_path: Path) -> None:
    config = settings(tmp_path, "production")
    claims = {
        "sub": "u-123",
        "qorgau_agency_id": "kz-75-police",
        "qorgau_agency_type": "police",
        "qorgau_region": "KZ-75",
        "qorgau_role": "head",
        "name": "never kept",
    }
    who = map_claims(claims, config)
    assert who == {
        "agency_id": "kz-75-police",
        "agency_type": "police",
        "region": "KZ-75",
        "role": "head",
        "subject": "oidc-u-123",
    }
    with pytest.raises(ClaimsRefused):
        map_claims({**claims, "qorgau_role": "integrator"}, config)
    with pytest.raises(ClaimsRefused):
        map_claims({"sub": "u-1", "qorgau_role": "head"}, config)


def test_every_code_a_page_names_has_its_words_in_kazakh_and_russian() -> None:
    from services.console.pages.agency import PURPOSES
    from services.console.pages.report import FLAGS
    from shared.contracts.intake import Channel, Concern, Sign, SubjectKind
    from shared.contracts.routing import DeclineReason

    keys = [f"reason.{r.value}" for r in DeclineReason]
    keys += [f"concern.{c.value}" for c in Concern] + [f"sign.{s.value}" for s in Sign]
    keys += [f"channel.{c.value}" for c in Channel] + [f"kind.{k.value}" for k in SubjectKind]
    keys += [f"flag.{f}" for f in FLAGS] + [f"purpose.{p}" for p in PURPOSES]
    keys += [f"status.{s}" for s in ("open", "met", "breached", "cancelled")]
    keys += [f"group.{g}" for g in ("breached", "due_soon", "open", "met")]
    for lang in ("kk", "ru", "en"):
        catalogue = i18n.translations(lang)
        assert [key for key in keys if catalogue.gettext(key) == key] == [], lang


def test_every_template_compiles() -> None:
    from services.console.render import TEMPLATES as LOADED

    for template in TEMPLATES.glob("*.html"):
        LOADED.env.get_template(template.name)


def test_a_token_a_service_no_longer_accepts_ends_the_session(tmp_path: Path) -> None:
    import threading
    import time

    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    # A service that refuses every token, as intake does once a token has expired.
    refusing = FastAPI()

    @refusing.get("/{anything:path}")
    def refuse(anything: str) -> JSONResponse:
        return JSONResponse({"detail": "token expired"}, status_code=401)

    port = closed_port()
    server = uvicorn.Server(
        uvicorn.Config(refusing, host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        config = settings(tmp_path)
        config.deadlines_url = f"http://127.0.0.1:{port}"
        with TestClient(build(config), follow_redirects=False) as client:
            signin = client.get("/signin")
            client.post(
                "/signin/dev",
                data={
                    "agency_id": "school-17",
                    "role": "caseworker",
                    "csrf_token": csrf_of(signin.text),
                },
            )
            ended = client.get("/obligations")
            assert ended.status_code == 303 and ended.headers["location"] == "/signin"
            assert client.get("/inbox").headers["location"] == "/signin"
            assert (
                i18n.translations("kk").gettext("Your session has ended: sign in again.")
                in client.get("/signin").text
            )
    finally:
        server.should_exit = True
        thread.join(timeout=5)
