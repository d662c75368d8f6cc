"""What the console's pages need: settings, clock, the services' clients, the catalogue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from services.console.clients import Backends
from services.console.config import ConsoleSettings
from shared.clock import Clock


@dataclass
class ConsoleDeps:
    """The console's collaborators, built once in app.build."""

    settings: ConsoleSettings
    clock: Clock
    backends: Backends
    oidc: Any = None

    @cached_property
    def catalogue(self) -> dict[str, dict[str, Any]]:
        """Return the catalogue's rows by code (what each regulation asks), newest version."""
        try:
            data = json.loads(self.settings.catalogue_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        rows: dict[str, dict[str, Any]] = {}
        for row in data.get("rows", []):
            if row.get("version", 1) >= rows.get(row["code"], {}).get("version", 0):
                rows[row["code"]] = row
        return rows

    def what(self, code: str | None) -> str:
        """Return what the regulation asks under a row, or ''."""
        return str(self.catalogue.get(code or "", {}).get("what", ""))
