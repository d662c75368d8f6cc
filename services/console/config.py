"""Console settings (prefix CONSOLE_); where the other services answer, read as they read it."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

SEED_CATALOGUE = Path(__file__).resolve().parent.parent / "routing" / "seed" / "catalogue.json"
# The services the console calls, with the port each listens on by default (README table).
BACKENDS = {
    "intake": 8101,
    "routing": 8102,
    "deadlines": 8103,
    "casework": 8104,
    "shelter": 8105,
    "familycentre": 8106,
}


class ConsoleSettings(ServiceSettings):
    """Settings of the console."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    service_name: str = "console"
    http_port: int = 8100
    # "development" lets anyone pick an agency and a role (the embedded default `qorgau up`
    # sets); anything else signs people in through the identity provider only.
    deployment: str = Field(
        default="production",
        validation_alias=AliasChoices("deployment", "QORGAU_DEPLOYMENT"),
    )
    intake_url: str | None = None
    routing_url: str | None = None
    deadlines_url: str | None = None
    casework_url: str | None = None
    shelter_url: str | None = None
    familycentre_url: str | None = None
    # Seconds a call to a service may take before the page says the service is not answering.
    backend_timeout: float = Field(default=10.0, gt=0)
    session_hours: float = Field(default=8.0, gt=0)
    # Secure cookies need HTTPS: on in production behind TLS, off on the embedded loopback.
    secure_cookies: bool = False
    # Where a row's "what the regulation asks" is read (routing's catalogue: data, not code).
    catalogue_file: Path = SEED_CATALOGUE
    jaeger_url: str = "http://127.0.0.1:16686"
    # OpenID Connect (production): the provider's issuer, this client, and the claims that
    # carry the agency, its type, region and role.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_url: str | None = None
    oidc_scope: str = "openid profile"
    oidc_claim_agency: str = "qorgau_agency_id"
    oidc_claim_agency_type: str = "qorgau_agency_type"
    oidc_claim_region: str = "qorgau_region"
    oidc_claim_role: str = "qorgau_role"

    @property
    def development(self) -> bool:
        """Tell whether the deployment says it is a development one."""
        return self.deployment.strip().lower() == "development"

    def backend_url(self, name: str) -> str:
        """Return the base URL of a service: CONSOLE_<NAME>_URL, else loopback at its port."""
        explicit: str | None = getattr(self, f"{name}_url", None)
        if explicit:
            return explicit.rstrip("/")
        # The same variable the service itself reads (<NAME>_HTTP_PORT), so `qorgau up` on
        # other ports needs nothing more.
        port = os.environ.get(f"{name.upper()}_HTTP_PORT") or str(BACKENDS[name])
        return f"http://127.0.0.1:{int(port)}"

    def session_key_file(self) -> Path:
        """Return the file of the key that signs session cookies."""
        return self.var_dir / "keys" / "console.session.key"

    @property
    def otlp_configured(self) -> bool:
        """Tell whether traces go to a collector (then the console links to Jaeger)."""
        return bool(self.otlp_endpoint)
