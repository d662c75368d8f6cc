"""The registry lists every service once; the command's settings read the platform's variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from qorgau.registry import SERVICE_NAMES, SERVICES, service
from qorgau.settings import DIRECTORY_FILE, NATS_PORT, PlatformSettings

SERVICES_DIR = Path(__file__).parents[2] / "services"
VARIABLES = (
    "QORGAU_VAR_DIR",
    "QORGAU_TOKEN_KEY_FILE",
    "QORGAU_DIRECTORY_FILE",
    "QORGAU_NATS_PORT",
    "QORGAU_NATS_AUTH",
    "NATS_URL",
    "INTAKE_HTTP_PORT",
)


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_service_package_is_registered() -> None:
    packages = {path.name for path in SERVICES_DIR.iterdir() if (path / "app.py").exists()}
    assert set(SERVICE_NAMES) == packages
    assert len(SERVICE_NAMES) == len(packages)


def test_a_service_listens_where_its_own_settings_say(clean: pytest.MonkeyPatch) -> None:
    assert [found.http_port() for found in SERVICES] == [8100, 8101, 8102, 8103, 8104, 8105, 8106]
    clean.setenv("INTAKE_HTTP_PORT", "18101")
    intake = service("intake")
    assert intake is not None and intake.http_port() == 18101
    assert service("nosuch") is None


def test_routing_delivers_work_and_casework_its_refusals_of_actions() -> None:
    # Routing delivers every case, plan line and escalation; casework tells an agency only
    # that an action it published on its own subject could not be recorded.
    assert [found.name for found in SERVICES if found.delivers()] == ["routing", "casework"]


def test_platform_defaults(clean: pytest.MonkeyPatch) -> None:
    settings = PlatformSettings()
    assert settings.var_dir == Path("var").resolve()
    assert settings.resolved_token_key_file() == Path("var").resolve() / "keys" / "token.key"
    assert settings.directory_file == DIRECTORY_FILE
    assert (settings.nats_url, settings.nats_port, settings.nats_auth) == (None, NATS_PORT, True)


def test_platform_settings_read_the_variables_they_always_did(
    clean: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean.setenv("QORGAU_VAR_DIR", str(tmp_path))
    clean.setenv("QORGAU_TOKEN_KEY_FILE", str(tmp_path / "elsewhere.key"))
    clean.setenv("QORGAU_DIRECTORY_FILE", str(tmp_path / "agencies.json"))
    clean.setenv("QORGAU_NATS_PORT", "24222")
    clean.setenv("QORGAU_NATS_AUTH", "off")
    clean.setenv("NATS_URL", "nats://127.0.0.1:24223")
    settings = PlatformSettings()
    assert settings.var_dir == tmp_path.resolve()
    assert settings.keys_dir() == tmp_path.resolve() / "keys"
    assert settings.resolved_token_key_file() == tmp_path / "elsewhere.key"
    assert settings.directory_file == tmp_path / "agencies.json"
    assert (settings.nats_port, settings.nats_auth) == (24222, False)
    assert settings.nats_url == "nats://127.0.0.1:24223"
