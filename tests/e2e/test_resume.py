"""`qorgau up` again after Ctrl-C resumes with all data, and what waited in the outbox goes out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_platform, stop_platform
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


def school_report() -> dict[str, object]:
    return {
        "reporter": {"agency_type": "education_org", "agency_id": "school-17", "region": "KZ-71"},
        "channel": "duties",
        "received_at": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
        "subject": {"kind": "minor", "full_name": "Resume Test", "birth_date": "2016-02-02"},
        "concerns": ["violence"],
    }


def r1_obligations(client: httpx.Client, url: str, headers: dict[str, str]) -> list[dict]:
    rows = client.get(url, headers=headers).json().get("obligations", [])
    return [o for o in rows if o["code"] == "R1"]


def test_stop_and_start_again_keeps_every_case_and_delivers_what_was_pending(
    tmp_path: Path,
) -> None:
    var = tmp_path / "var"
    first = start_platform(var)
    with httpx.Client(timeout=10) as client:
        try:
            school = {"Authorization": f"Bearer {first.token('school-17')}"}
            posted = client.post(
                f"{first.url('intake')}/v1/reports", json=school_report(), headers=school
            )
            assert posted.status_code == 201, posted.text
            case_id = posted.json()["case_id"]
            operator = first.auth("kz-child-rights-national", "operator")
            url = f"{first.url('deadlines')}/v1/cases/{case_id}/obligations"
            wait_for(lambda: r1_obligations(client, url, operator), lambda got: len(got) == 3)
        finally:
            stop_platform(first)
        assert first.process.returncode == 0

        # Intake alone: a report accepted while routing and deadlines are down waits on the bus.
        second = start_platform(var, ("intake",))
        try:
            school = {"Authorization": f"Bearer {second.token('school-17')}"}
            later = client.post(
                f"{second.url('intake')}/v1/reports",
                json={**school_report(), "subject": {"kind": "minor", "full_name": "Later One"}},
                headers=school,
            )
            assert later.status_code == 201, later.text
            later_case = later.json()["case_id"]
        finally:
            stop_platform(second)

        third = start_platform(var)
        try:
            operator = third.auth("kz-child-rights-national", "operator")
            for case in (case_id, later_case):
                url = f"{third.url('deadlines')}/v1/cases/{case}/obligations"
                rows = wait_for(
                    lambda url=url: r1_obligations(client, url, operator),
                    lambda got: len(got) == 3,
                )
                assert {o["target_agency_type"] for o in rows} == {
                    "police",
                    "child_rights_regional",
                    "ombudsman_regional",
                }
        finally:
            stop_platform(third)
