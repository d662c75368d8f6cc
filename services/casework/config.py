"""Casework settings (prefix CASEWORK_)."""

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

# The same file routing seeds its directory from (a file of the deployment, not routing code).
AGENCIES = Path(__file__).parents[1] / "routing" / "seed" / "agencies.json"


class CaseworkSettings(ServiceSettings):
    """Settings of the casework service."""

    model_config = SettingsConfigDict(env_prefix="CASEWORK_", extra="ignore")

    service_name: str = "casework"
    http_port: int = 8104
    # The directory shipped with the platform, read once into an empty database; routing's
    # agency_registered / agency_changed events keep it current after that. A deployment that
    # seeds routing from another file names it once for both.
    seed_directory: Path = Field(
        default=AGENCIES,
        validation_alias=AliasChoices(
            "seed_directory",
            "CASEWORK_SEED_DIRECTORY",
            "ROUTING_SEED_DIRECTORY",
            "QORGAU_DIRECTORY_FILE",
        ),
    )
