"""The `qorgau` command: run the platform, one service, streams, traces, tokens, keys, audit."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from qorgau import registry
from qorgau.production import add_production_commands, seed_env, seed_files
from qorgau.registry import BUS_SERVICE_NAMES, SERVICE_NAMES, Service
from qorgau.settings import PlatformSettings
from qorgau.supervise import Backoff, NatsWatch, say
from shared import natsauth
from shared.auth import Role, TokenKeys
from shared.clock import SystemClock
from shared.keyfiles import write_private
from shared.natsserver import NatsServer
from shared.settings import DEFAULT_NATS_URL
from shared.streams import provision
from shared.telemetry import read_case_spans

# The seed directory lists no schools yet: development tokens for two, to try reporting.
DEV_SCHOOLS = ("school-17", "school-42")
DEV_TTL = timedelta(days=30)
# Whose token an operator and an integrator carry: the Committee runs the platform; the "111"
# centre is the integrator the regulations name (Rules 38874 p.14).
OPERATOR_AGENCY = "kz-child-rights-national"
INTEGRATOR_AGENCY = "kz-contact-centre-111"


def _unknown(names: Sequence[str]) -> list[str]:
    return [name for name in names if registry.service(name) is None]


def directory() -> list[dict[str, Any]]:
    """Return the agencies of the directory (QORGAU_DIRECTORY_FILE or routing's seed)."""
    path = PlatformSettings().directory_file
    agencies: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["agencies"]
    return [agency for agency in agencies if agency.get("active", True)]


def _dev_agencies() -> dict[str, dict[str, Any]]:
    found = {agency["agency_id"]: agency for agency in directory()}
    for school in DEV_SCHOOLS:
        found.setdefault(
            school, {"agency_id": school, "agency_type": "education_org", "region": "KZ-75"}
        )
    return found


def service_consumers(services: Sequence[str]) -> dict[str, list[natsauth.Consumer]]:
    """Return the durable consumers each service declares (from its subscribers module)."""
    from shared.bus import make_broker

    found: dict[str, list[natsauth.Consumer]] = {}
    for name in services:
        # A broker that never connects: it only collects the service's subscribers.
        broker = make_broker("nats://127.0.0.1:1", service=name)
        _registered(name).subscribers().register(broker, None)
        options = [getattr(sub, "extra_options", None) or {} for sub in broker.subscribers]
        found[name] = [
            natsauth.Consumer(option["stream"], option["durable"])
            for option in options
            if option.get("durable")
        ]
    return found


def agency_answers(services: Sequence[str]) -> list[str]:
    """Return the answers agencies publish on their own subjects ("referral_acknowledged.v1")."""
    found: set[str] = set()
    for name in services:
        module = _registered(name).subscribers()
        for event in getattr(module, "ANSWERS", ()):
            found.add(f"{event.NAME}.v{event.VERSION}")
    return sorted(found)


def nats_users(seeds_file: Path | None = None) -> list[natsauth.NatsUser]:
    """Return every NATS user: the registry's services, the directory's agencies, the readers.

    Their NKey seeds are kept in seeds_file (default var/keys/nats-users.json), made once.
    """
    listed = directory()
    agencies = sorted(agency["agency_id"] for agency in listed)
    services = list(BUS_SERVICE_NAMES)
    names = [natsauth.ADMIN, natsauth.INTEGRATOR, natsauth.OPERATOR, *services, *agencies]
    path = seeds_file or PlatformSettings().keys_dir() / "nats-users.json"
    passwords = natsauth.load_or_create_passwords(path, names)
    return natsauth.build_users(
        agency_ids=agencies,
        services=service_consumers(services),
        passwords=passwords,
        delivering_services=[name for name in services if _registered(name).delivers()],
        agency_answers=agency_answers(services),
        # An agency's own site publishes the events of the services it runs (shelters).
        site_services={
            agency["agency_id"]: natsauth.SITE_SERVICES[agency["agency_type"]]
            for agency in listed
            if agency["agency_type"] in natsauth.SITE_SERVICES
        },
    )


def write_dev_tokens(keys: TokenKeys, folder: Path) -> int:
    """Write development tokens: <agency_id>.<role>.jwt for the directory, operator, integrator."""
    folder.mkdir(parents=True, exist_ok=True)
    now = SystemClock().now()
    agencies = _dev_agencies()
    written = 0

    def write(name: str, agency: dict[str, Any], role: Role) -> None:
        nonlocal written
        token = keys.issue(
            agency_id=agency["agency_id"],
            agency_type=agency["agency_type"],
            region=agency.get("region"),
            role=role,
            subject=f"dev-{agency['agency_id']}-{role.value}",
            now=now,
            ttl=DEV_TTL,
        )
        write_private(folder / name, token + "\n")
        written += 1

    for agency_id, agency in sorted(agencies.items()):
        for role in (Role.CASEWORKER, Role.HEAD):
            write(f"{agency_id}.{role.value}.jwt", agency, role)
    write("operator.jwt", agencies[OPERATOR_AGENCY], Role.OPERATOR)
    write("integrator.jwt", agencies[INTEGRATOR_AGENCY], Role.INTEGRATOR)
    return written


def cmd_token_issue(args: argparse.Namespace) -> int:
    """Print a signed token for a person of an agency (development and integration)."""
    if not (math.isfinite(args.hours) and args.hours > 0):
        # A token valid for no time (or less) would be expired the moment it is printed.
        print(
            f"--hours must be a positive number of hours (got {args.hours:g}): "
            "a token with no validity left is refused when it is used",
            file=sys.stderr,
        )
        return 2
    agency = _dev_agencies().get(args.agency)
    if agency is None:
        if not args.agency_type:
            print(
                f"agency {args.agency!r} is not in the directory: give --agency-type (and "
                "--region)",
                file=sys.stderr,
            )
            return 2
        agency = {"agency_id": args.agency, "agency_type": args.agency_type, "region": None}
    if args.agency_type and args.agency_type != agency["agency_type"]:
        print(f"{args.agency} is a {agency['agency_type']} in the directory", file=sys.stderr)
        return 2
    region = args.region or agency.get("region")
    keys = TokenKeys.load_or_create(PlatformSettings().resolved_token_key_file())
    try:
        token = keys.issue(
            agency_id=agency["agency_id"],
            agency_type=agency["agency_type"],
            region=region,
            role=args.role,
            subject=args.person or f"dev-{agency['agency_id']}-{args.role}",
            now=SystemClock().now(),
            ttl=timedelta(hours=args.hours),
        )
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    print(token)
    return 0


def _registered(name: str) -> Service:
    found = registry.service(name)
    if found is None:
        raise LookupError(f"unknown service {name!r}")
    return found


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Check each service's audit chain; exit non-zero naming any changed or removed entry."""
    from shared import audit
    from shared.access import audit_key
    from shared.crypto import KeyRing
    from shared.db import make_engine

    chosen = args.services or list(BUS_SERVICE_NAMES)
    unknown = _unknown(chosen)
    if unknown:
        print(f"unknown service(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    failed = False
    nats_url = _verify_nats_url(args)
    for service in chosen:
        settings = _registered(service).settings()
        url = settings.resolved_database_url()
        if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).exists():
            print(f"{service}: no database")
            continue
        engine = make_engine(url)
        try:
            if not audit.has_audit_log(engine):
                print(f"{service}: no audit log")
                continue
            key_file = settings.resolved_data_key_file()
            if not key_file.exists():
                print(f"{service}: key file {key_file} missing: cannot verify", file=sys.stderr)
                failed = True
                continue
            key = audit_key(KeyRing.load_or_create(key_file))
            problems = audit.verify(engine, key=key)
            anchored, note = _against_checkpoint(engine, service, key, nats_url)
            problems += anchored
        finally:
            engine.dispose()
        if problems:
            failed = True
            for problem in problems:
                print(f"{service}: {problem}")
        else:
            print(f"{service}: audit log intact ({note})")
    return 1 if failed else 0


def _verify_nats_url(args: argparse.Namespace) -> str | None:
    if args.no_checkpoint:
        return None
    settings = PlatformSettings()
    if args.nats_url or settings.nats_url:
        return str(args.nats_url or settings.nats_url)
    # The platform's own server, as `qorgau up` runs it: its admin user reads every stream.
    url = f"nats://127.0.0.1:{settings.nats_port}"
    users = settings.keys_dir() / "nats-users.json"
    if settings.nats_auth and users.exists():
        password = json.loads(users.read_text(encoding="utf-8")).get(natsauth.ADMIN)
        if password:
            return natsauth.credentials_url(url, natsauth.ADMIN, password)
    return url


def _against_checkpoint(
    engine: Any, service: str, key: bytes, nats_url: str | None
) -> tuple[list[str], str]:
    """Compare a log with its service's last checkpoint: (problems, what was compared)."""
    from shared import checkpoints

    if nats_url is None:
        return [], "checkpoints not compared"
    try:
        last = asyncio.run(checkpoints.latest(nats_url, service))
    except Exception as error:
        # Without the anchor a removed tail cannot be seen: not "intact".
        reason = type(error).__name__
        return [f"checkpoints not compared: NATS unreachable ({reason})"], ""
    if last is None:
        return [], "no checkpoint yet"
    return checkpoints.compare(engine, last, key=key), f"checkpoint at entry {last.seq}"


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Add a new active data key for a service; values under older keys stay readable."""
    from shared.crypto import KeyRing

    if args.service == "token":
        path = PlatformSettings().resolved_token_key_file()
        keys = TokenKeys.load_or_create(path).rotated()
        keys.save(path)
        print(f"token: new signing key {keys.active}; older keys still verify")
        return 0
    if registry.service(args.service) is None:
        print(f"unknown service {args.service!r}; known: {', '.join(SERVICE_NAMES)}, token")
        return 2
    path = _registered(args.service).settings().resolved_data_key_file()
    if not path.exists():
        print(f"{args.service}: no key file at {path}", file=sys.stderr)
        return 1
    ring = KeyRing.load_or_create(path).rotated()
    ring.save(path)
    print(
        f"{args.service}: new active data key {ring.active} ({len(ring.keys)} keys in the ring); "
        "restart the service to encrypt with it"
    )
    return 0


def cmd_streams(args: argparse.Namespace) -> int:
    """Create or update the JetStream streams."""
    url = args.nats_url or PlatformSettings().nats_url or DEFAULT_NATS_URL
    seed_file = os.environ.get("NATS_NKEY_SEED_FILE")
    if seed_file:
        # The admin's NKey, mounted as a secret (deploy/): the only user that makes streams.
        seed = natsauth.read_seed_file(Path(seed_file))
        url = ",".join(
            natsauth.credentials_url(server, natsauth.ADMIN, seed) for server in url.split(",")
        )
    for line in asyncio.run(provision(url, replicas=args.replicas)):
        print(line)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run one service in this process, configured by environment."""
    chosen = registry.service(args.service)
    if chosen is None:
        known = ", ".join(SERVICE_NAMES)
        print(f"unknown service {args.service!r}; known: {known}", file=sys.stderr)
        return 2
    chosen.run()
    return 0


def _wait_healthy(
    service: str, port: int, process: subprocess.Popen[bytes], timeout: float
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _start_service(service: str, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"{service}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", _registered(service).package],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def cmd_up(args: argparse.Namespace) -> int:
    """Start nats-server (unless NATS_URL is set), the streams, and each service as a process."""
    chosen = args.services or list(SERVICE_NAMES)
    unknown = _unknown(chosen)
    if unknown:
        print(
            f"unknown service(s): {', '.join(unknown)}; known: {', '.join(SERVICE_NAMES)}",
            file=sys.stderr,
        )
        return 2
    # The embedded platform is a development deployment unless the environment says otherwise
    # (one name for the console and the services: QORGAU_ENV wins, QORGAU_DEPLOYMENT follows).
    mode = os.environ.get("QORGAU_ENV") or os.environ.get("QORGAU_DEPLOYMENT") or "development"
    os.environ["QORGAU_ENV"] = os.environ["QORGAU_DEPLOYMENT"] = mode
    if args.cluster:
        from qorgau.cluster import run_cluster

        # The cluster runs the services on the bus, each with its own database.
        on_bus = [name for name in chosen if name in BUS_SERVICE_NAMES]
        return run_cluster(PlatformSettings().var_dir, on_bus, args.postgres)
    settings = PlatformSettings()
    var = settings.var_dir
    logs = var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stopping = False

    def _stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    keys = TokenKeys.load_or_create(settings.resolved_token_key_file())
    tokens = var / "tokens"
    print(f"tokens: {write_dev_tokens(keys, tokens)} development tokens under {tokens}")

    nats: NatsServer | None = None
    url = settings.nats_url
    admin_url = url
    users: dict[str, natsauth.NatsUser] = {}
    if not url:
        port = settings.nats_port
        extra = ""
        if settings.nats_auth:
            users = {user.name: user for user in nats_users()}
            extra = natsauth.authorization_config(list(users.values()))
        nats = NatsServer(
            store_dir=var / "nats" / "store",
            config_dir=var / "nats",
            port=port,
            log_file=logs / "nats-server.log",
            authorization=extra,
            # A restart after a crash comes back on the same port: clients keep their URL.
            keep_port=True,
        ).start()
        url = nats.url
        admin_url = _as_user(url, users, natsauth.ADMIN)
    assert admin_url is not None
    for line in asyncio.run(provision(admin_url)):
        print(f"streams: {line}")

    base_env = {**os.environ, "QORGAU_VAR_DIR": str(var)}
    seeds = seed_files(users)
    envs = {name: {**base_env, "NATS_URL": url, **seed_env(seeds, name)} for name in chosen}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for service in chosen:
            processes[service] = _start_service(service, envs[service], logs)
        where = f"{url} ({'NKeys in var/keys/nats/' if users else 'no auth'})"
        rows = [("nats", where, str(nats.pid) if nats else "external")]
        for service in chosen:
            port = _registered(service).http_port()
            ok = _wait_healthy(service, port, processes[service], timeout=60)
            state = "ok" if ok else f"NOT HEALTHY (see {logs / (service + '.log')})"
            rows.append(
                (service, f"http://127.0.0.1:{port}", f"pid {processes[service].pid} {state}")
            )
        print("\nQorgau is running:")
        for name, where, what in rows:
            print(f"  {name:<10} {where:<28} {what}")
        print(f"\ndata under {var}; logs under {logs}; Ctrl-C stops everything.")
        sys.stdout.flush()
        watch = NatsWatch(nats) if nats is not None else None
        backoffs = {service: Backoff() for service in chosen}
        for backoff in backoffs.values():
            backoff.started()
        down: set[str] = set()
        while not stopping:
            time.sleep(0.5)
            if watch is not None and not stopping:
                watch.check()
            for service, process in list(processes.items()):
                # poll() reaps a dead child: none is left a zombie.
                if stopping or process.poll() is None:
                    continue
                if service not in down:
                    down.add(service)
                    delay = backoffs[service].failed()
                    say(f"{service} exited with {process.returncode}; restarting in {delay:g}s")
                if backoffs[service].due():
                    down.discard(service)
                    backoffs[service].started()
                    processes[service] = _start_service(service, envs[service], logs)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if nats is not None:
            nats.stop()
            nats.release()
        print("Qorgau stopped.")
    return 0


def _as_user(url: str, users: dict[str, natsauth.NatsUser], name: str) -> str:
    user = users.get(name)
    return natsauth.credentials_url(url, user.name, user.password) if user else url


def _tree(spans: list[dict[str, Any]]) -> list[str]:
    by_id = {span["context"]["span_id"]: span for span in spans}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        parent = span.get("parent_id")
        children[parent if parent in by_id else None].append(span)
    lines: list[str] = []

    def walk(span: dict[str, Any], depth: int) -> None:
        service = span.get("resource", {}).get("attributes", {}).get("service.name", "?")
        attrs = span.get("attributes", {})
        code = attrs.get("qorgau.obligation_code")
        agency = attrs.get("qorgau.agency_id")
        extra = "".join(
            f" {label}={value}"
            for label, value in (("code", code), ("agency", agency))
            if value is not None
        )
        lines.append(f"{'  ' * depth}{span['name']} [{service}] {span['start_time']}{extra}")
        below = children[span["context"]["span_id"]]
        for child in sorted(below, key=lambda found: found["start_time"]):
            walk(child, depth + 1)

    for root in sorted(children[None], key=lambda found: found["start_time"]):
        walk(root, 0)
    return lines


def cmd_trace(args: argparse.Namespace) -> int:
    """Print the spans of a case across all services as a tree, from the local trace files."""
    # The trace index gives the case's own lines: the other cases' spans are never read.
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in read_case_spans(PlatformSettings().var_dir, args.case_id):
        by_trace[span["context"]["trace_id"]].append(span)
    if not by_trace:
        print(f"no spans for case {args.case_id}", file=sys.stderr)
        return 1
    for trace_id in sorted(by_trace):
        print(f"trace {trace_id}")
        for line in _tree(by_trace[trace_id]):
            print(f"  {line}")
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    """Print or write the AsyncAPI document of every event, or check the kept one is current."""
    from qorgau.asyncapi import generate

    document = json.dumps(json.loads(generate()), indent=2, sort_keys=True) + "\n"
    if args.check:
        if Path(args.check).read_text(encoding="utf-8") != document:
            print(f"{args.check} is out of date: run `make asyncapi`", file=sys.stderr)
            return 1
        return 0
    if args.write:
        Path(args.write).write_text(document, encoding="utf-8")
        return 0
    print(document, end="")
    return 0


def parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    top = argparse.ArgumentParser(prog="qorgau", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the platform (embedded default)")
    up.add_argument(
        "services", nargs="*", help=f"services to start (default: {' '.join(SERVICE_NAMES)})"
    )
    up.add_argument(
        "--cluster",
        action="store_true",
        help="production shape: 3 NATS nodes, PostgreSQL, two instances of each service",
    )
    up.add_argument(
        "--postgres", metavar="ADMIN_URL", default=None, help="with --cluster: an existing server"
    )
    up.set_defaults(func=cmd_up)
    run = sub.add_parser("run", help="run one service alone, configured by environment")
    run.add_argument("service")
    run.set_defaults(func=cmd_run)
    streams = sub.add_parser("streams", help="create or update the JetStream streams")
    streams.add_argument("--nats-url", default=None)
    streams.add_argument("--replicas", type=int, default=1)
    streams.set_defaults(func=cmd_streams)
    trace = sub.add_parser("trace", help="print a case's spans as a tree")
    trace.add_argument("case_id")
    trace.set_defaults(func=cmd_trace)
    asyncapi = sub.add_parser("asyncapi", help="the event catalogue as an AsyncAPI document")
    asyncapi.add_argument("--write", metavar="PATH", default=None)
    asyncapi.add_argument("--check", metavar="PATH", default=None)
    asyncapi.set_defaults(func=cmd_asyncapi)
    token = sub.add_parser("token", help="development tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    issue = token_sub.add_parser("issue", help="print a signed token for a person of an agency")
    issue.add_argument("--agency", required=True, help="agency id (from the directory)")
    issue.add_argument("--role", required=True, choices=[role.value for role in Role])
    issue.add_argument("--agency-type", default=None, help="for an agency not in the directory")
    issue.add_argument("--region", default=None)
    issue.add_argument("--person", default=None, help="the person's id (never a name)")
    issue.add_argument("--hours", type=float, default=8.0, help="validity (default 8)")
    issue.set_defaults(func=cmd_token_issue)
    add_production_commands(sub)
    audit_cmd = sub.add_parser("audit", help="the audit log of personal-data reads")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="detect changed or removed audit entries")
    verify.add_argument("services", nargs="*", help="services to check (default: all)")
    verify.add_argument(
        "--nats-url", help="where the AUDIT stream's checkpoints are read (default: the platform's)"
    )
    verify.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="check the chain only (a removed tail then goes unseen)",
    )
    verify.set_defaults(func=cmd_audit_verify)
    keys = sub.add_parser("keys", help="encryption and token keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="add a new active key (SERVICE or 'token')")
    rotate.add_argument("service")
    rotate.set_defaults(func=cmd_keys_rotate)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `qorgau` command."""
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
