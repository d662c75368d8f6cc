"""NATS permissions generated from the agency directory: who may publish and read what.

One account, one user per party, every user restricted by allow-lists (nats-server
`authorization { users: [...] }`):

- a service publishes only its own subjects (`qorgau.<service>.>`, routing also delivers on
  `qorgau.agency.>`), dead letters on `qorgau.dlq.>`, its own audit checkpoints on
  `qorgau.audit.<service>.>`, and runs only the durable pull consumers it declares; intake
  also reads the info (pending counts) of the consumers on a report's path, for load shedding
  (shared.backlog.WATCHES), and may do nothing else with them;
- an agency reads only its own deliveries, `qorgau.agency.<agency_id>.>`, through one JetStream
  consumer named by its agency id on the AGENCY stream, and publishes only its answers on its
  own subjects (`qorgau.agency.<agency_id>.referral_acknowledged.v1`, ...): routing trusts the
  subject to name the answering agency, and these permissions are what make that safe;
- the integrator reads the case streams (never AGENCY, DLQ or AUDIT) through consumers named
  `integrator`; the operator reads every stream through consumers named `operator`, and the
  last audit checkpoint of a service by subject;
- the admin provisions streams (the `qorgau streams` step), nothing else uses it.

Every user gets its own reply inbox prefix (`_INBOX_<user>`): pulled messages and PubAcks are
delivered to inbox subjects, so a shared `_INBOX.>` would let any user read the others'
deliveries. Clients connect with `inbox_prefix_for(url)` (shared.bus does).

Every user authenticates with an NKey (Ed25519): the server configuration holds only the public
key (`U...`), the user keeps its seed (`SU...`), and the server checks a signature of a nonce, so
the secret never travels and nothing in the configuration file lets anyone connect. The same
configuration runs `qorgau up`, `qorgau up --cluster` and production (`qorgau nats-config`); a
new agency gets a seed and the running server reads the new configuration on a reload signal.
A client carries its seed where a password would be (`nats://<user>:<seed>@host`, or the file
named by NATS_NKEY_SEED_FILE) and connects with `connect_options(url)`, which hands the seed to
nats-py as `nkeys_seed_str` and never sends it.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import nkeys

from shared.contracts.envelope import SUBJECT_TOKEN
from shared.keyfiles import write_private
from shared.streams import PREFIX, STREAMS

__all__ = [
    "ADMIN",
    "CASE_STREAMS",
    "HUB_DOMAIN",
    "INTEGRATOR",
    "OPERATOR",
    "Consumer",
    "NatsUser",
    "agency_user",
    "authorization_config",
    "build_users",
    "connect_options",
    "credentials_url",
    "inbox_prefix",
    "inbox_prefix_for",
    "is_seed",
    "leaf_deliver_prefix",
    "load_or_create_passwords",
    "new_seed",
    "public_key",
    "read_seed_file",
    "reader_user",
    "service_user",
    "user_of",
    "write_seed_files",
]

ADMIN = "admin"
# The national hub's JetStream domain; an agency's leaf node has its own (shared.leafnode).
HUB_DOMAIN = "hub"
INTEGRATOR = "integrator"
OPERATOR = "operator"
RESERVED = frozenset({ADMIN, INTEGRATOR, OPERATOR})

# Case events carry no personal data; AGENCY holds each agency's own work, DLQ holds copies of
# failed messages of any subject, AUDIT the services' audit checkpoints: none is public.
CASE_STREAMS: tuple[str, ...] = tuple(
    stream.name for stream in STREAMS if stream.name not in {"AGENCY", "DLQ", "AUDIT"}
)
ALL_STREAMS: tuple[str, ...] = tuple(stream.name for stream in STREAMS)

_JS = "$JS.API"


@dataclass(frozen=True)
class Consumer:
    """A durable JetStream consumer a service declares: the stream and the consumer's name."""

    stream: str
    durable: str


@dataclass(frozen=True)
class NatsUser:
    """One NATS user, its secret (an NKey seed) and the subjects it may publish and read."""

    name: str
    # An NKey seed ("SU..."): the server gets only its public key. A plain password is still
    # accepted for a hand-written user, but is then in the server's configuration.
    password: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def new_seed() -> str:
    """Return a fresh user NKey seed ("SU...")."""
    return nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode()


