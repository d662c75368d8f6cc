"""The escalation ladder as data: who supervises whom, and the clause each step rests on."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.deadlines.domain import EscalationChain

LADDER_FILE = Path(__file__).parent / "seed" / "ladder.json"


class Step(BaseModel):
    """One rung: an agency type, the type that supervises it (None: the top), and why."""

    model_config = ConfigDict(extra="forbid")

    agency_type: str
    supervisor: str | None
    legal_basis: str = Field(min_length=1, max_length=200)
    note: str = ""


class Default(BaseModel):
    """Where every type the ladder does not name climbs, and why."""

    model_config = ConfigDict(extra="forbid")

    supervisor: str | None
    legal_basis: str = Field(min_length=1, max_length=200)
    note: str = ""


class Ladder(BaseModel):
    """The ladder document (services/deadlines/seed/ladder.json)."""

    model_config = ConfigDict(extra="forbid")

    note: str = ""
    default: Default
    steps: list[Step]

    def chain(self, *, max_level: int = 5) -> EscalationChain:
        """The escalation chain this ladder describes (raises on a loop)."""
        return EscalationChain(
            supervisors={step.agency_type: step.supervisor for step in self.steps},
            default=self.default.supervisor,
            max_level=max_level,
            bases={step.agency_type: step.legal_basis for step in self.steps},
            default_basis=self.default.legal_basis,
        )


def parse(data: Any) -> Ladder:
    """Read a ladder document; raise ValueError naming what is wrong."""
    ladder = Ladder.model_validate(data)
    named = [step.agency_type for step in ladder.steps]
    if len(named) != len(set(named)):
        raise ValueError("escalation ladder: an agency type has two steps")
    return ladder


def load(path: Path = LADDER_FILE) -> Ladder:
    """Read the ladder from a file."""
    return parse(json.loads(path.read_text(encoding="utf-8")))


@cache
def default_chain() -> EscalationChain:
    """The chain of the ladder this deployment ships."""
    return load().chain()
