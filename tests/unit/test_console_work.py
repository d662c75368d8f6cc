"""The console's casework forms without the services: the action form becomes casework's body
(Almaty time with its offset, the row's proof), what each row asks comes in the seed texts'
words, and a casework that is down is named while the obligations page still works.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

from fastapi.testclient import TestClient

from services.console import regulation
from services.console.app import build
from services.console.config import ConsoleSettings
from services.console.pages.work import action_body


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_action_form_becomes_caseworks_body_in_almaty_time() -> None:
    form = {
        "done_at": "2026-11-23T10:40",
        "summary": "  parents told  ",
        "evidence.notice_number": "17-04",
        "evidence.notice_date": "2026-11-23",
        "evidence.unasked": "",
    }
    body, problems = action_body(form, ["notice_number", "notice_date", "unasked"])
    assert problems == {}
    assert body == {
        "done_at": "2026-11-23T10:40:00+05:00",
        "outcome": "done",
        "summary": "parents told",
        "evidence": {"notice_number": "17-04", "notice_date": "2026-11-23"},
    }
    # A time the browser did not send is the console's own refusal, named by its field.
    _, problems = action_body({"done_at": "yesterday"}, [])
    assert list(problems) == ["done_at"]


def test_what_a_row_asks_is_in_the_seed_texts_words() -> None:
    # Rules 38874 p.11.1 in Kazakh; the Guide p.5 in Russian.
    assert "ата-аналарына" in regulation.asks("R4", "Rules 38874, p.11.1", "kk", "x")
    assert "орган опеки" in regulation.asks("G4", "Guide, p.5", "ru", "x")
    # The two G4 rows keep their own clauses.
    assert "КДНЗП" in regulation.asks("G4", "Guide, p.13.3, p.14.1", "ru", "x")
    # Rules 38874 has no Russian text: the Kazakh is shown, marked as Kazakh.
    assert regulation.asks("R8", None, "ru", "x").startswith('<span lang="kk">')
    assert "кейс-менеджерді" in regulation.asks("R8", None, "ru", "x")
    # Standard 14701 p.35 and the Family Centre Rules p.26, in Kazakh.
    assert "ішкі істер органдарына" in regulation.asks("S12", None, "kk", "x")
    assert "жиырма төрт сағат" in regulation.asks("F10", None, "kk", "x")
    # A row the seeds do not word here keeps routing's English, escaped.
    assert regulation.asks("S9", None, "kk", "a <b>") == '<span lang="en">a &lt;b&gt;</span>'
    for code, entry in regulation.rows().items():
        assert entry.get("kk") or entry.get("ru"), code


def test_obligations_page_names_casework_down_and_a_failed_action_keeps_what_was_typed(
    tmp_path: Path,
) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    settings = ConsoleSettings(
        var_dir=tmp_path,
        deployment="development",
        intake_url=nowhere,
        routing_url=nowhere,
        deadlines_url=nowhere,
        casework_url=nowhere,
        shelter_url=nowhere,
        familycentre_url=nowhere,
        backend_timeout=2,
    )
    with TestClient(build(settings), follow_redirects=False) as client:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text)
        assert csrf is not None
        token = csrf.group(1)
        signed = client.post(
            "/signin/dev",
            data={"agency_id": "school-17", "role": "caseworker", "csrf_token": token},
        )
        assert signed.status_code == 303
        page = client.get("/obligations")
        assert page.status_code == 200
        assert "<strong>casework</strong>" in page.text
        assert "<strong>deadlines</strong>" in page.text
        refused = client.post("/obligations/ob-1/action", data={"done_at": "2026-11-23T10:40"})
        assert refused.status_code == 403  # no CSRF token: nothing is sent
        failed = client.post(
            "/obligations/ob-1/action",
            data={
                "csrf_token": token,
                "done_at": "2026-11-23T10:40",
                "evidence.notice_number": "17-04",
            },
        )
        assert failed.status_code == 503
        assert "<strong>casework</strong>" in failed.text
        assert client.get("/caseload").status_code == 200
        assert "<strong>casework</strong>" in client.get("/caseload").text
        assert client.get("/casework/documents/plan/p-1?lang=kk&format=pdf").status_code == 503
        assert client.get("/casework/documents/nothing/p-1").status_code == 404
        for path, service in (("/shelter", "shelter"), ("/familycentre", "familycentre")):
            shown = client.get(path)
            assert shown.status_code == 200 and f"<strong>{service}</strong>" in shown.text
        kept = client.post(
            "/familycentre/appeals",
            data={"csrf_token": token, "channel": "person", "received_at": "", "summary": "x y"},
        )
        # The console's own check names the field; what was typed comes back.
        assert kept.status_code == 422
        assert 'id="e-received_at"' in kept.text and ">x y</textarea>" in kept.text


def test_the_first_steps_of_shelter_and_family_centre_become_their_bodies() -> None:
    from services.console.pages.care import appeal_body, application_body

    body, problems = application_body(
        {"arrived_at": "2026-11-23T21:05", "person.full_name": " A B ", "consent": "yes"}
    )
    assert problems == {}
    assert body == {
        "arrival": "application",
        "arrived_at": "2026-11-23T21:05:00+05:00",
        "person": {"full_name": "A B"},
        "consent": True,
        "refuses_police": False,
    }
    body, problems = appeal_body(
        {"channel": "person", "received_at": "", "consent.given_on": "2026-11-23"}
    )
    assert list(problems) == ["received_at"]
    assert body["consent"] == {"given_on": "2026-11-23"} and body["channel"] == "person"


def test_an_assessment_draft_keeps_its_other_sections() -> None:
    from services.console.pages.casework import assessment_body

    current = {"versions": [{"form": {"child": {"school": "7"}, "relations": "old"}}]}
    body = assessment_body(current, {"home_family": " at home ", "relations": ""})
    assert body == {
        "child": {"school": "7"},
        "home_family": "at home",
        "relations": None,
        "conclusions": None,
        "signed_on": None,
    }
