"""The obligation catalogue: rows of REGULATIONS.md as data, loaded from catalogue.json.

Each entry is one version of one row: its code, trigger, conditions, who acts, to whom, the
term (the compact form of shared.calendar.Term, or "none" where the text sets no term), the
legal basis, and the dates it is in force. An amended regulation is a new version of the row
with its own `effective_from`; the old version gets an `effective_to`.
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from services.routing.domain import (
    NO_TERM,
    RECEIVER,
    REPORTER,
    Conditions,
    Kind,
    Row,
    Rules,
    TargetSpec,
)
from shared.calendar import Term

CATALOGUE_FILE = Path(__file__).parent / "seed" / "catalogue.json"
# "report": a report arrives; "received": an agency of a type receives the case; "admitted":
# an agency of a type admits the person to a stay (Family Centre Rules p.26), an event the
# agency's own service publishes, which no service emits yet: such rows open on no report.
TRIGGERS = frozenset({"report", "received", "admitted"})


def _set(value: Any) -> frozenset[str]:
    return frozenset(str(v) for v in value or ())


def _row(entry: dict[str, Any]) -> Row:
    trigger = entry.get("trigger", {"on": "report"})
    when = entry.get("when", {})
    to = entry.get("effective_to")
    return Row(
        code=str(entry["code"]),
        version=int(entry.get("version", 1)),
        legal_basis=str(entry["legal_basis"]),
        what=str(entry.get("what", "")),
        kind=Kind(entry["carried_out"]),
        term=str(entry["term"]),
        trigger=str(trigger["on"]),
        received_by=trigger.get("by"),
        actor=str(entry.get("actor", REPORTER)),
        actor_also_reporter_types=_set(entry.get("actor_also_reporter_types")),
        when=Conditions(
            subjects=_set(when.get("subjects")),
            scope=_set(when.get("scope")),
            concerns=_set(when.get("concerns")),
            reporter_types=_set(when.get("reporter_types")),
            not_reporter_types=_set(when.get("not_reporter_types")),
            flags=_set(when.get("flags")),
        ),
        targets=tuple(
            TargetSpec(str(t["agency_type"]), bool(t.get("judgement", False)))
            for t in entry.get("targets", ())
        ),
        involves=entry.get("involves"),
        joined_by=tuple(str(kind) for kind in entry.get("with", ())),
        part=str(entry.get("part", "")),
        needs_consent=bool(entry.get("needs_consent", False)),
        term_from=entry.get("term_from"),
        effective_from=date.fromisoformat(str(entry["effective_from"])),
        effective_to=date.fromisoformat(str(to)) if to else None,
    )


def parse(data: dict[str, Any]) -> Rules:
    """Build the rules from the catalogue's JSON document, checking what code relies on."""
    rows = tuple(_row(entry) for entry in data["rows"])
    stand_ins: dict[str, tuple[str, ...]] = {}
    for entry in data.get("stand_ins", ()):
        kind = str(entry["agency_type"])
        stand_ins[kind] = (*stand_ins.get(kind, ()), str(entry["stand_in"]))
    rules = Rules(
        rows=rows,
        stand_ins=stand_ins,
        supervisors={str(e["agency_type"]): str(e["supervisor"]) for e in data["supervisors"]},
        last_resort=str(data["last_resort"]),
        national_types=_set(data["national_types"]),
    )
    _check(rules)
    _check_acts(rules, data.get("acts", {}))
    return rules


def _check_acts(rules: Rules, acts: dict[str, Any]) -> None:
    """Refuse a row citing an act the catalogue does not date, or in force before that act."""
    for row in rules.rows:
        act = acts.get(row.legal_basis.split(",")[0])
        if act is None:
            raise ValueError(f"{row.code}: the act of {row.legal_basis!r} is not in 'acts'")
        if row.effective_from < date.fromisoformat(str(act["effective_from"])):
            raise ValueError(f"{row.code} v{row.version}: in force before its act")


def _check(rules: Rules) -> None:
    for row in rules.rows:
        if row.term != NO_TERM:
            Term.parse(row.term)
        if row.trigger not in TRIGGERS:
            raise ValueError(f"{row.code}: unknown trigger {row.trigger!r}")
        if (row.trigger != "report") != (row.received_by is not None):
            raise ValueError(f"{row.code}: a '{row.trigger}' trigger names the agency type")
        if row.actor == RECEIVER and row.trigger == "report":
            raise ValueError(f"{row.code}: a row owed by the receiver is triggered by an agency")
        if row.term_from not in {None, "child_removed_at"}:
            raise ValueError(f"{row.code}: a term runs from no fact called {row.term_from!r}")
        if row.kind is Kind.TRANSFER and not row.targets:
            raise ValueError(f"{row.code}: a transfer names its targets")
        if row.effective_to is not None and row.effective_to <= row.effective_from:
            raise ValueError(f"{row.code} v{row.version}: ends before it starts")
    by_code: dict[str, list[Row]] = {}
    for row in rules.rows:
        by_code.setdefault(row.code + (f"/{row.part}" if row.part else ""), []).append(row)
    for code, versions in by_code.items():
        ordered = sorted(versions, key=lambda r: r.effective_from)
        for before, after in itertools.pairwise(ordered):
            if before.effective_to is None or before.effective_to > after.effective_from:
                raise ValueError(f"{code}: versions {before.version} and {after.version} overlap")


def read(path: Path) -> Rules:
    """Read a catalogue file."""
    return parse(json.loads(path.read_text(encoding="utf-8")))


@cache
def load(path: Path = CATALOGUE_FILE) -> Rules:
    """Read the shipped catalogue (once per process)."""
    return read(path)
