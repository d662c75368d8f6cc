"""The obligation catalogue: rows of REGULATIONS.md as data, loaded from catalogue.json."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from services.routing.domain import Row, Target

CATALOGUE_FILE = Path(__file__).parent / "seed" / "catalogue.json"


def _row(entry: dict[str, Any]) -> Row:
    targets = tuple(
        Target(str(t["agency_type"]), tuple(t.get("fallbacks", ()))) for t in entry["targets"]
    )
    to = entry.get("effective_to")
    return Row(
        code=str(entry["code"]),
        legal_basis=str(entry["legal_basis"]),
        scope=frozenset(entry["scope"]),
        targets=targets,
        term=str(entry["term"]),
        reporter_types=frozenset(entry.get("reporter_types", ())),
        flags=frozenset(entry.get("flags", ())),
        effective_from=date.fromisoformat(str(entry.get("effective_from", "2000-01-01"))),
        effective_to=date.fromisoformat(str(to)) if to else None,
    )


@cache
def load(path: Path = CATALOGUE_FILE) -> tuple[Row, ...]:
    """Read the catalogue's rows that routing opens when a report arrives."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(_row(entry) for entry in data["on_report"])
