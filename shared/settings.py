"""Settings every service shares; each service subclasses them with its own prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Self
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.secretfiles import DEVELOPMENT, FileSecretsSource, placeholders

DEFAULT_NATS_URL = "nats://127.0.0.1:14222"
# What a process is when nothing says it is a development one.
PRODUCTION = "production"


class MissingSecret(RuntimeError):
    """A deployment outside development lacks a secret it needs (named, never shown)."""


def nats_servers(url: str) -> list[str]:
    """Split a NATS_URL that lists a cluster's servers ("nats://a:4222,nats://b:4222")."""
    return [part.strip() for part in url.split(",") if part.strip()]


class DeploymentSettings(BaseSettings):
    """What every process of a deployment reads alike: its var directory and the token keys."""

    model_config = SettingsConfigDict(extra="ignore")

    # development or anything else, e.g. production: there, placeholders and missing secrets
    # refuse to start. Development only when something says so (`qorgau up` and the test
    # suite do): a process started with nothing said is held to the production checks, as the
    # console's sign-in is. QORGAU_DEPLOYMENT is the console's name for the same thing.
    environment: str = Field(
        default=PRODUCTION,
        validation_alias=AliasChoices("environment", "QORGAU_ENV", "QORGAU_DEPLOYMENT"),
    )
    var_dir: Path = Field(
        default=Path("var"), validation_alias=AliasChoices("var_dir", "QORGAU_VAR_DIR")
    )
    token_key_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("token_key_file", "QORGAU_TOKEN_KEY_FILE"),
    )

    # Where the issuer publishes its public token keys (shared.auth): a service given this
    # verifies tokens without any key file of its own.
    token_jwks_url: str | None = Field(
        default=None, validation_alias=AliasChoices("token_jwks_url", "QORGAU_TOKEN_JWKS_URL")
    )
    token_jwks_lifespan: float = Field(
        default=300.0,
        gt=0,
        validation_alias=AliasChoices("token_jwks_lifespan", "QORGAU_TOKEN_JWKS_LIFESPAN"),
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read every setting from its variable, else from the file its `_FILE` variable names."""
        return (
            init_settings,
            env_settings,
            FileSecretsSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @property
    def development(self) -> bool:
        """Tell whether this is a development deployment (placeholders tolerated)."""
        return self.environment.strip().lower() == DEVELOPMENT

    @model_validator(mode="after")
    def _no_placeholders(self) -> Self:
        if not self.development:
            problems = [f"{name} holds a placeholder" for name in placeholders(self)]
            if problems:
                # Names the settings, never their values.
                raise ValueError(f"refusing to start in {self.environment}: {'; '.join(problems)}")
        return self

    def require(self, ok: bool, what: str) -> None:
        """Outside development, refuse to go on without a secret (named, never shown)."""
        if not ok and not self.development:
            raise MissingSecret(f"refusing to start in {self.environment}: {what}")

    def resolved_token_key_file(self) -> Path:
        """Return the file of the deployment keys that sign and verify tokens."""
        return self.token_key_file or (self.var_dir / "keys" / "token.key")


class ServiceSettings(DeploymentSettings):
    """Common settings; fields shared by all services read un-prefixed variables too."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = "service"
    nats_url: str = Field(
        default=DEFAULT_NATS_URL, validation_alias=AliasChoices("nats_url", "NATS_URL")
    )
    # The service's NKey seed (shared.natsauth), from a file its secret store mounts; the
    # service connects as the NATS user named after it.
    nats_nkey_seed_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("nats_nkey_seed_file", "NATS_NKEY_SEED_FILE"),
    )
    database_url: str | None = None
    # Put into database_url when that names no password (compose and Kubernetes mount it as
    # <PREFIX>_DATABASE_PASSWORD_FILE).
    database_password: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8100
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    relay_interval: float = Field(default=0.25, gt=0)
    data_key_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("data_key_file", "QORGAU_DATA_KEY_FILE")
    )
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    # How often the audit head is checkpointed to the AUDIT stream (when it moved).
    audit_checkpoint_interval: float = Field(default=5.0, gt=0)

    def resolved_nats_url(self) -> str:
        """Return NATS_URL with the service's NKey seed in it, when it has a seed file."""
        # Checked where it is used: a service without the bus (the console) needs no key.
        self.require(self.nats_nkey_seed_file is not None, "NATS_NKEY_SEED_FILE is not set")
        if self.nats_nkey_seed_file is None:
            return self.nats_url
        from shared.natsauth import credentials_url, read_seed_file

        seed = read_seed_file(self.nats_nkey_seed_file)
        return ",".join(
            credentials_url(server, self.service_name, seed)
            for server in nats_servers(self.nats_url)
        )

    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to SQLite under the var directory."""
        if self.database_url:
            return _with_password(self.database_url, self.database_password)
        self.require(False, f"{self.service_name}: no database URL (SQLite is for development)")
        return f"sqlite:///{(self.var_dir / f'{self.service_name}.db').resolve()}"

    def resolved_data_key_file(self) -> Path:
        """Return the file holding the keys that encrypt personal data at rest."""
        return self.data_key_file or (self.var_dir / "keys" / f"{self.service_name}.keys")


def _with_password(url: str, password: SecretStr | None) -> str:
    """Return the URL with the password put in, unless it names one already or none is given."""
    parts = urlsplit(url)
    if password is None or parts.password is not None or not parts.username:
        return url
    secret = quote(password.get_secret_value(), safe="")
    netloc = f"{parts.username}:{secret}@{parts.netloc.rpartition('@')[-1]}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
