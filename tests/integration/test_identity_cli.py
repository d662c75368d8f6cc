"""The identity commands: `qorgau token issue`, `qorgau keys rotate`, `qorgau nats-config`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from qorgau.cli import main
from shared.auth import Role, TokenKeys
from shared.crypto import FieldCipher, KeyRing


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QORGAU_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("QORGAU_TOKEN_KEY_FILE", raising=False)
    monkeypatch.delenv("INTAKE_DATABASE_URL", raising=False)
    monkeypatch.delenv("QORGAU_DATA_KEY_FILE", raising=False)
    return tmp_path


def test_token_issue_names_a_directory_agency(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "issue", "--agency", "kz-75-police", "--role", "head"]) == 0
    token = capsys.readouterr().out.strip()
    keys = TokenKeys.loads((var_dir / "keys" / "token.key").read_text())
    who = keys.verify(token, now=datetime.now(UTC))
    assert (who.agency_id, who.agency_type, who.region, who.role) == (
        "kz-75-police",
        "police",
        "KZ-75",
        Role.HEAD,
    )


def test_token_issue_outside_the_directory_needs_a_type(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "issue", "--agency", "school-3", "--role", "caseworker"]) == 2
    assert "not in the directory" in capsys.readouterr().err
    assert (
        main(
            [
                "token",
                "issue",
                "--agency",
                "school-3",
                "--role",
                "caseworker",
                "--agency-type",
                "education_org",
                "--region",
                "KZ-71",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "token",
                "issue",
                "--agency",
                "kz-75-police",
                "--role",
                "caseworker",
                "--agency-type",
                "shelter",
            ]
        )
        == 2
    )


def test_keys_rotate_keeps_old_values_readable(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = var_dir / "keys" / "intake.keys"
    ring = KeyRing.load_or_create(path)
    old = FieldCipher(ring).encrypt("Aruzhan", field="full_name")
    assert main(["keys", "rotate", "intake"]) == 0
    assert "new active data key" in capsys.readouterr().out
    rotated = KeyRing.load_or_create(path)
    assert rotated.active != ring.active
    assert FieldCipher(rotated).decrypt(old, field="full_name") == "Aruzhan"
    assert main(["keys", "rotate", "token"]) == 0
    assert main(["keys", "rotate", "nobody"]) == 2


def test_nats_config_prints_a_user_per_agency(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nats-config"]) == 0
    config = capsys.readouterr().out
    assert config.startswith("authorization {")
    for user in ("admin", "intake", "routing", "deadlines", "integrator", "kz-75-police"):
        assert f"# {user}\n" in config
    # Public NKeys only: nothing in the file lets anyone connect.
    assert "password" not in config and '"SU' not in config
    assert '"qorgau.agency.kz-75-police.>"' in config
    passwords = (var_dir / "keys" / "nats-users.json").read_text()
    assert main(["nats-config"]) == 0
    assert (var_dir / "keys" / "nats-users.json").read_text() == passwords


def test_audit_verify_without_a_database_says_so(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "routing"]) == 0
    assert "routing: no database" in capsys.readouterr().out
    assert not (var_dir / "routing.db").exists()


@pytest.mark.parametrize("hours", ["-1", "0", "nan"])
def test_token_issue_refuses_a_token_valid_for_no_time(
    hours: str, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["token", "issue", "--agency", "kz-75-police", "--role", "head", f"--hours={hours}"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no token printed
    assert "--hours must be a positive number of hours" in captured.err
