"""Intake's own rules that rest on facts kept elsewhere (the catalogue of acts)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from services.intake.domain import EARLIEST_ACT_IN_FORCE

CATALOGUE = Path(__file__).parents[2] / "services" / "routing" / "seed" / "catalogue.json"


def test_intake_refuses_reports_from_before_the_earliest_act_of_the_catalogue() -> None:
    acts = json.loads(CATALOGUE.read_text(encoding="utf-8"))["acts"]
    earliest = min(date.fromisoformat(act["effective_from"]) for act in acts.values())
    assert EARLIEST_ACT_IN_FORCE == earliest
