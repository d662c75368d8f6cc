"""deploy/'s files against the real tools: the secrets compose mounts exist, nats-server accepts
the hub's and a leaf's configuration with them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from qorgau.cli import main
from qorgau.production import deploy_secrets
from shared import natsauth
from shared.natsserver import find_nats_server

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QORGAU_VAR_DIR", str(tmp_path / "var"))
    folder = tmp_path / "secrets"
    deploy_secrets(folder)
    return folder


def test_deploy_secrets_makes_every_file_compose_mounts_once(secrets_dir: Path) -> None:
    declared = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["secrets"]
    for name, spec in declared.items():
        path = secrets_dir / spec["file"].removeprefix("./secrets/")
        assert path.is_file(), f"{name}: {path} not made"
        if not name.endswith(".pem") or "key" in name:
            assert path.stat().st_mode & 0o077 == 0, f"{name} is readable by others"
    # The hub's users file is mounted beside nats.conf.
    assert (secrets_dir / "nats-authorization.conf").is_file()
    before = (secrets_dir / "intake-db-password").read_text()
    seed = (secrets_dir / "nats" / "intake.nk").read_text()
    deploy_secrets(secrets_dir)
    assert (secrets_dir / "intake-db-password").read_text() == before
    assert (secrets_dir / "nats" / "intake.nk").read_text() == seed


def _check(config: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        [str(find_nats_server()), "-t", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_nats_server_accepts_the_hub_configuration(secrets_dir: Path, tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    # As compose mounts them: the secrets under /run/secrets, the users beside nats.conf.
    text = (DEPLOY / "nats.conf").read_text().replace("/run/secrets/", f"{secrets_dir}/")
    text = text.replace("store_dir: /data", f"store_dir: {tmp_path / 'data'}")
    (etc / "nats.conf").write_text(text)
    (etc / "authorization.conf").write_text((secrets_dir / "nats-authorization.conf").read_text())
    _check(etc / "nats.conf", {"SERVER_NAME": "nats-1"})


def test_nats_server_accepts_a_leaf_configuration(
    secrets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "leaf",
        "config",
        "--agency",
        "kz-75-shelter",
        "--hub",
        "nats-leaf://nats-1:7422",
        "--hub",
        "nats-leaf://nats-2:7422",
        "--seed-file",
        str(secrets_dir / "nats" / "kz-75-shelter.nk"),
        "--ca-file",
        str(secrets_dir / "ca.pem"),
        "--store-dir",
        str(tmp_path / "leaf"),
        # The site's own services are the leaf's only users (the shelter service's NKey).
        "--site-service",
        "shelter",
        "--site-seeds-dir",
        str(tmp_path / "site-nats"),
    ]
    assert main(argv) == 0
    config = tmp_path / "leaf.conf"
    config.write_text(capsys.readouterr().out)
    assert 'domain: "kz-75-shelter"' in config.read_text()
    seed = (tmp_path / "site-nats" / "shelter.nk").read_text().strip()
    assert natsauth.public_key(seed) in config.read_text() and seed not in config.read_text()
    _check(config)
    # Made once: the same seed on a second run.
    assert main(argv) == 0
    capsys.readouterr()
    assert (tmp_path / "site-nats" / "shelter.nk").read_text().strip() == seed


def test_the_shelters_token_and_a_sites_key_verify_by_the_issuers_published_keys(
    secrets_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from shared.auth import TokenKeys

    now = datetime.now(UTC)
    issuer_file = secrets_dir / "token.key"

    def published() -> TokenKeys:
        # What intake's /.well-known/jwks.json serves: the public halves only.
        return TokenKeys.loads(issuer_file.read_text()).public_only()

    token = (secrets_dir / "shelter-intake.jwt").read_text().strip()
    who = published().verify(token, now=now)
    assert who.agency_id.endswith("-shelter") and who.agency_type == "shelter"
    assert (secrets_dir / "shelter-intake.jwt").stat().st_mode & 0o077 == 0

    monkeypatch.setenv("QORGAU_TOKEN_KEY_FILE", str(issuer_file))
    out = tmp_path / "kz-11.jwt"
    args = ["token-keys", "service-token", "--agency", "kz-11-shelter", "--out", str(out)]
    assert main(args) == 0
    assert published().verify(out.read_text().strip(), now=now).agency_id == "kz-11-shelter"
    assert main([*args[:3], "kz-nowhere", "--out", str(out)]) == 2

    # An agency site's console signs with a key of its own; the hub's issuer file gains only
    # its public half (so intake's JWKS publishes it), and the site's file cannot be used to
    # forge the hub's own key id.
    site_file = tmp_path / "site.key"
    assert (
        main(["token-keys", "site-key", "--agency", "kz-11-shelter", "--out", str(site_file)]) == 0
    )
    site = TokenKeys.loads(site_file.read_text())
    assert site.active.startswith("kz-11-shelter-")
    assert site.active in published().specs and "private_key" not in published().specs[site.active]
    assert TokenKeys.loads(issuer_file.read_text()).active not in site.specs
    signed = site.issue(
        agency_id="kz-11-shelter",
        agency_type="shelter",
        region=None,
        role="caseworker",
        subject="p-1",
        now=now,
    )
    assert published().verify(signed, now=now).agency_id == "kz-11-shelter"


def test_an_agency_site_has_every_file_its_compose_mounts(
    secrets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qorgau.production import site_secrets

    site = tmp_path / "site"
    # What the hub operator hands over (docs/production.md, section 5).
    (site / "nats").mkdir(parents=True)
    for name in ("ca.pem", "shelter-intake.jwt"):
        (site / name).write_text((secrets_dir / name).read_text())
    (site / "agency.nk").write_text((secrets_dir / "nats" / "kz-10-shelter.nk").read_text())
    monkeypatch_key = {"QORGAU_TOKEN_KEY_FILE": str(secrets_dir / "token.key")}
    os.environ.update(monkeypatch_key)
    try:
        assert (
            main(
                [
                    "token-keys",
                    "site-key",
                    "--agency",
                    "kz-10-shelter",
                    "--out",
                    str(site / "site-token.key"),
                ]
            )
            == 0
        )
    finally:
        os.environ.pop("QORGAU_TOKEN_KEY_FILE")
    capsys.readouterr()
    # What the site makes itself.
    site_secrets(site)
    argv = [
        "leaf",
        "config",
        "--agency",
        "kz-10-shelter",
        "--hub",
        "nats-leaf://hub:7422",
        "--seed-file",
        str(site / "agency.nk"),
        "--site-service",
        "shelter",
        "--site-seeds-dir",
        str(site / "nats"),
        "--store-dir",
        str(tmp_path / "leaf"),
    ]
    assert main(argv) == 0
    (site / "leaf.conf").write_text(capsys.readouterr().out)
    declared = yaml.safe_load((DEPLOY / "agency-site" / "docker-compose.yml").read_text())
    for name, spec in declared["secrets"].items():
        path = site / spec["file"].removeprefix("./secrets/")
        assert path.is_file(), f"{name}: {path} not made"
    _check(site / "leaf.conf")
