"""Secrets from files: every setting `X` may be given as `X_FILE`, a file holding its value.

Compose and Kubernetes mount secrets as files (`/run/secrets/...`); a password in an
environment variable shows in `docker inspect`, in process listings and in crash reports. So
each setting read from the variable `INTAKE_DATABASE_PASSWORD` can instead be read from the
file named by `INTAKE_DATABASE_PASSWORD_FILE` (one trailing newline is dropped). A variable
given directly wins over its file.

Outside development (`QORGAU_ENV` other than `development`) a process refuses to start when a
setting still holds a placeholder (`change-me...`, as the committed examples do), naming the
setting and never its value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

__all__ = ["DEVELOPMENT", "PLACEHOLDER", "FileSecretsSource", "placeholders", "read_secret"]

DEVELOPMENT = "development"
# What the committed examples hold instead of a secret.
PLACEHOLDER = "change-me"


def read_secret(path: Path | str) -> str:
    """Return a secret file's text without the trailing newline editors and `echo` add."""
    return Path(path).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")


def _env_names(settings_cls: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [
            choice.upper() for choice in alias.choices if isinstance(choice, str) and choice != name
        ] or [f"{settings_cls.model_config.get('env_prefix', '')}{name}".upper()]
    if isinstance(alias, str):
        return [alias.upper()]
    return [f"{settings_cls.model_config.get('env_prefix', '')}{name}".upper()]


class FileSecretsSource(PydanticBaseSettingsSource):
    """Read each setting from the file its `<VARIABLE>_FILE` variable names."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Return the value of one field from its file, if a file is named (else None)."""
        environ = {key.upper(): value for key, value in os.environ.items()}
        for name in _env_names(self.settings_cls, field_name, field):
            path = environ.get(f"{name}_FILE")
            if path:
                return read_secret(path), field_name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Return the settings found in files, by field name."""
        found: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                found[key] = value
        return found


def placeholders(settings: BaseModel) -> list[str]:
    """Return the names of the settings that still hold a placeholder instead of a secret."""
    found = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and PLACEHOLDER in value.lower():
            found.append(name)
    return found
