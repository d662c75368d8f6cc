"""The `qorgau` command's settings, read from the same variables the platform has always used."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import DeploymentSettings

# The directory is routing's data; the command reads it as data and never imports routing.
DIRECTORY_FILE = Path(__file__).resolve().parent.parent / "services/routing/seed/agencies.json"
NATS_PORT = 14222


class PlatformSettings(DeploymentSettings):
    """Where the platform keeps its data, which directory it reads, and how it runs NATS.

    QORGAU_VAR_DIR, QORGAU_TOKEN_KEY_FILE, QORGAU_DIRECTORY_FILE, QORGAU_NATS_PORT,
    QORGAU_NATS_AUTH (on | off) and NATS_URL (an external server: no embedded one). Each
    service's own settings (its port, its database) stay in its config.
    """

    model_config = SettingsConfigDict(env_prefix="QORGAU_", extra="ignore")

    directory_file: Path = DIRECTORY_FILE
    nats_url: str | None = Field(
        default=None, validation_alias=AliasChoices("nats_url", "NATS_URL")
    )
    nats_port: int = NATS_PORT
    nats_auth: bool = True

    @field_validator("var_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # The services the command starts run elsewhere: they get the directory as a full path.
        return value.resolve()

    def keys_dir(self) -> Path:
        """Return the folder of the deployment's keys."""
        return self.var_dir / "keys"
