"""Deadlines settings (prefix DEADLINES_)."""

from datetime import timedelta
from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class DeadlinesSettings(ServiceSettings):
    """Settings of the deadlines service."""

    model_config = SettingsConfigDict(env_prefix="DEADLINES_", extra="ignore")

    service_name: str = "deadlines"
    http_port: int = 8103
    # "Immediately" is breached after this grace (REGULATIONS.md "Time").
    immediate_grace: timedelta = timedelta(minutes=15)
    calendar_overrides_file: Path | None = None
