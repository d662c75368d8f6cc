"""Routing settings (prefix ROUTING_)."""

from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

SEED_DIRECTORY = Path(__file__).parent / "seed" / "agencies.json"
CATALOGUE = Path(__file__).parent / "seed" / "catalogue.json"


class RoutingSettings(ServiceSettings):
    """Settings of the routing service."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore")

    service_name: str = "routing"
    http_port: int = 8102
    seed_directory: Path = SEED_DIRECTORY
    catalogue: Path = CATALOGUE
    # An unanswered referral raises referral_unacknowledged after this (seconds or ISO 8601,
    # e.g. ROUTING_ACK_TIMEOUT=3600 or PT1H).
    ack_timeout: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    # How often the acknowledgement timer looks for overdue referrals, in seconds.
    ack_poll_interval: float = Field(default=30.0, gt=0)

    @field_validator("ack_timeout", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        # An environment variable is text: "3600" means seconds, as a number would.
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value
