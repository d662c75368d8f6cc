"""Routing settings (prefix ROUTING_)."""

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

SEED_DIRECTORY = Path(__file__).parent / "seed" / "agencies.json"


class RoutingSettings(ServiceSettings):
    """Settings of the routing service."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore")

    service_name: str = "routing"
    http_port: int = 8102
    seed_directory: Path = SEED_DIRECTORY
