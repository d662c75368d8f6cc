"""The `qorgau` commands of the production shape: NATS identity, certificates, leaf nodes, secrets.

- `qorgau nats-config [--out FILE] [--seeds-dir DIR] [--reload]`: the users and permissions of
  every shape (public NKeys only), each user's seed for the secret store, a reload signal to
  the running embedded servers when an agency joins.
- `qorgau certs --dir DIR`: a development CA and certificates (qorgau.certs).
- `qorgau leaf config|streams`: an agency's own site as a leaf node (shared.leafnode).
- `qorgau deploy-secrets --dir deploy/secrets`: every secret file deploy/ mounts, made once.
- `qorgau token-keys service-token|site-key`: a long-lived token a site service reports with
  (the shelter's to intake), and an agency site's own signing key whose public half the hub's
  issuer publishes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from qorgau.registry import SERVICE_NAMES
from qorgau.settings import PlatformSettings
from shared import natsauth
from shared.keyfiles import create_private, write_private

# A service token lives a quarter: re-issue it (and replace the file) before it expires.
SERVICE_TOKEN_DAYS = 90.0

__all__ = ["add_production_commands", "deploy_secrets", "reload_embedded", "seed_env", "seed_files"]


def seed_files(users: dict[str, natsauth.NatsUser]) -> dict[str, Path]:
    """Write each user's NKey seed to var/keys/nats/<user>.nk, as a secret store would mount it."""
    folder = PlatformSettings().keys_dir() / "nats"
    natsauth.write_seed_files(folder, {name: user.password for name, user in users.items()})
    return {name: folder / f"{name}.nk" for name in users}


def seed_env(seeds: dict[str, Path], name: str) -> dict[str, str]:
    """Return the environment that gives a process its user's seed file, if it has one."""
    return {"NATS_NKEY_SEED_FILE": str(seeds[name])} if name in seeds else {}


def cmd_nats_config(args: argparse.Namespace) -> int:
    """Print (or write) the nats-server authorization block generated from the directory.

    Public NKeys only; `--seeds-dir` writes each user's seed for the secret store, `--reload`
    gives the running embedded servers the new users without a restart.
    """
    from qorgau.cli import nats_users

    users = nats_users()
    text = natsauth.authorization_config(users)
    if args.out:
        write_private(Path(args.out), text)
    else:
        print(text, end="")
    if args.seeds_dir:
        written = natsauth.write_seed_files(
            Path(args.seeds_dir), {user.name: user.password for user in users}
        )
        print(f"{len(written)} seed files under {args.seeds_dir}", file=sys.stderr)
    if args.reload:
        reloaded = reload_embedded(PlatformSettings().var_dir / "nats", text)
        print(f"reloaded {reloaded} running nats-server(s)", file=sys.stderr)
    return 0


def reload_embedded(folder: Path, authorization: str) -> int:
    """Rewrite the users of every server under folder that runs with them, and signal it."""
    reloaded = 0
    for found in sorted(folder.rglob("authorization.conf")):
        write_private(found, authorization)
        pid_file = found.parent / "nats-server.pid"
        try:
            os.kill(int(pid_file.read_text(encoding="utf-8").strip()), signal.SIGHUP)
        except (OSError, ValueError):
            continue  # not running: it reads the new file when it starts
        reloaded += 1
    return reloaded


def cmd_certs(args: argparse.Namespace) -> int:
    """Write a development CA and the server and client certificates it signs."""
    from qorgau.certs import DEFAULT_HOSTS, make_certificates

    files = make_certificates(Path(args.dir), hosts=[*DEFAULT_HOSTS, *args.host])
    print(f"CA {files.ca}; server {files.server_cert}; client {files.client_cert}")
    print("development only: production brings certificates of its own CA")
    return 0


