"""The console in a real headless Chromium (Debian's), against `qorgau up` processes.

Each flow runs once in Kazakh and once in Russian and keeps a screenshot under
var/artifacts/console/ (not committed). Every page a flow opens passes axe-core (bundled in
axe-playwright-python, served from this machine) with no serious or critical violation, and
loads with no Content-Security-Policy violation. The last test reads every file of the
platform's data folder: none holds a name or IIN typed into the console.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import iin as iin_rules
from shared.clock import ALMATY
from tests.e2e.conftest import Platform
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "console"
LANGS = ("kk", "ru")
# What the flows type in, by language: the privacy test looks for every one of them.
PEOPLE = {
    "kk": {"name": "Айгерім Сынақова", "born": date(2014, 3, 9)},
    "ru": {"name": "Мария Проверкина", "born": date(2013, 7, 21)},
}
SEEN: dict[str, Any] = {"names": [], "iins": [], "cases": {}}

if not CHROMIUM.exists():  # pragma: no cover - `make install` brings it
    pytest.skip("Debian's chromium is not installed (make install)", allow_module_level=True)

playwright_sync = pytest.importorskip("playwright.sync_api")
axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")


def an_iin(born: date, female: bool = True) -> str:
    """Return a valid IIN for a birth date (serial digits drawn until the check digit exists)."""
    century = {1800: "1", 1900: "3", 2000: "5"}[born.year // 100 * 100]
    seventh = str(int(century) + (1 if female else 0))
    while True:
        first = born.strftime("%y%m%d") + seventh + f"{random.randint(0, 9999):04d}"
        check = iin_rules.check_digit(first)
        if check is not None:
            return first + str(check)


def wrong_check_digit(iin: str) -> str:
    """Return the IIN with its check digit changed."""
    return iin[:11] + str((int(iin[11]) + 1) % 10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (Playwright gives it a fresh temporary profile)."""
    with playwright_sync.sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


class Visit:
    """A person's browser tab: checks each page it opens (axe, CSP) and keeps screenshots."""

    def __init__(self, browser: Any, base: str, lang: str, width: int = 360) -> None:
        self.base = base
        self.lang = lang
        self.context = browser.new_context(viewport={"width": width, "height": 800})
        self.page = self.context.new_page()
        self.csp: list[str] = []
        self.page.on(
            "console",
            lambda message: (
                self.csp.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        self.axe = axe_sync.Axe()

    def close(self) -> None:
        """Close the tab's context (its cookies go with it)."""
        self.context.close()

    def check(self) -> None:
        """Assert the open page has no serious accessibility violation nor a CSP violation."""
        result = self.axe.run(self.page)
        bad = [
            (violation["id"], violation["impact"], [n["target"] for n in violation["nodes"]][:3])
            for violation in result.response["violations"]
            if violation["impact"] in ("serious", "critical")
        ]
        assert not bad, f"{self.page.url}: {bad}"
        assert not self.csp, f"{self.page.url}: {self.csp}"
        assert self.page.locator("html").get_attribute("lang") == self.lang
        # Nothing wider than the screen (a 360-pixel phone scrolls only down).
        overflow = self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = self.page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
            " > document.documentElement.clientWidth).slice(-3).map(e => e.outerHTML.slice(0, 80))"
        )
        assert overflow <= 0, f"{self.page.url}: {overflow}px wider than the screen: {wide}"

    def goto(self, path: str) -> None:
        """Open a console page and check it."""
        self.page.goto(self.base + path)
        self.check()

    def shot(self, name: str) -> None:
        """Keep a screenshot as a test artefact."""
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTEFACTS / f"{name}-{self.lang}.png"), full_page=True)

    def sign_in(self, agency_id: str, role: str) -> None:
        """Choose the language, then sign in through the development sign-in."""
        self.page.goto(f"{self.base}/lang/{self.lang}?next=/signin")
        self.check()
        if role != "operator":
            self.page.select_option("#agency_id", agency_id)
        self.page.select_option("#role", role)
        with self.page.expect_navigation():
            self.page.click("form[action='/signin/dev'] button[type=submit]")
        self.check()


