"""Event contracts: versioned subjects, aware times, and no field that could hold personal data."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid
from datetime import datetime

import pytest
from pydantic import ValidationError

import shared.contracts
from shared.contracts.envelope import Event, agency_subject
from shared.contracts.intake import ReportReceived

PERSONAL = {"full_name", "name", "iin", "birth_date", "address", "narrative", "school", "phone"}


def all_events() -> list[type[Event]]:
    found: list[type[Event]] = []
    for module in pkgutil.iter_modules(shared.contracts.__path__):
        loaded = importlib.import_module(f"shared.contracts.{module.name}")
        for _name, value in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(value, Event) and value is not Event and value.NAME:
                found.append(value)
    return found


@pytest.mark.parametrize("event", all_events(), ids=lambda e: e.__name__)
def test_event_has_a_versioned_subject_and_no_personal_field(event: type[Event]) -> None:
    assert event.subject().startswith(f"qorgau.{event.SERVICE}.{event.NAME}.v")
    assert not PERSONAL & set(event.model_fields)


def test_events_refuse_naive_times() -> None:
    with pytest.raises(ValidationError):
        ReportReceived(
            occurred_at=datetime(2026, 1, 5, 10, 0),
            correlation_id=uuid.uuid4(),
            report_id=uuid.uuid4(),
            reporter_agency_type="police",
            region="KZ-75",
            channel="duties",
            received_at=datetime(2026, 1, 5, 10, 0),
            subject_kind="minor",
            concerns=("violence",),
        )


def test_consumers_ignore_fields_they_do_not_know() -> None:
    data = {
        "occurred_at": "2026-01-05T10:00:00+05:00",
        "correlation_id": str(uuid.uuid4()),
        "report_id": str(uuid.uuid4()),
        "reporter_agency_type": "police",
        "region": "KZ-75",
        "channel": "duties",
        "received_at": "2026-01-05T10:00:00+05:00",
        "subject_kind": "minor",
        "concerns": ["violence"],
        "added_in_a_later_version": 1,
    }
    assert ReportReceived.model_validate(data).region == "KZ-75"


def test_agency_subject_refuses_tokens_that_would_break_the_subject() -> None:
    assert agency_subject("kz-75-police", "referral_issued") == (
        "qorgau.agency.kz-75-police.referral_issued.v1"
    )
    for bad in ("kz.75", "a b", "x>", "*", ""):
        with pytest.raises(ValueError):
            agency_subject(bad, "referral_issued")
