"""The escalation ladder is data: a deployment loads its own without a code change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.deadlines import ladder
from services.deadlines.config import DeadlinesSettings


def test_a_deployment_loads_its_own_ladder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    document = json.loads(ladder.LADDER_FILE.read_text(encoding="utf-8"))
    document["steps"].append(
        {
            "agency_type": "shelter",
            "supervisor": "social_protection",
            "legal_basis": "Standard 14701, p.31",
        }
    )
    own = tmp_path / "ladder.json"
    own.write_text(json.dumps(document), encoding="utf-8")
    monkeypatch.setenv("DEADLINES_ESCALATION_LADDER_FILE", str(own))
    chain = DeadlinesSettings().policy().chain
    assert (chain.supervisor_of("shelter"), chain.basis_of("shelter")) == (
        "social_protection",
        "Standard 14701, p.31",
    )
    assert chain.supervisor_of("education_org") == "education_authority"


def test_a_ladder_that_loops_or_names_an_unknown_type_stops_the_service(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    document = json.loads(ladder.LADDER_FILE.read_text(encoding="utf-8"))
    for step, problem in (
        ({"agency_type": "prosecutor", "supervisor": "education_org"}, "loops"),
        ({"agency_type": "school", "supervisor": "ministry"}, "ministry"),
    ):
        steps = [s for s in document["steps"] if s["agency_type"] != step["agency_type"]]
        own = tmp_path / "ladder.json"
        own.write_text(
            json.dumps({**document, "steps": [*steps, {**step, "legal_basis": "x"}]}),
            encoding="utf-8",
        )
        monkeypatch.setenv("DEADLINES_ESCALATION_LADDER_FILE", str(own))
        with pytest.raises(ValidationError, match=problem):
            DeadlinesSettings()


def test_an_overridden_step_cites_no_clause_it_does_not_have(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "DEADLINES_ESCALATION_CHAIN",
        json.dumps({"education_org": "education_authority", "police": "local_executive"}),
    )
    chain = DeadlinesSettings().policy().chain
    assert chain.basis_of("education_org") == "Rules 38874, p.3.3, p.32"
    assert chain.basis_of("police") is None
