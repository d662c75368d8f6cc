"""Family centre settings (prefix FAMILYCENTRE_)."""

from pathlib import Path

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
