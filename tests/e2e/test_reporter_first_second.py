"""The reporter reads its own case at once: no 403 while routing and deadlines catch up.

Intake answers 201 before routing and deadlines have heard of the case. The reporter asking them
in that first moment is not a stranger probing a case: it gets an empty list (nothing known yet),
and nothing is recorded as a refusal. The module's platform also shows every service
anchoring its audit log on the AUDIT stream, and `qorgau audit verify` comparing with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import Platform
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

REPORTER = "school-17"


def report() -> dict[str, object]:
    """A school's report about a child, received a few minutes ago."""
    return {
        "reporter": {"agency_type": "education_org", "agency_id": REPORTER, "region": "KZ-75"},
        "channel": "duties",
        "received_at": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
        "subject": {
            "kind": "minor",
            "full_name": "Aigerim Bekova",
            "birth_date": "2016-02-11",
            "sex": "female",
        },
        "concerns": ["violence"],
        "signs": ["injuries"],
        "narrative": "Bruises seen in the changing room",
    }


def test_the_reporter_reads_routing_and_deadlines_right_after_201(platform: Platform) -> None:
    reporter = platform.auth(REPORTER)
    with httpx.Client(timeout=10) as http:
        case_ids = []
        # Several reports in a row: at least one is asked about before the bus delivered it.
        for _ in range(3):
            created = http.post(
                f"{platform.url('intake')}/v1/reports", json=report(), headers=reporter
            )
            assert created.status_code == 201, created.text
            case_id = created.json()["case_id"]
            case_ids.append(case_id)
            answers = [
                http.get(
                    f"{platform.url('routing')}/v1/cases/{case_id}/referrals", headers=reporter
                ),
                http.get(
                    f"{platform.url('routing')}/v1/cases/{case_id}/routing-obligations",
                    headers=reporter,
                ),
                http.get(
                    f"{platform.url('deadlines')}/v1/cases/{case_id}/obligations", headers=reporter
                ),
                http.get(
                    f"{platform.url('deadlines')}/v1/cases/{case_id}/timeline", headers=reporter
                ),
            ]
            assert [answer.status_code for answer in answers] == [200, 200, 200, 200], [
                answer.text for answer in answers
            ]
        operator = platform.auth("", "operator")
        for service in ("routing", "deadlines"):
            for case_id in case_ids:
                audit = http.get(
                    f"{platform.url(service)}/v1/audit",
                    params={"case_id": case_id, "outcome": "refused"},
                    headers=operator,
                )
                assert audit.status_code == 200, audit.text
                assert audit.json()["entries"] == []


def test_a_stranger_is_still_refused_once_the_case_is_known(platform: Platform) -> None:
    with httpx.Client(timeout=10) as http:
        created = http.post(
            f"{platform.url('intake')}/v1/reports", json=report(), headers=platform.auth(REPORTER)
        )
        assert created.status_code == 201
        case_id = created.json()["case_id"]
        stranger = platform.auth("school-42")
        url = f"{platform.url('routing')}/v1/cases/{case_id}/referrals"
        wait_for(
            lambda: http.get(url, headers=platform.auth(REPORTER)).json()["referrals"],
            bool,
            timeout=30,
        )
        assert http.get(url, headers=stranger).status_code == 403
        # The reporter still reads it once routing knows the case.
        assert http.get(url, headers=platform.auth(REPORTER)).status_code == 200


def test_every_service_anchors_its_audit_log_and_verify_compares(platform: Platform) -> None:
    with httpx.Client(timeout=10) as http:
        # A refused token on each service: an entry in each audit log.
        for service in ("intake", "routing", "deadlines"):
            answer = http.get(
                f"{platform.url(service)}/v1/audit", headers={"Authorization": "Bearer forged"}
            )
            assert answer.status_code == 401
            operator = platform.auth("", "operator")
            refused = http.get(
                f"{platform.url(service)}/v1/audit",
                params={"outcome": "refused", "agency_id": "unknown"},
                headers=operator,
            ).json()["entries"]
            assert [entry["role"] for entry in refused][-1:] == ["unverified"]

    def verify() -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "QORGAU_VAR_DIR": str(platform.var_dir),
            "QORGAU_NATS_PORT": str(platform.nats_port),
        }
        env.pop("NATS_URL", None)
        return subprocess.run(
            [sys.executable, "-m", "qorgau.cli", "audit", "verify"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    # Each service checkpoints its head within its interval (5 s by default).
    done = wait_for(verify, lambda run: run.stdout.count("(checkpoint at entry") == 3, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
