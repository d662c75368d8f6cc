"""Family centre settings (prefix FAMILYCENTRE_)."""

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

# The same file routing seeds its directory from (a file of the deployment, not routing code).
AGENCIES = Path(__file__).parents[1] / "routing" / "seed" / "agencies.json"


class FamilyCentreSettings(ServiceSettings):
    """Settings of the family centre service."""

    model_config = SettingsConfigDict(env_prefix="FAMILYCENTRE_", extra="ignore")

    service_name: str = "familycentre"
    http_port: int = 8106
    # Read once into an empty database; routing's agency events keep it current after that.
    seed_directory: Path = AGENCIES
    # Where intake takes reports (the children admitted with a person, p.26): the centre reports
    # over intake's public HTTP contract, as any agency does. Unset, intake on this machine at
    # its port (INTAKE_HTTP_PORT, as `qorgau up` sets it).
    intake_url: str | None = None
    intake_port: int = Field(
        default=8101, validation_alias=AliasChoices("intake_port", "INTAKE_HTTP_PORT")
    )
    # A token the deployment issued for the centre's reports, where this service's key file can
    # only verify tokens (the issuer's JWKS): read at each report. Unset, the centre signs a
    # short-lived token in the admitting centre's name with the deployment key.
    intake_token_file: Path | None = None
    # How often pending reports to intake are tried (seconds).
    intake_interval: float = Field(default=1.0, gt=0)

    def resolved_intake_url(self) -> str:
        """Return intake's base URL."""
        return self.intake_url or f"http://127.0.0.1:{self.intake_port}"
