"""The JetStream streams of the platform: the one place their configuration lives.

Services declare nothing (`JStream(declare=False)`): a service that declared a stream would
rewrite its configuration with its own idea of it at every start. `provision` is the one step
that creates or updates them (`qorgau streams`, `qorgau up`, the test fixtures).
"""

from __future__ import annotations

from dataclasses import dataclass

import nats
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

__all__ = [
    "DUPLICATE_WINDOW",
    "PREFIX",
    "RETIRED_CONSUMERS",
    "STREAMS",
    "StreamSpec",
    "provision",
    "stream_for",
]

PREFIX = "qorgau"

# A relay that crashed after the PubAck but before marking its outbox row sent publishes the
# row again on restart, possibly much later: JetStream drops it only within this window.
DUPLICATE_WINDOW = 24 * 60 * 60.0

# The server answers this when a stream exists with another configuration.
_STREAM_NAME_IN_USE = 10058


@dataclass(frozen=True)
class StreamSpec:
    """A stream: its name, the subjects it stores, and whether its messages may be removed."""

    name: str
    subjects: tuple[str, ...]
    description: str
    # Case streams are the record of what happened to a case: nobody deletes or purges them.
    protected: bool = True

    def config(self, *, replicas: int = 1) -> StreamConfig:
        """Return the JetStream configuration of this stream."""
        return StreamConfig(
            name=self.name,
            description=self.description,
            subjects=list(self.subjects),
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            # No limit on age, count or size: an integrator who subscribes next week replays
            # from the start.
            max_age=0,
            max_msgs=-1,
            max_bytes=-1,
            duplicate_window=DUPLICATE_WINDOW,
            num_replicas=replicas,
            deny_delete=self.protected,
            deny_purge=self.protected,
        )


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("INTAKE", ("qorgau.intake.>",), "Reports, subjects and cases registered"),
    StreamSpec("ROUTING", ("qorgau.routing.>",), "Referrals issued, delivered, acknowledged"),
    StreamSpec("DEADLINES", ("qorgau.deadlines.>",), "Obligations opened, met, breached"),
    StreamSpec("CASEWORK", ("qorgau.casework.>",), "Case management by the child-rights body"),
    StreamSpec("SHELTER", ("qorgau.shelter.>",), "Temporary stay of domestic-violence victims"),
    StreamSpec("FAMILYCENTRE", ("qorgau.familycentre.>",), "Family support centre work"),
    StreamSpec(
        "AGENCY",
        ("qorgau.agency.>",),
        "Deliveries to agencies: qorgau.agency.<agency_id>.<event>.v<N>",
    ),
    # Each service's audit head, signed: the anchor its audit log is verified against.
    StreamSpec("AUDIT", ("qorgau.audit.>",), "Audit chain checkpoints: qorgau.audit.<service>.>"),
    # Dead letters are copies (the original stays in its own stream), so an operator may
    # delete one after replaying it.
    StreamSpec("DLQ", ("qorgau.dlq.>",), "Dead letters: messages a consumer gave up on", False),
)

# Durable consumers no service declares any more, (stream, name); provisioning removes them so
# that they neither keep a position nobody reads nor show as a backlog. Their replacements
# start from the stream's first message and claim the same inbox entries, so nothing they
# applied is applied twice and nothing they had not yet read is lost.
RETIRED_CONSUMERS: tuple[tuple[str, str], ...] = tuple(
    # Deadlines read each producer's obligation events and its timeline with four consumers;
    # one, `deadlines-<producer>-events`, reads them all now.
    (stream, f"deadlines-{name}")
    for producer, stream in (
        ("routing", "ROUTING"),
        ("casework", "CASEWORK"),
        ("shelter", "SHELTER"),
        ("familycentre", "FAMILYCENTRE"),
    )
    for name in (
        f"{producer}-obligation-opened",
        f"{producer}-obligation-fulfilled",
        f"{producer}-obligation-cancelled",
        f"timeline-{producer}",
    )
) + tuple(
    # Casework's and the family centre's views of routing's obligations read its three
    # obligation events with one consumer each; one, `<service>-routing-obligations`, now.
    ("ROUTING", f"{service}-obligation-{event}")
    for service in ("casework", "familycentre")
    for event in ("opened", "fulfilled", "cancelled")
)

# Every stream owns exactly `qorgau.<token>.>`, so the second token names it.
_BY_TOKEN = {
    spec.subjects[0].split(".")[1]: spec.name
    for spec in STREAMS
    if len(spec.subjects) == 1 and spec.subjects[0].endswith(".>")
}


def stream_for(subject: str) -> str:
    """Return the name of the stream that stores a subject (or a subject filter)."""
    tokens = subject.split(".")
    if len(tokens) < 3 or tokens[0] != PREFIX or any(not token for token in tokens):
        raise ValueError(f"not a qorgau subject: {subject!r}")
    try:
        return _BY_TOKEN[tokens[1]]
    except KeyError:
        raise ValueError(f"no stream stores {subject!r}") from None


# The fields `StreamSpec.config` sets; the server fills the others with its defaults.
_MANAGED_FIELDS = (
    "description",
    "subjects",
    "storage",
    "retention",
    "discard",
    "max_age",
    "max_msgs",
    "max_bytes",
    "duplicate_window",
    "num_replicas",
    "deny_delete",
    "deny_purge",
)


def _differences(current: StreamConfig, wanted: StreamConfig) -> list[str]:
    return [field for field in _MANAGED_FIELDS if getattr(current, field) != getattr(wanted, field)]


async def provision(nats_url: str, *, replicas: int = 1) -> list[str]:
    """Create or update every stream; return one line per stream saying what was done."""
    from shared.natsauth import connect_options  # natsauth reads the streams: no cycle

    nc = await nats.connect(**connect_options(nats_url), allow_reconnect=False, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=10)
        report: list[str] = []
        for spec in STREAMS:
            wanted = spec.config(replicas=replicas)
            try:
                current = (await js.stream_info(spec.name)).config
            except NotFoundError:
                current = None
            if current is None:
                try:
                    await js.add_stream(wanted)
                    report.append(f"{spec.name}: created")
                    continue
                except BadRequestError as exc:
                    # Another provisioner created it in between: update it like any other.
                    if exc.err_code != _STREAM_NAME_IN_USE:
                        raise
                    current = (await js.stream_info(spec.name)).config
            if changed := _differences(current, wanted):
                await js.update_stream(wanted)
                report.append(f"{spec.name}: updated ({', '.join(changed)})")
            else:
                report.append(f"{spec.name}: unchanged")
        for stream, durable in RETIRED_CONSUMERS:
            try:
                await js.delete_consumer(stream, durable)
            except NotFoundError:
                continue
            report.append(f"{stream}: consumer {durable} retired")
        return report
    finally:
        await nc.close()