def cmd_leaf_config(args: argparse.Namespace) -> int:
    """Print an agency site's leaf node configuration: its domain, the hub, its NKey."""
    from shared.leafnode import leaf_remote_config
    from shared.natsserver import tls_block

    seed = natsauth.read_seed_file(Path(args.seed_file))
    tls = ""
    if args.ca_file:
        # The leaf checks the hub's certificate against the CA.
        tls = "tls {\n  ca_file: " + f'"{args.ca_file}"' + "\n}\n"
    if args.cert_file and args.key_file and args.ca_file:
        tls = tls_block(cert_file=args.cert_file, key_file=args.key_file, ca_file=args.ca_file)
    remote = leaf_remote_config(args.hub, seed=seed, tls=tls)
    if args.remote_only:
        # The leafnodes block alone (the Helm chart's site mode includes it from a secret).
        print(remote, end="")
        return 0
    print(f'server_name: "{args.server_name or args.agency}"')
    # The site's own clients (its services, on the site's network) connect here.
    print(f'listen: "{args.listen}"')
    print(f'http: "{args.monitor}"')
    print(f'jetstream {{\n  store_dir: "{args.store_dir}"\n  sync_interval: always')
    print(f'  domain: "{args.domain or args.agency}"\n}}')
    if args.site_service:
        print(site_authorization(Path(args.site_seeds_dir), args.site_service), end="")
    print(remote, end="")
    return 0


def site_authorization(folder: Path, services: list[str]) -> str:
    """Return the leaf's own users: one NKey per site service (seed made once in folder).

    Only the site's services connect to its leaf; what crosses the link to the hub is bounded
    by the agency's user there (shared.natsauth.agency_user).
    """
    users = []
    for service in services:
        path = folder / f"{service}.nk"
        if not path.exists():
            natsauth.write_seed_files(folder, {service: natsauth.new_seed()})
        users.append(natsauth.public_key(natsauth.read_seed_file(path)))
    lines = [f'    {{nkey: "{key}"}}' for key in users]
    return "authorization {\n  users: [\n" + "\n".join(lines) + "\n  ]\n}\n"


def cmd_leaf_streams(args: argparse.Namespace) -> int:
    """Create the leaf's AGENCY stream, sourcing the agency's deliveries from the hub."""
    from shared.leafnode import provision_leaf

    url = args.nats_url
    seed_file = os.environ.get("NATS_NKEY_SEED_FILE")
    if seed_file and "@" not in url:
        # A leaf with users of its own (the site's services): connect as the one named.
        seed = natsauth.read_seed_file(Path(seed_file))
        user = os.environ.get("NATS_USER", "shelter")
        url = natsauth.credentials_url(url, user, seed)
    print(asyncio.run(provision_leaf(url, args.agency, replicas=args.replicas)))
    return 0


def first_shelter() -> str:
    """Return the directory's first shelter (the one a hub-hosted shelter service reports as)."""
    return first_of_type("shelter")


def first_of_type(agency_type: str) -> str:
    """Return the directory's first agency of a type (the one a hub-hosted service reports as)."""
    from qorgau.cli import directory

    return sorted(a["agency_id"] for a in directory() if a["agency_type"] == agency_type)[0]


def service_token(keys: Any, agency_id: str, *, days: float = SERVICE_TOKEN_DAYS) -> str:
    """Sign a long-lived token a site service uses for its own calls (in its agency's name)."""
    from datetime import UTC, datetime, timedelta

    from qorgau.cli import _dev_agencies
    from shared.auth import Role

    agency = _dev_agencies().get(agency_id)
    if agency is None:
        raise LookupError(f"agency {agency_id!r} is not in the directory")
    return str(
        keys.issue(
            agency_id=agency_id,
            agency_type=agency["agency_type"],
            region=agency.get("region"),
            role=Role.CASEWORKER,
            subject=f"{agency['agency_type']}-service",
            # The command's own time: this is not domain code (no clock to inject).
            now=datetime.now(UTC),
            ttl=timedelta(days=days),
        )
    )


def add_site_key(issuer: Any, agency_id: str) -> tuple[Any, Any]:
    """Make a site's own EdDSA signing key; return it and the issuer's keys with its public half."""
    from shared.auth import TokenKeys

    site = TokenKeys.generate("EdDSA")
    kid = f"{agency_id}-{site.active}"
    site = TokenKeys(kid, {kid: site.specs[site.active]})
    published = TokenKeys(issuer.active, {**issuer.specs, **site.public_only().specs})
    return site, published


