"""Deadlines' deployment settings: what a deployment may set, and what it is refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.deadlines.config import DeadlinesSettings
from shared.calendar import Term


def test_defaults_follow_the_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEADLINES_ESCALATION_CHAIN", "DEADLINES_IMMEDIATE_GRACE"):
        monkeypatch.delenv(name, raising=False)
    policy = DeadlinesSettings().policy()
    assert policy.immediate_grace == timedelta(minutes=15)
    assert policy.warning.before_hours == timedelta(hours=1)
    assert policy.warning.working_days_before == 0
    assert policy.escalation_term == Term.working_days(1)
    assert policy.chain.supervisor_of("guardianship") == "child_rights_national"
    assert policy.chain.supervisor_of("police") == "prosecutor"
    assert policy.chain.supervisor_of("prosecutor") is None
    # A breach fires within 2 seconds: the poll interval cannot be set beyond that.
    assert DeadlinesSettings().poll_interval <= 1.5


def test_a_deployment_sets_them_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEADLINES_IMMEDIATE_GRACE", "PT30M")
    monkeypatch.setenv("DEADLINES_WARN_BEFORE_HOURS", "PT2H")
    monkeypatch.setenv("DEADLINES_ESCALATION_TERM", "hours:4")
    monkeypatch.setenv(
        "DEADLINES_ESCALATION_CHAIN",
        json.dumps({"education_org": "education_authority", "education_authority": None}),
    )
    policy = DeadlinesSettings().policy()
    assert policy.immediate_grace == timedelta(minutes=30)
    assert policy.warning.before_hours == timedelta(hours=2)
    assert policy.escalation_term == Term.hours(4)
    assert policy.chain.supervisor_of("education_org") == "education_authority"
    assert policy.chain.supervisor_of("education_authority") is None
    assert policy.chain.supervisor_of("police") == "prosecutor"


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("DEADLINES_ESCALATION_CHAIN", json.dumps({"police": "police"}), "loops"),
        ("DEADLINES_ESCALATION_CHAIN", json.dumps({"police": "ministry"}), "ministry"),
        ("DEADLINES_ESCALATION_TERM", "none", "needs a term"),
        ("DEADLINES_ESCALATION_TERM", "weeks:2", "not a term"),
        ("DEADLINES_POLL_INTERVAL", "5", "poll_interval"),
    ],
)
def test_a_bad_setting_stops_the_service_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=problem):
        DeadlinesSettings()
