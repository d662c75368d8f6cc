"""How the centre stores what people told it: JSON encrypted per field (shared.crypto), and the
plans as the domain objects of `shared.plans`, whole, encrypted as one value."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from pydantic import TypeAdapter

from shared.crypto import FieldCipher
from shared.plans import PLAN_KINDS, Plan

_PLAN = TypeAdapter(Plan)
PLAN_FIELD = "familycentre.plan.document"


def seal(cipher: FieldCipher, value: Any, *, field: str) -> str | None:
    """Return a JSON value encrypted for a field (None stays None)."""
    if value is None:
        return None
    return cipher.encrypt(json.dumps(value, ensure_ascii=False, default=str), field=field)


def unseal(cipher: FieldCipher, token: str | None, *, field: str) -> Any:
    """Return the JSON value an encrypted field holds."""
    plain = cipher.decrypt(token, field=field)
    return None if plain is None else json.loads(plain)


def seal_plan(cipher: FieldCipher, plan: Plan) -> str:
    """Return the plan as one encrypted value."""
    sealed = cipher.encrypt(_PLAN.dump_json(plan).decode(), field=PLAN_FIELD)
    assert sealed is not None
    return sealed


def open_plan(cipher: FieldCipher, document: str) -> Plan:
    """Return the plan an encrypted value holds, under the rules of its kind as they stand."""
    plan = _PLAN.validate_json(cipher.decrypt(document, field=PLAN_FIELD) or "")
    return replace(plan, kind=PLAN_KINDS.get(plan.kind.code, plan.kind))