@pytest.fixture
def visit(browser: Any, platform: Platform, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Open tabs for a test; each is closed afterwards."""
    opened: list[Visit] = []

    def open_tab(lang: str, width: int = 360) -> Visit:
        tab = Visit(browser, platform.url("console"), lang, width)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.close()


def translated(platform: Platform, lang: str, message: str) -> str:
    """Return a message as the console says it in a language."""
    from services.console import i18n

    return i18n.translations(lang).gettext(message)


def file_report(platform: Platform, http: httpx.Client, *, days_ago: int = 0) -> str:
    """File a report as school-17 over intake's API (for flows that need referrals waiting)."""
    received = datetime.now(ALMATY) - timedelta(days=days_ago, minutes=5)
    body = {
        "reporter": {"agency_type": "education_org", "agency_id": "school-17", "region": "KZ-75"},
        "channel": "duties",
        "received_at": received.isoformat(),
        "subject": {"kind": "minor"},
        "concerns": ["violence"],
    }
    reply = http.post(
        f"{platform.url('intake')}/v1/reports", json=body, headers=platform.auth("school-17")
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["case_id"])


def police_referral(platform: Platform, http: httpx.Client, case_id: str) -> str:
    """Wait for the case's referral to the regional police and return its id."""
    headers = platform.auth("kz-75-police", "head")

    def found() -> list[dict[str, Any]]:
        reply = http.get(
            f"{platform.url('routing')}/v1/agencies/kz-75-police/inbox", headers=headers
        )
        return [r for r in reply.json()["referrals"] if r["case_id"] == case_id]

    rows = wait_for(found, bool, timeout=30)
    return str(rows[0]["referral_id"])


@pytest.mark.parametrize("lang", LANGS)
def test_a_school_caseworker_files_a_report_and_sees_its_obligations(
    visit: Any, platform: Platform, lang: str
) -> None:
    person = PEOPLE[lang]
    iin = an_iin(person["born"])
    SEEN["names"].append(person["name"])
    SEEN["iins"].append(iin)
    tab = visit(lang)
    tab.sign_in("school-17", "caseworker")
    tab.goto("/reports/new")
    page = tab.page
    # Received ten days ago: the school's terms have passed, so the case has breaches.
    received = (datetime.now(ALMATY) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#f-received_at", received)
    page.fill("#f-full_name", person["name"])
    page.fill("#f-birth_date", person["born"].isoformat())
    page.type("#f-iin", wrong_check_digit(iin))
    # The check digit is checked as one types, before anything is sent.
    assert page.locator("#iin-live").inner_text() == translated(
        platform, lang, "The IIN check digit is wrong."
    )
    page.check("#c-violence")
    page.check("#s-injuries")
    with page.expect_navigation():
        page.click("form[action='/reports/new'] button[type=submit]")
    tab.check()
    # intake refused the IIN: its message stands next to the field, nothing typed is lost.
    assert page.locator("#e-iin").is_visible()
    assert page.input_value("#f-full_name") == person["name"]
    assert page.input_value("#f-received_at") == received
    assert page.is_checked("#c-violence") and page.is_checked("#s-injuries")
    tab.shot("report-refused")
    page.fill("#f-iin", iin)
    assert page.locator("#iin-live").inner_text() == translated(
        platform, lang, "The IIN check digit is right."
    )
    page.click("form[action='/reports/new'] button[type=submit]")
    page.wait_for_url("**/cases/*")
    tab.check()
    case_id = page.url.rsplit("/", 1)[-1]
    SEEN["cases"][lang] = case_id
    assert page.locator("#flash").is_visible()
    # The case's obligations arrive over the bus: the page shows them once deadlines has them.
    wait_for(
        lambda: (page.reload(), page.locator(".timeline li").count())[1],
        lambda count: count > 0,
        timeout=30,
    )
    tab.check()
    # Personal data only behind a purpose: intake shows the fields a school may see.
    page.select_option("#purpose", "child_protection")
    with page.expect_navigation():
        page.click("form.inline button[type=submit]")
    tab.check()
    assert page.locator("dl.personal, main [role=alert]").count() > 0
    assert "purpose=child_protection" in page.url
    tab.goto("/obligations")
    assert page.locator("#h-breached").is_visible()
    assert page.locator(f".card a[href='/cases/{case_id}']").count() > 0
    assert "R1" in page.locator("main").inner_text() or "G3" in page.locator("main").inner_text()
    tab.shot("obligations")


@pytest.mark.parametrize("lang", LANGS)
def test_the_police_head_acknowledges_one_referral_and_declines_another(
    visit: Any, platform: Platform, http: httpx.Client, lang: str
) -> None:
    first = police_referral(platform, http, file_report(platform, http))
    second = police_referral(platform, http, file_report(platform, http))
    tab = visit(lang, width=1280)
    tab.sign_in("kz-75-police", "head")
    page = tab.page
    tab.goto("/inbox")
    assert page.locator(f"#ref-{first}").is_visible()
    # By keyboard: the button takes focus and Enter sends the form.
    page.focus(f"#ref-{first} form[action$='/acknowledge'] button")
    # htmx answers in place: the list and the message are swapped, the page stays.
    page.keyboard.press("Enter")
    page.locator(f"#ref-{first}").wait_for(state="detached")
    playwright_sync.expect(page.locator("#flash")).to_have_text(
        translated(platform, lang, "Referral acknowledged.")
    )
    tab.check()
    page.select_option(f"#reason-{second}", "wrong_district")
    page.click(f"#ref-{second} form[action$='/decline'] button")
    page.locator(f"#ref-{second}").wait_for(state="detached")
    playwright_sync.expect(page.locator("#flash")).to_have_text(
        translated(platform, lang, "Referral declined: routing sends it on.")
    )
    tab.check()
    tab.shot("inbox-answered")
    answered = http.get(
        f"{platform.url('routing')}/v1/referrals/{second}",
        headers=platform.auth("kz-75-police", "head"),
    ).json()
    # Declined, then sent on: to another police body of the region, or escalated (none here).
    assert answered["decline_reason"] == "wrong_district"
    assert answered["status"] in ("declined", "rerouted", "escalated")


@pytest.mark.parametrize("lang", LANGS)
def test_a_caseworker_is_refused_a_decline_and_told_why(
    visit: Any, platform: Platform, http: httpx.Client, lang: str
) -> None:
    referral = police_referral(platform, http, file_report(platform, http))
    tab = visit(lang)
    tab.sign_in("kz-75-police", "caseworker")
    page = tab.page
    tab.goto("/inbox")
    page.click(f"#ref-{referral} form[action$='/decline'] button")
    page.locator("#flash").wait_for()
    tab.check()
    flash = page.locator("#flash").inner_text()
    # The console shows routing's own reason for its 403.
    assert flash.startswith(translated(platform, lang, "Refused:"))
    assert "caseworker" in flash and "head" in flash
    assert page.locator(f"#ref-{referral}").is_visible()
    tab.shot("decline-refused")


@pytest.mark.parametrize("lang", LANGS)
def test_an_operator_sees_the_case_breach_on_compliance_and_its_trace(
    visit: Any, platform: Platform, http: httpx.Client, lang: str
) -> None:
    case_id = SEEN["cases"].get(lang) or file_report(platform, http, days_ago=10)
    tab = visit(lang, width=1280)
    tab.sign_in("", "operator")
    page = tab.page
    # The skip link is the first thing the keyboard reaches.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert "/operator/compliance" in page.url

    def breaches() -> int:
        tab.page.goto(f"{tab.base}/operator/compliance?region=KZ-75&case_id={case_id}")
        return int(page.locator("#case-breaches tr.status-breached").count())

    wait_for(breaches, lambda count: count > 0, timeout=30)
    tab.check()
    assert page.locator("#compliance tr.breach").count() > 0
    assert page.locator("svg.chart").count() == 3
    tab.shot("compliance")
    with page.expect_navigation():
        page.click("#case-breaches a[href$='/trace']")
    tab.check()
    assert page.locator("details.trace[open] .waterfall li").count() > 3
    page.locator("details.trace").nth(1).locator("summary").click()
    drawn = page.locator("main").text_content() or ""
    assert "POST /v1/reports" in drawn and "deadlines.breach" in drawn
    # The report was filed through the console: its trace begins at the console's page.
    assert "POST /reports/new" in drawn and "[qorgau-console]" in drawn
    tab.shot("trace")
    tab.goto("/operator/agencies?region=KZ-75")
    tab.goto("/operator/calendar")
    tab.goto(f"/cases/{case_id}")


def open_duty(
    platform: Platform, http: httpx.Client, agency_id: str, code: str, case_id: str
) -> str:
    """Wait until casework has an agency's open obligation of a row on a case; return its id."""

    def found() -> list[dict[str, Any]]:
        reply = http.get(
            f"{platform.url('casework')}/v1/agencies/{agency_id}/obligations",
            params={"status": "open"},
            headers=platform.auth(agency_id),
        )
        rows = reply.json()["obligations"] if reply.status_code == 200 else []
        return [o for o in rows if o["case_id"] == case_id and o["code"] == code]

    return str(wait_for(found, bool, timeout=30)[0]["obligation_id"])


@pytest.mark.parametrize("lang", LANGS)
def test_a_school_records_r4_with_its_notice_from_the_obligations_page(
    visit: Any, platform: Platform, http: httpx.Client, lang: str
) -> None:
    case_id = file_report(platform, http)
    oid = open_duty(platform, http, "school-17", "R4", case_id)
    tab = visit(lang)
    tab.sign_in("school-17", "caseworker")
    page = tab.page
    card = f"#ob-{oid}"

    # deadlines schedules the term over the bus: the card shows once it has.
    def shown() -> int:
        page.goto(f"{tab.base}/obligations")
        count = int(page.locator(card).count())
        if not count:
            print(page.url, (page.locator("main").text_content() or "")[:400])
        return count

    wait_for(shown, lambda count: count > 0, timeout=60)
    page.click(f"{card} details summary")
    tab.check()
    today = datetime.now(ALMATY).date().isoformat()
    page.fill(f"[id='a-{oid}-ev-notice_date']", today)
    page.fill(f"[id='a-{oid}-summary']", "parents told by phone, then in writing")
    with page.expect_navigation():
        page.click(f"{card} form.action button[type=submit]")
    tab.check()
    # casework names the missing notice number (p.11.1): next to the field, nothing lost.
    assert page.locator(f"[id='a-{oid}-ev-notice_number-e']").is_visible()
    assert "p.11.1" in page.locator(f"[id='a-{oid}-ev-notice_number-e']").inner_text()
    assert page.input_value(f"[id='a-{oid}-ev-notice_date']") == today
    assert page.input_value(f"[id='a-{oid}-summary']").startswith("parents told")
    page.fill(f"[id='a-{oid}-ev-notice_number']", f"17-{lang}")
    with page.expect_navigation():
        page.click(f"{card} form.action button[type=submit]")
    tab.check()
    playwright_sync.expect(page.locator("#flash")).to_have_text(
        translated(platform, lang, "Action recorded.")
    )
    tab.shot("action-recorded")
    held = http.get(
        f"{platform.url('casework')}/v1/obligations/{oid}", headers=platform.auth("school-17")
    ).json()
    assert held["status"] == "met"
    assert held["actions"][0]["evidence"] == {"notice_number": f"17-{lang}", "notice_date": today}


@pytest.mark.parametrize("lang", LANGS)
def test_the_child_rights_head_assigns_and_reassigns_a_case_manager(
    visit: Any, platform: Platform, http: httpx.Client, lang: str
) -> None:
    body = "kz-75-child-rights-regional"
    case_id = file_report(platform, http)

    def held() -> list[dict[str, Any]]:
        reply = http.get(
            f"{platform.url('casework')}/v1/agencies/{body}/caseload",
            headers=platform.auth(body, "head"),
        )
        return [c for c in reply.json()["cases"] if c["case_id"] == case_id]

    wait_for(held, bool, timeout=30)
    tab = visit(lang, width=1280)
    tab.sign_in(body, "head")
    page = tab.page
    tab.goto("/caseload")
    with page.expect_navigation():
        page.click(f"a[href='/casework/cases/{case_id}']")
    tab.check()
    page.fill("#f-person_id", "not a person id!")
    with page.expect_navigation():
        page.click("form[action$='/manager'] button[type=submit]")
    tab.check()
    # casework's 422 stands next to the field; what was typed is still there.
    assert page.locator("#e-person_id").is_visible()
    assert page.input_value("#f-person_id") == "not a person id!"
    for person in (f"cm-{lang}-1", f"cm-{lang}-2"):
        page.fill("#f-person_id", person)
        with page.expect_navigation():
            page.click("form[action$='/manager'] button[type=submit]")
        tab.check()
        assert page.locator("#manager-now").inner_text() == person
    # The reassignment ends the first one; the history keeps both.
    assert page.locator("table tbody tr").count() >= 2
    tab.shot("case-manager")
    assert held()[0]["case_manager"] == f"cm-{lang}-2"
    # The primary assessment's sections are saved as a draft (R19, Appendix 1).
    page.fill("[id='assessment-home_family']", "lives with the mother; visited at home")
    with page.expect_navigation():
        page.click("form[action$='/assessment'] button[type=submit]")
    tab.check()
    assert page.input_value("[id='assessment-home_family']").startswith("lives with")
    # A plan is started with its period (R20, Appendix 2): then its lines and consent.
    today = datetime.now(ALMATY).date()
    page.fill("[id='plan-period_start']", today.isoformat())
    page.fill("[id='plan-period_end']", (today + timedelta(days=90)).isoformat())
    with page.expect_navigation():
        page.click("form[action$='/plans'] button[type=submit]")
    tab.check()
    assert page.locator("form[action$='/consent']").count() == 1


def test_the_shelter_and_the_family_centre_record_their_first_steps(
    visit: Any, platform: Platform
) -> None:
    tab = visit("ru", width=1280)
    tab.sign_in("kz-75-shelter", "caseworker")
    page = tab.page
    tab.goto("/shelter")
    page.fill("[id='f-person.full_name']", "Тест Приютова")
    with page.expect_navigation():
        page.click("form[action='/shelter/stays'] button[type=submit]")
    tab.check()
    # No consent (Appendix 4): the shelter's 422 names it, the name typed is still there.
    assert page.locator("[id='e-consent']").is_visible()
    assert page.input_value("[id='f-person.full_name']") == "Тест Приютова"
    page.check("[id='f-consent']")
    with page.expect_navigation():
        page.click("form[action='/shelter/stays'] button[type=submit]")
    tab.check()
    playwright_sync.expect(page.locator("#flash")).to_have_text(
        translated(platform, "ru", "Application recorded.")
    )
    assert page.locator("#h-stays + .table-wrap tbody tr").count() == 1
    tab.shot("shelter")
    centre = visit("kk", width=1280)
    centre.sign_in("kz-75-family-support-centre", "caseworker")
    centre.goto("/familycentre")
    centre.page.select_option("#f-channel", "person")
    centre.page.fill("[id='f-consent.given_on']", datetime.now(ALMATY).date().isoformat())
    centre.page.check("[id='f-domestic_violence']")
    with centre.page.expect_navigation():
        centre.page.click("form[action='/familycentre/appeals'] button[type=submit]")
    centre.check()
    playwright_sync.expect(centre.page.locator("#flash")).to_have_text(
        translated(platform, "kk", "Appeal recorded.")
    )
    assert centre.page.locator("#h-appeals ~ ul.cards li").count() == 1
    centre.shot("familycentre")


def test_the_console_keeps_no_personal_data(platform: Platform) -> None:
    assert SEEN["names"] and SEEN["iins"], "the report flows ran first"
    needles = [value.encode() for value in SEEN["names"] + SEEN["iins"]]
    # The console's own files, and the whole var folder besides: intake keeps its data
    # encrypted, so no plain name or IIN may be anywhere.
    found = []
    for path in platform.var_dir.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        found += [f"{path}: {needle.decode()}" for needle in needles if needle in data]
    assert not found


def test_screenshots_were_kept() -> None:
    kept = sorted(path.name for path in ARTEFACTS.glob("*.png"))
    for lang in LANGS:
        assert f"obligations-{lang}.png" in kept
        assert f"inbox-answered-{lang}.png" in kept
        assert f"compliance-{lang}.png" in kept