def deploy_secrets(folder: Path, shelter_agency: str | None = None) -> list[Path]:
    """Make (once) every secret file deploy/ mounts; return them. Existing ones are kept."""
    from qorgau.certs import make_certificates
    from qorgau.cli import nats_users
    from shared.auth import TokenKeys
    from shared.crypto import KeyRing

    folder.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    if not (folder / "ca.pem").exists():
        make_certificates(folder)
    made += [folder / name for name in ("ca.pem", "server.pem", "server-key.pem")]
    users = nats_users(folder / "nats-users.json")
    write_private(folder / "nats-authorization.conf", natsauth.authorization_config(users))
    made.append(folder / "nats-authorization.conf")
    # Each party's seed: the services' are mounted by deploy/, each agency gets its own.
    made += natsauth.write_seed_files(folder / "nats", {user.name: user.password for user in users})
    for name in ("postgres", *SERVICE_NAMES):
        path = folder / f"{name}-db-password"
        create_private(path, secrets.token_urlsafe(24) + "\n")
        made.append(path)
    issuer = TokenKeys.load_or_create(folder / "token.key", alg="EdDSA")
    made.append(folder / "token.key")
    # The shelter verifies by the issuer's JWKS and holds no signing key: it reports to intake
    # with a token issued to it (in the name of the shelter the deployment runs it for).
    token_file = folder / "shelter-intake.jwt"
    if not token_file.exists():
        create_private(token_file, service_token(issuer, shelter_agency or first_shelter()) + "\n")
    made.append(token_file)
    # The family centre reports the children it admits the same way (Family Centre Rules p.26).
    token_file = folder / "familycentre-intake.jwt"
    if not token_file.exists():
        agency = first_of_type("family_support_centre")
        create_private(token_file, service_token(issuer, agency) + "\n")
    made.append(token_file)
    # The identity provider gives the console's client secret: until it replaces this
    # placeholder, the console refuses to start outside development.
    oidc = folder / "console-oidc-client-secret"
    create_private(oidc, "change-me: the identity provider's client secret for the console\n")
    made.append(oidc)
    for service in SERVICE_NAMES:
        KeyRing.load_or_create(folder / f"{service}.keys")
        made.append(folder / f"{service}.keys")
    return made


def site_secrets(folder: Path, services: tuple[str, ...] = ("shelter",)) -> list[Path]:
    """Make (once) the files an agency site makes itself: passwords, data keys, placeholders."""
    from shared.crypto import KeyRing

    made = []
    for name in ("postgres", *services):
        path = folder / f"{name}-db-password"
        create_private(path, secrets.token_urlsafe(24) + "\n")
        made.append(path)
    for service in services:
        KeyRing.load_or_create(folder / f"{service}.keys")
        made.append(folder / f"{service}.keys")
    oidc = folder / "console-oidc-client-secret"
    create_private(oidc, "change-me: the identity provider's client secret for the console\n")
    return [*made, oidc]


def cmd_leaf_secrets(args: argparse.Namespace) -> int:
    """Write the secret files an agency site makes itself (the hub gives it the others)."""
    made = site_secrets(Path(args.dir))
    print(f"{len(made)} secret files under {args.dir} (kept if they existed)")
    return 0


def cmd_deploy_secrets(args: argparse.Namespace) -> int:
    """Write the secret files of deploy/ (NKeys, passwords, keys, certificates) once."""
    made = deploy_secrets(Path(args.dir), args.shelter_agency)
    print(f"{len(made)} secret files under {args.dir} (kept if they existed)")
    print("never commit them; the containers' user (10001) must be able to read them")
    return 0


def cmd_token_keys(args: argparse.Namespace) -> int:
    """Print the issuer's public JWKS document, or retire a token key after a rotation."""
    import json

    from shared.auth import TokenKeys

    path = PlatformSettings().resolved_token_key_file()
    keys = TokenKeys.load_or_create(path)
    if args.token_keys_command == "jwks":  # noqa: S105 - a subcommand's name
        print(json.dumps(keys.jwks(), indent=1))
        return 0
    if args.token_keys_command == "service-token":  # noqa: S105 - a subcommand's name
        try:
            token = service_token(keys, args.agency, days=args.days)
        except (LookupError, ValueError) as error:
            print(str(error), file=sys.stderr)
            return 2
        write_private(Path(args.out), token + "\n")
        print(f"token: {args.agency} for {args.days:g} days in {args.out}")
        return 0
    if args.token_keys_command == "site-key":  # noqa: S105 - a subcommand's name
        site_keys, published = add_site_key(keys, args.agency)
        site_keys.save(Path(args.out))
        published.save(path)
        print(
            f"token: site key {site_keys.active} for {args.agency} in {args.out}; its public "
            "half is in the issuer's file: restart the issuer to publish it"
        )
        return 0
    try:
        retired = keys.without(args.kid)
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    if args.kid not in keys.specs:
        print(f"no token key {args.kid!r} in {path}", file=sys.stderr)
        return 2
    retired.save(path)
    print(f"token: key {args.kid} retired; restart the issuer: its tokens stop verifying")
    return 0


