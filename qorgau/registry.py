"""The services of the platform, listed once: the command and the event catalogue read them here.

A service is a package `services.<name>` with the same files as every other (STYLE.md): its
settings class in `config.py`, its bus bindings in `subscribers.py`, its entry point in `app.py`.
The registry imports a service only when asked, so the command starts without loading them all.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from shared.settings import ServiceSettings


@dataclass(frozen=True)
class Service:
    """One service: its name, and where its settings, bus bindings and app are found."""

    name: str
    # Whether the service is on the bus (the console is not: it calls the others over HTTP).
    bus: bool = True

    @property
    def package(self) -> str:
        """Return the service's package (`services.<name>`)."""
        return f"services.{self.name}"

    def subscribers(self) -> ModuleType:
        """Import the module that binds the service's subjects and lists what it publishes."""
        return importlib.import_module(f"{self.package}.subscribers")

    def delivers(self) -> bool:
        """Tell whether the service delivers work to agencies (publishes on their subjects)."""
        return bool(getattr(self.subscribers(), "DELIVERS", ()))

    def settings(self) -> ServiceSettings:
        """Return the service's own settings, read from the environment as the service does."""
        module = importlib.import_module(f"{self.package}.config")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, ServiceSettings)
                and value is not ServiceSettings
            ):
                return value()
        raise LookupError(f"{self.package}.config has no settings class")

    def http_port(self) -> int:
        """Return the port the service's HTTP API listens on (its default, or <NAME>_HTTP_PORT)."""
        return self.settings().http_port

    def run(self) -> None:
        """Run the service in this process."""
        importlib.import_module(f"{self.package}.app").main()


# The console comes first: it is what a person opens, and `qorgau up` prints it first.
SERVICES: tuple[Service, ...] = (
    Service("console", bus=False),
    Service("intake"),
    Service("routing"),
    Service("deadlines"),
    Service("casework"),
    Service("shelter"),
    Service("familycentre"),
)
SERVICE_NAMES: tuple[str, ...] = tuple(service.name for service in SERVICES)
# The services with a bus, a database and an audit log of their own.
BUS_SERVICE_NAMES: tuple[str, ...] = tuple(service.name for service in SERVICES if service.bus)


def service(name: str) -> Service | None:
    """Return the service of that name, or None."""
    return next((found for found in SERVICES if found.name == name), None)
