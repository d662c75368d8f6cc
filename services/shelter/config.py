"""Shelter settings (prefix SHELTER_)."""

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

# The directory shipped with the platform (a file of the deployment, not routing code): the
# shelter finds its region's social protection body there (Standard 14701 p.25, p.30).
AGENCIES = Path(__file__).parents[1] / "routing" / "seed" / "agencies.json"


class ShelterSettings(ServiceSettings):
    """Settings of the shelter service."""

    model_config = SettingsConfigDict(env_prefix="SHELTER_", extra="ignore")

    service_name: str = "shelter"
    http_port: int = 8105
    directory_file: Path = AGENCIES
    # Where intake takes reports (children who came with a parent, a refusal to go to the
    # police): the shelter reports over intake's public HTTP contract, as any agency does.
    # Unset, intake on this machine at its port (INTAKE_HTTP_PORT, as `qorgau up` sets it).
    intake_url: str | None = None
    intake_port: int = Field(
        default=8101, validation_alias=AliasChoices("intake_port", "INTAKE_HTTP_PORT")
    )
    # A token the deployment issued for the shelter's reports, where this service's key file
    # can only verify tokens (EdDSA public key): read at each report. Unset, the shelter signs
    # a short-lived token in the reporting shelter's name with the deployment key.
    intake_token_file: Path | None = None
    # How often pending reports to intake are tried (seconds).
    intake_interval: float = Field(default=1.0, gt=0)

    def resolved_intake_url(self) -> str:
        """Return intake's base URL."""
        return self.intake_url or f"http://127.0.0.1:{self.intake_port}"