def add_production_commands(sub: Any) -> None:
    """Add the production commands to the `qorgau` parser."""
    nats_config = sub.add_parser(
        "nats-config", help="print the NATS users and permissions generated from the directory"
    )
    nats_config.add_argument("--out", metavar="FILE", help="write the block to FILE (0600)")
    nats_config.add_argument(
        "--seeds-dir", metavar="DIR", help="write each user's NKey seed to DIR/<user>.nk"
    )
    nats_config.add_argument(
        "--reload", action="store_true", help="signal the running embedded servers to reload"
    )
    nats_config.set_defaults(func=cmd_nats_config)
    certs = sub.add_parser("certs", help="a development CA and TLS certificates")
    certs.add_argument("--dir", default="var/certs", help="where to write them")
    certs.add_argument(
        "--host", action="append", default=[], help="another name the server is reached by"
    )
    certs.set_defaults(func=cmd_certs)
    leaf = sub.add_parser("leaf", help="an agency's own site as a NATS leaf node")
    leaf_sub = leaf.add_subparsers(dest="leaf_command", required=True)
    config = leaf_sub.add_parser("config", help="print the leaf node's nats-server config")
    config.add_argument("--agency", required=True)
    config.add_argument("--hub", action="append", required=True, help="nats-leaf://host:7422")
    config.add_argument("--seed-file", required=True, help="the agency's NKey seed file")
    config.add_argument("--domain", default=None, help="JetStream domain (default: agency)")
    config.add_argument("--server-name", default=None)
    config.add_argument("--store-dir", default="/data")
    config.add_argument("--remote-only", action="store_true", help="the leafnodes block only")
    config.add_argument("--listen", default="0.0.0.0:4222")
    config.add_argument("--monitor", default="0.0.0.0:8222", help="health check port")
    config.add_argument("--ca-file", default=None)
    config.add_argument("--cert-file", default=None)
    config.add_argument("--key-file", default=None)
    config.add_argument(
        "--site-service", action="append", default=[], help="a service the site runs (its user)"
    )
    config.add_argument(
        "--site-seeds-dir", default="secrets/nats", help="where the site services' seeds are made"
    )
    config.set_defaults(func=cmd_leaf_config)
    streams = leaf_sub.add_parser("streams", help="create the leaf's AGENCY stream")
    streams.add_argument("--agency", required=True)
    streams.add_argument("--nats-url", required=True, help="the leaf node's client URL")
    streams.add_argument("--replicas", type=int, default=1)
    streams.set_defaults(func=cmd_leaf_streams)
    site = leaf_sub.add_parser("secrets", help="the files an agency site makes itself")
    site.add_argument("--dir", default="deploy/agency-site/secrets")
    site.set_defaults(func=cmd_leaf_secrets)
    token_keys = sub.add_parser("token-keys", help="the issuer's token keys")
    token_keys_sub = token_keys.add_subparsers(dest="token_keys_command", required=True)
    token_keys_sub.add_parser("jwks", help="print the public JWKS document").set_defaults(
        func=cmd_token_keys
    )
    retire = token_keys_sub.add_parser("retire", help="remove a rotated-out key (by kid)")
    retire.add_argument("kid")
    retire.set_defaults(func=cmd_token_keys)
    service = token_keys_sub.add_parser(
        "service-token", help="a long-lived token a site service reports with (to a file)"
    )
    service.add_argument("--agency", required=True, help="the agency the service acts for")
    service.add_argument("--days", type=float, default=SERVICE_TOKEN_DAYS)
    service.add_argument("--out", required=True, help="the file for the secret store (0600)")
    service.set_defaults(func=cmd_token_keys)
    site = token_keys_sub.add_parser(
        "site-key", help="an agency site's own signing key; the issuer publishes its public half"
    )
    site.add_argument("--agency", required=True)
    site.add_argument("--out", required=True, help="the site's key file (0600)")
    site.set_defaults(func=cmd_token_keys)
    deploy = sub.add_parser("deploy-secrets", help="make the secret files deploy/ mounts")
    deploy.add_argument("--dir", default="deploy/secrets")
    deploy.add_argument(
        "--shelter-agency", default=None, help="the shelter the hub's shelter service reports as"
    )
    deploy.set_defaults(func=cmd_deploy_secrets)
