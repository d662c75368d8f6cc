"""deploy/: the compose files start things in the right order, check health, commit no secret."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from qorgau import registry

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
HUB = DEPLOY / "docker-compose.yml"
SITE = DEPLOY / "agency-site" / "docker-compose.yml"
NATS = ("nats-1", "nats-2", "nats-3")


def compose(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


# Every registered service runs in the hub's compose.
SERVICE_NAMES = registry.SERVICE_NAMES
# Those of them on the bus with a database of their own (the console has neither).
BUS_SERVICES = tuple(name for name in SERVICE_NAMES if getattr(registry.service(name), "bus", True))


def depends(service: dict[str, Any]) -> dict[str, str]:
    found = service.get("depends_on") or {}
    assert isinstance(found, dict), "depends_on must name conditions, not just order"
    return {name: spec["condition"] for name, spec in found.items()}


def test_every_registered_service_is_in_the_hub_compose() -> None:
    services = compose(HUB)["services"]
    for name in registry.SERVICE_NAMES:
        assert name in services, f"{name} is in the registry but not in deploy/"
        assert services[name]["command"] == [name]
    # Nothing waits commented out.
    assert not re.search(r"^\s*#\s*\w+:\s*$", HUB.read_text(encoding="utf-8"), re.MULTILINE)


def test_start_order_nats_then_streams_then_services() -> None:
    services = compose(HUB)["services"]
    assert depends(services["streams"]) == {name: "service_healthy" for name in NATS}
    assert services["streams"]["restart"] == "no"
    for name in BUS_SERVICES:
        assert depends(services[name]) == {
            "streams": "service_completed_successfully",
            "postgres": "service_healthy",
        }
    # The console (no bus, no database) waits for the services it calls to answer.
    assert depends(services["console"]) == {
        name: "service_healthy" for name in ("intake", "routing", "deadlines", "casework")
    }
    for name in SERVICE_NAMES:
        # Tracing is optional: no service waits for the collector.
        assert "otel-collector" not in depends(services[name])


def test_health_checks_on_nats_postgres_and_each_service() -> None:
    services = compose(HUB)["services"]
    for name in (*NATS, "postgres", *SERVICE_NAMES):
        check = services[name].get("healthcheck")
        assert check and check["test"][0] == "CMD", f"{name} has no health check"
    for name in SERVICE_NAMES:
        port = services[name]["ports"][0].split(":")[-1]
        # Each service's check asks its own /health (503 while NATS or its database is away).
        assert f"127.0.0.1:{port}/health" in " ".join(services[name]["healthcheck"]["test"])
    for name in NATS:
        assert "js-enabled-only" in " ".join(services[name]["healthcheck"]["test"])


def test_collector_and_jaeger_are_an_optional_profile() -> None:
    services = compose(HUB)["services"]
    assert services["otel-collector"]["profiles"] == ["tracing"]
    assert services["jaeger"]["profiles"] == ["tracing"]
    assert all("profiles" not in services[name] for name in (*NATS, "postgres", *SERVICE_NAMES))


def test_secrets_come_from_files_and_services_run_in_production_mode() -> None:
    document = compose(HUB)
    declared = document["secrets"]
    for name, spec in declared.items():
        assert spec["file"].startswith("./secrets/"), name
    services = document["services"]
    for name, service in services.items():
        for secret in service.get("secrets", []):
            assert secret in declared, f"{name} mounts undeclared secret {secret}"
    for name in SERVICE_NAMES:
        assert services[name]["environment"]["QORGAU_ENV"] == "production"
    for name in BUS_SERVICES:
        env = services[name]["environment"]
        prefix = name.upper()
        assert env[f"{prefix}_DATABASE_PASSWORD_FILE"] == f"/run/secrets/{name}-db-password"
        assert "@postgres" in env[f"{prefix}_DATABASE_URL"]
        assert ":" not in env[f"{prefix}_DATABASE_URL"].split("//")[1].split("@")[0]
        assert "sslmode=verify-full" in env[f"{prefix}_DATABASE_URL"]
        assert env["NATS_NKEY_SEED_FILE"] == f"/run/secrets/{name}.nk"
        assert env["NATS_TLS_CA_FILE"] == "/run/secrets/ca.pem"
        mounted = set(services[name]["secrets"])
        assert {f"{name}.nk", f"{name}-db-password", f"{name}.keys"} <= mounted
    # The issuer (intake, which publishes the JWKS) and the console (which signs people in)
    # hold the one token key file; every other service verifies by the issuer's JWKS.
    holders = [n for n in SERVICE_NAMES if "token.key" in services[n]["secrets"]]
    assert sorted(holders) == ["console", "intake"]
    for name in holders:
        assert services[name]["environment"]["QORGAU_TOKEN_KEY_FILE"] == "/run/secrets/token.key"
    for name in SERVICE_NAMES:
        if name not in holders:
            assert services[name]["environment"]["QORGAU_TOKEN_JWKS_URL"].endswith(
                "/.well-known/jwks.json"
            )
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/")
    assert set(services["postgres"]["environment"]["QORGAU_DATABASES"].split()) == set(BUS_SERVICES)
    assert {f"{name}-db-password" for name in BUS_SERVICES} <= set(services["postgres"]["secrets"])


@pytest.mark.parametrize("name", ["shelter", "familycentre"])
def test_a_service_that_reports_to_intake_does_so_with_a_token_issued_to_it(name: str) -> None:
    services = compose(HUB)["services"]
    env = services[name]["environment"]
    prefix = name.upper()
    # It verifies by JWKS (no signing key): the token is a file of the secret store.
    assert "QORGAU_TOKEN_KEY_FILE" not in env
    assert env[f"{prefix}_INTAKE_URL"] == "http://intake:8101"
    assert env[f"{prefix}_INTAKE_TOKEN_FILE"] == f"/run/secrets/{name}-intake.jwt"
    assert f"{name}-intake.jwt" in services[name]["secrets"]


def test_the_console_calls_the_services_and_signs_in_through_the_provider() -> None:
    services = compose(HUB)["services"]
    env = services["console"]["environment"]
    assert env["QORGAU_DEPLOYMENT"] == "production"
    for name in ("intake", "routing", "deadlines", "casework"):
        port = services[name]["ports"][0].split(":")[-1]
        assert env[f"CONSOLE_{name.upper()}_URL"] == f"http://{name}:{port}"
    assert env["CONSOLE_OIDC_CLIENT_SECRET_FILE"].startswith("/run/secrets/")
    assert "NATS_NKEY_SEED_FILE" not in env and "CONSOLE_DATABASE_URL" not in env


# A URL with user:password@ in it.
URL_PASSWORD = re.compile(r"://[^/@:]+:[^/@]+@")
SECRET_KEYS = re.compile(r"(PASSWORD|SECRET|TOKEN_KEY|SEED)\b", re.IGNORECASE)


@pytest.mark.parametrize("path", [HUB, SITE])
def test_no_password_is_committed(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "change-me" not in text
    assert not re.search(r"SU[A-Z2-7]{50,}", text), "an NKey seed is committed"
    for name, service in compose(path)["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_KEYS.search(key) and not key.endswith("_FILE"):
                raise AssertionError(f"{name}: {key} is given inline ({value!r}): use {key}_FILE")
            assert not URL_PASSWORD.search(str(value)), f"{name}: {key} has a password"


def test_no_secret_file_anywhere_in_deploy() -> None:
    for path in DEPLOY.rglob("*"):
        if path.is_file() and "secrets" not in path.parts:
            text = path.read_text(encoding="utf-8", errors="replace")
            assert "BEGIN PRIVATE KEY" not in text and "BEGIN EC PRIVATE KEY" not in text, path
            assert "change-me" not in text, path
    assert (DEPLOY / ".gitignore").read_text().strip().endswith("secrets/")


def test_the_hub_nats_config_is_the_production_one() -> None:
    text = (DEPLOY / "nats.conf").read_text(encoding="utf-8")
    for required in (
        "sync_interval: always",
        "domain: hub",
        "include authorization.conf",
        "verify: true",
        "leafnodes {",
        "cert_file: /run/secrets/server.pem",
    ):
        assert required in text, required
    assert "password" not in text


def test_the_agency_site_waits_for_its_leaf_stream() -> None:
    services = compose(SITE)["services"]
    assert depends(services["leaf-streams"]) == {"nats-leaf": "service_healthy"}
    assert services["leaf-streams"]["entrypoint"][:3] == ["qorgau", "leaf", "streams"]
    assert "healthcheck" in services["nats-leaf"] and "healthcheck" in services["postgres"]
    assert "leaf.conf" in compose(SITE)["secrets"]


def test_the_agency_site_runs_the_shelter_and_the_console() -> None:
    document = compose(SITE)
    services = document["services"]
    for name, service in services.items():
        for secret in service.get("secrets", []):
            assert secret in document["secrets"], f"{name} mounts undeclared secret {secret}"
    shelter, console = services["shelter"], services["console"]
    assert shelter["command"] == ["shelter"] and console["command"] == ["console"]
    assert depends(shelter) == {
        "leaf-streams": "service_completed_successfully",
        "postgres": "service_healthy",
    }
    assert depends(console) == {"shelter": "service_healthy"}
    for name, port in (("shelter", 8105), ("console", 8100)):
        assert f"127.0.0.1:{port}/health" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["environment"]["QORGAU_ENV"] == "production"
    env = shelter["environment"]
    # Its leaf, its own user there, the agency's inbox prefix across the link.
    assert env["NATS_URL"] == "nats://nats-leaf:4222"
    assert env["NATS_NKEY_SEED_FILE"] == "/run/secrets/shelter.nk"
    assert env["NATS_INBOX_PREFIX"].startswith("_INBOX_${AGENCY_ID")
    # Verifies by the hub's JWKS, reports with the token issued to it, holds no signing key.
    assert env["QORGAU_TOKEN_JWKS_URL"].endswith("/.well-known/jwks.json}")
    assert env["SHELTER_INTAKE_TOKEN_FILE"] == "/run/secrets/shelter-intake.jwt"
    assert "QORGAU_TOKEN_KEY_FILE" not in env
    assert services["postgres"]["environment"]["QORGAU_DATABASES"].split() == ["shelter"]
    # The console signs with the site's own key (the hub publishes its public half).
    assert console["environment"]["QORGAU_TOKEN_KEY_FILE"] == "/run/secrets/site-token.key"
    assert "token.key" not in document["secrets"], "the hub's signing key never leaves the hub"
