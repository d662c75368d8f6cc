"""Routing's deployment settings: the acknowledgement time is the deployment's to set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.routing.config import RoutingSettings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, timedelta(hours=1)),
        ("7200", timedelta(hours=2)),
        ("PT30M", timedelta(minutes=30)),
        ("90.5", timedelta(seconds=90.5)),
    ],
)
def test_ack_timeout_defaults_to_one_hour_and_reads_seconds_or_iso(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: timedelta
) -> None:
    if value is None:
        monkeypatch.delenv("ROUTING_ACK_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("ROUTING_ACK_TIMEOUT", value)
    assert RoutingSettings().ack_timeout == expected


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_ack_timeout_must_be_a_positive_duration(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ROUTING_ACK_TIMEOUT", value)
    with pytest.raises(ValidationError):
        RoutingSettings()
