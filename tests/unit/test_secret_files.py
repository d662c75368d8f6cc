"""Secrets from files (`*_FILE`), and placeholders that refuse to start outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.intake.config import IntakeSettings
from shared.auth import deployment_keys
from shared.natsauth import new_seed
from shared.settings import MissingSecret

CLEAN = (
    "QORGAU_ENV",
    "QORGAU_DEPLOYMENT",
    "INTAKE_DATABASE_URL",
    "INTAKE_DATABASE_PASSWORD",
    "NATS_URL",
    "NATS_NKEY_SEED_FILE",
    "QORGAU_TOKEN_KEY_FILE",
    "QORGAU_TOKEN_JWKS_URL",
)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEAN:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


def secret(tmp_path: Path, name: str, value: str) -> str:
    path = tmp_path / name
    path.write_text(value + "\n")  # as `echo` writes it
    return str(path)


def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QORGAU_ENV", "production")
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://intake@db:5432/intake")
    monkeypatch.setenv(
        "INTAKE_DATABASE_PASSWORD_FILE", secret(tmp_path, "db", "s3cret/with:@chars")
    )
    monkeypatch.setenv("NATS_NKEY_SEED_FILE", secret(tmp_path, "intake.nk", new_seed()))
    monkeypatch.setenv("QORGAU_TOKEN_JWKS_URL", "http://intake:8101/.well-known/jwks.json")


def test_a_database_password_comes_from_its_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    production(monkeypatch, tmp_path)
    settings = IntakeSettings()
    assert settings.resolved_database_url() == (
        "postgresql://intake:s3cret%2Fwith%3A%40chars@db:5432/intake"
    )
    # The secret never shows in the settings' text.
    assert "s3cret" not in repr(settings)


def test_any_setting_reads_its_file_and_a_variable_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NATS_URL_FILE", secret(tmp_path, "url", "nats://from-file:4222"))
    assert IntakeSettings().nats_url == "nats://from-file:4222"
    monkeypatch.setenv("NATS_URL", "nats://direct:4222")
    assert IntakeSettings().nats_url == "nats://direct:4222"


def test_production_starts_with_its_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    production(monkeypatch, tmp_path)
    assert not IntakeSettings().development


def test_a_placeholder_refuses_to_start_outside_development(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    production(monkeypatch, tmp_path)
    monkeypatch.setenv("INTAKE_DATABASE_PASSWORD_FILE", secret(tmp_path, "db", "change-me-intake"))
    with pytest.raises(ValidationError) as refused:
        IntakeSettings()
    assert "database_password holds a placeholder" in str(refused.value)
    assert "change-me-intake" not in str(refused.value)


def test_missing_secrets_refuse_to_start_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QORGAU_ENV", "production")
    settings = IntakeSettings()
    # Each is refused where the service uses it (a service without a database needs none).
    with pytest.raises(MissingSecret, match="no database URL"):
        settings.resolved_database_url()
    with pytest.raises(MissingSecret, match="NATS_NKEY_SEED_FILE"):
        settings.resolved_nats_url()
    with pytest.raises(MissingSecret, match="token key"):
        deployment_keys(settings)


def test_the_consoles_variable_names_the_same_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QORGAU_DEPLOYMENT", "production")
    assert not IntakeSettings().development


def test_a_process_that_says_nothing_is_held_to_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Neither QORGAU_ENV nor QORGAU_DEPLOYMENT: the checks apply (only `qorgau up` and the
    # test suite say development), as the console's sign-in already did.
    assert not IntakeSettings().development
    with pytest.raises(MissingSecret, match="no database URL"):
        IntakeSettings().resolved_database_url()
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://intake:change-me@db/intake")
    with pytest.raises(ValidationError, match="placeholder"):
        IntakeSettings()
    monkeypatch.setenv("QORGAU_DEPLOYMENT", "Development")
    assert IntakeSettings().development


def test_development_tolerates_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QORGAU_ENV", "development")
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://intake:change-me@db/intake")
    assert IntakeSettings().development
    assert IntakeSettings().resolved_database_url().endswith("@db/intake")
