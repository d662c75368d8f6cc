"""Intake settings (prefix INTAKE_)."""

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.auth import token_key_file
from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Settings of the intake service."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    service_name: str = "intake"
    http_port: int = 8101
    token_key_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("token_key_file", "QORGAU_TOKEN_KEY_FILE"),
    )

    def resolved_token_key_file(self) -> Path:
        """Return the file of the deployment keys that sign and verify tokens."""
        return token_key_file(self.var_dir, self.token_key_file)