def is_seed(secret: str) -> bool:
    """Tell whether a secret is a user NKey seed (rather than a password)."""
    if not secret.startswith("SU"):
        return False
    try:
        nkeys.from_seed(bytearray(secret.encode()))
    except (nkeys.NkeysError, ValueError, TypeError, IndexError):
        return False
    return True


def public_key(seed: str) -> str:
    """Return the public key ("U...") of a user NKey seed."""
    return str(nkeys.from_seed(bytearray(seed.encode())).public_key.decode())


def inbox_prefix(user: str | None) -> str:
    """Return the reply inbox prefix of a user (the default one for an anonymous connection)."""
    return f"_INBOX_{user}" if user else "_INBOX"


def user_of(url: str) -> str | None:
    """Return the user named in a NATS URL, if any."""
    parts = urlsplit(url)
    return unquote(parts.username) if parts.username else None


def inbox_prefix_for(url: str) -> str:
    """Return the inbox prefix a client connecting with this URL must use."""
    return inbox_prefix(user_of(url))


def credentials_url(url: str, user: str, password: str) -> str:
    """Return the NATS URL with a user and password in it."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[-1]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[-1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def connect_options(url: str, *, ca_file: Path | str | None = None) -> dict[str, Any]:
    """Return nats.connect keyword arguments for a NATS_URL (one server or a comma list).

    A seed in the URL's password place is handed to nats-py as `nkeys_seed_str` and taken out
    of the URLs (it signs the server's nonce, never travels); a password stays in the URL. The
    reply inbox is the user's own. With a CA file (or NATS_TLS_CA_FILE) the client checks the
    server's certificate against it and speaks TLS only.
    """
    servers = [part.strip() for part in url.split(",") if part.strip()]
    # A service on an agency's own site answers to the site's inbox prefix
    # (NATS_INBOX_PREFIX=_INBOX_<agency_id>): the replies that cross the leaf link are the
    # agency's own, never those of the hub's service of the same name.
    prefix = os.environ.get("NATS_INBOX_PREFIX") or inbox_prefix_for(servers[0])
    options: dict[str, Any] = {"inbox_prefix": prefix}
    secret = unquote(urlsplit(servers[0]).password or "")
    if secret and is_seed(secret):
        options["nkeys_seed_str"] = secret
        servers = [_strip_credentials(server) for server in servers]
    options["servers"] = servers
    ca = ca_file or os.environ.get("NATS_TLS_CA_FILE")
    if ca:
        context = ssl.create_default_context(cafile=str(ca))
        certificate = os.environ.get("NATS_TLS_CERT_FILE")
        if certificate:
            context.load_cert_chain(certificate, os.environ.get("NATS_TLS_KEY_FILE"))
        options["tls"] = context
    return options


def _consumer_api(stream: str, name: str, *, filters: Sequence[str] = (">",)) -> list[str]:
    # The consumer's name is part of every API subject, so a user can only create, read from
    # and ack its own consumers, never take messages off another party's consumer.
    allowed = [
        f"{_JS}.CONSUMER.INFO.{stream}.{name}",
        f"{_JS}.CONSUMER.MSG.NEXT.{stream}.{name}",
        f"{_JS}.CONSUMER.DELETE.{stream}.{name}",
        # Acks: the reply subject of each delivered message (v1 and v2 forms).
        f"$JS.ACK.{stream}.{name}.>",
        f"$JS.ACK.*.*.{stream}.{name}.>",
    ]
    for subject_filter in filters:
        # The filter subject travels in the API subject (nats-server 2.9+): the server refuses
        # a request whose body filters on anything else.
        allowed.append(f"{_JS}.CONSUMER.CREATE.{stream}.{name}.{subject_filter}")
    return allowed


def service_user(
    service: str,
    consumers: Iterable[Consumer],
    *,
    password: str,
    delivers: bool = False,
    watches: Iterable[Consumer] = (),
) -> NatsUser:
    """Return the user of a service: its own subjects, dead letters, its own consumers.

    `watches` are other services' consumers whose info (pending counts) it may read, and only
    read: no message, no ack, no create or delete.
    """
    publish = [
        f"{PREFIX}.{service}.>",
        f"{PREFIX}.dlq.>",
        # Its own audit checkpoints only: one service cannot anchor another's log. It reads the
        # last one back after a restart (checkpoints hold sequence numbers and hashes only).
        f"{PREFIX}.audit.{service}.>",
        f"{_JS}.STREAM.MSG.GET.AUDIT",
        f"{_JS}.INFO",
    ]
    if delivers:
        publish.append(f"{PREFIX}.agency.>")
    for consumer in sorted(set(consumers), key=lambda each: (each.stream, each.durable)):
        publish += _consumer_api(consumer.stream, consumer.durable)
        publish.append(f"{_JS}.CONSUMER.CREATE.{consumer.stream}.{consumer.durable}")
    for watched in sorted(set(watches), key=lambda each: (each.stream, each.durable)):
        info = f"{_JS}.CONSUMER.INFO.{watched.stream}.{watched.durable}"
        if info not in publish:
            publish.append(info)
    return NatsUser(service, password, tuple(publish), (f"{inbox_prefix(service)}.>",))


# The services an agency of a type may run on its own site (a leaf node), publishing their
# events to the hub: a shelter runs the shelter service (Standard 14701). The console needs no
# NATS permission (it is not on the bus).
SITE_SERVICES: dict[str, tuple[str, ...]] = {"shelter": ("shelter",)}


def leaf_deliver_prefix(agency_id: str) -> str:
    """Return the subject prefix an agency's leaf node receives its sourced deliveries on."""
    return f"_DELIVER_{agency_id}"


def agency_user(
    agency_id: str,
    *,
    password: str,
    answers: Sequence[str] = (),
    site_services: Sequence[str] = (),
) -> NatsUser:
    """Return an agency's user: its own deliveries through its own consumer, its own answers.

    The same user connects the agency's own site (a leaf node, shared.leafnode): its JetStream
    sources the agency's deliveries from the hub's AGENCY stream through consumers whose
    filter, in the API subject, is the agency's own subjects, delivered on its own prefix.
    A site that runs a service of its own (a shelter runs the shelter service) also publishes
    that service's events, `qorgau.<service>.>`, through the link into the hub's stream; the
    stream's acknowledgements come back on the agency's own inbox prefix.
    """
    if not SUBJECT_TOKEN.match(agency_id) or agency_id in RESERVED:
        raise ValueError(f"agency id {agency_id!r} cannot name a NATS user")
    own = f"{PREFIX}.agency.{agency_id}.>"
    publish = [
        f"{_JS}.INFO",
        f"{_JS}.STREAM.INFO.AGENCY",
        *_consumer_api("AGENCY", agency_id, filters=(own,)),
        # Answers ("referral_acknowledged.v1"), never a delivery's name.
        *(f"{PREFIX}.agency.{agency_id}.{answer}" for answer in answers),
        # A leaf node's stream source: an ordered consumer of a generated name, its filter
        # (the agency's own subjects) fixed by the API subject; its flow-control replies.
        f"$JS.{HUB_DOMAIN}.API.CONSUMER.CREATE.AGENCY.*.{own}",
        "$JS.FC.AGENCY.>",
        # The events of the services its site runs (their outboxes publish with Nats-Msg-Id:
        # the hub's stream drops a re-send after an outage).
        *(f"{PREFIX}.{service}.>" for service in site_services),
    ]
    subscribe = [
        f"{inbox_prefix(agency_id)}.>",
        own,
        # The source's deliveries (on the agency's own prefix) and the API's answers (consumer
        # information: names and sequence numbers, no message).
        f"{leaf_deliver_prefix(agency_id)}.>",
        "$JSC.R.*",
    ]
    return NatsUser(agency_id, password, tuple(publish), tuple(subscribe))


def reader_user(name: str, streams: Sequence[str], *, password: str) -> NatsUser:
    """Return a read-only user of whole streams, through consumers named after the user."""
    publish = [f"{_JS}.INFO", f"{_JS}.STREAM.NAMES"]
    subscribe = [f"{inbox_prefix(name)}.>"]
    by_name = {spec.name: spec for spec in STREAMS}
    for stream in streams:
        publish.append(f"{_JS}.STREAM.INFO.{stream}")
        publish += _consumer_api(stream, name)
        publish.append(f"{_JS}.CONSUMER.CREATE.{stream}.{name}")
        if stream == "AUDIT":
            # `qorgau audit verify` reads each service's last checkpoint by subject.
            publish.append(f"{_JS}.STREAM.MSG.GET.AUDIT")
        subscribe += list(by_name[stream].subjects)
    return NatsUser(name, password, tuple(publish), tuple(subscribe))


def build_users(
    *,
    agency_ids: Iterable[str],
    services: Mapping[str, Iterable[Consumer]],
    passwords: Mapping[str, str],
    delivering_services: Iterable[str] = ("routing",),
    agency_answers: Sequence[str] = (),
    site_services: Mapping[str, Sequence[str]] | None = None,
    watching: Mapping[str, Iterable[Consumer]] | None = None,
) -> list[NatsUser]:
    """Return every user of the platform: admin, services, readers, one per agency.

    `watching` names the consumers whose info a service reads (default: shared.backlog's).
    """
    if watching is None:
        # Imported here: shared.backlog imports this module (its consumers are ours).
        from shared.backlog import WATCHES

        watching = WATCHES
    delivering = set(delivering_services)
    users = [NatsUser(ADMIN, passwords[ADMIN], (), ())]
    for service, consumers in sorted(services.items()):
        users.append(
            service_user(
                service,
                consumers,
                password=passwords[service],
                delivers=service in delivering,
                watches=watching.get(service, ()),
            )
        )
    users.append(reader_user(INTEGRATOR, CASE_STREAMS, password=passwords[INTEGRATOR]))
    users.append(reader_user(OPERATOR, ALL_STREAMS, password=passwords[OPERATOR]))
    taken = {user.name for user in users}
    for agency_id in sorted(set(agency_ids)):
        if agency_id in taken:
            raise ValueError(f"agency id {agency_id!r} collides with a platform user")
        users.append(
            agency_user(
                agency_id,
                password=passwords[agency_id],
                answers=agency_answers,
                site_services=(site_services or {}).get(agency_id, ()),
            )
        )
    return users


def _list(subjects: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(subject) for subject in subjects) + "]"


def _identity(user: NatsUser) -> str:
    if is_seed(user.password):
        # Only the public key: the configuration file lets nobody connect.
        return f"nkey: {json.dumps(public_key(user.password))}"
    return f"user: {json.dumps(user.name)}, password: {json.dumps(user.password)}"


def authorization_config(users: Sequence[NatsUser]) -> str:
    """Return the nats-server `authorization` block for the users (public NKeys, no seeds)."""
    lines = ["authorization {", "  users: ["]
    for user in users:
        # The public key says nothing of whose it is: the name, for whoever reads the file.
        lines.append(f"    # {user.name}")
        entry = f"    {{{_identity(user)}"
        if user.name != ADMIN:
            # An empty allow-list still denies everything: nothing is allowed by default.
            entry += (
                f", permissions: {{publish: {{allow: {_list(user.publish)}}}, "
                f"subscribe: {{allow: {_list(user.subscribe)}}}}}"
            )
        lines.append(entry + "}")
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def load_or_create_passwords(path: Path, names: Iterable[str]) -> dict[str, str]:
    """Read the users' NKey seeds, generating (once) those missing; the file is mode 0600.

    A user whose entry is an old password gets a seed: its clients read the file again.
    """
    known: dict[str, str] = {}
    if path.exists():
        known = dict(json.loads(path.read_text(encoding="utf-8")))
    missing = [name for name in names if not is_seed(known.get(name, ""))]
    if missing or not path.exists():
        for name in missing:
            known[name] = new_seed()
        write_private(path, json.dumps(known, indent=1, sort_keys=True))
    return known


def write_seed_files(folder: Path, seeds: Mapping[str, str]) -> list[Path]:
    """Write each user's seed to `<folder>/<user>.nk` (mode 0600), for its secret store."""
    written = []
    for name, seed in sorted(seeds.items()):
        path = folder / f"{name}.nk"
        write_private(path, seed + "\n")
        written.append(path)
    return written


def read_seed_file(path: Path) -> str:
    """Read a seed file (`<user>.nk`), refusing anything but a user NKey seed."""
    seed = path.read_text(encoding="utf-8").strip()
    if not is_seed(seed):
        raise ValueError(f"{path} holds no user NKey seed")
    return seed
