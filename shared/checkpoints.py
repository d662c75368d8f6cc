"""The audit chain's anchor outside its database: the head, signed, on a stream kept forever.

An intruder who can write a service's database can delete the tail of its audit log and set the
head row to the new last entry; the chain then verifies. So the head (sequence and hash) is
checkpointed regularly to the AUDIT stream, which refuses deletes and purges (deny_delete,
deny_purge), each checkpoint signed with the key that chains the entries (HMAC-SHA256), on
`qorgau.audit.<service>.checkpoint`, which only that service may publish. `qorgau audit verify`
compares the table with the last checkpoint and names what is gone or changed.

A checkpointer never anchors a log that no longer holds its last checkpoint: after a rewrite the
old checkpoint stays the latest, so the evidence is not overwritten by the next round (it reads
the last one back from the stream after a restart).

A task of the service's runtime writes them, not the outbox: a checkpoint is about the log, not
a case event, and the log is also written outside any outbox transaction (refusals, each in a
transaction of its own); the task publishes only when the head moved, so an idle service adds
nothing, and a busy one one message per interval rather than one per read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import nats
from nats.js.errors import NotFoundError
from sqlalchemy import Engine, func
from sqlmodel import col, select

from shared.audit import AuditEntry, AuditHead
from shared.clock import Clock
from shared.db import unit_of_work
from shared.outbox import Publisher
from shared.streams import PREFIX

log = logging.getLogger(__name__)

STREAM = "AUDIT"
PUBLISH_TIMEOUT = 10.0
DEFAULT_INTERVAL = 5.0


def subject(service: str) -> str:
    """Return the subject a service's checkpoints are published on."""
    return f"{PREFIX}.audit.{service}.checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """A service's audit head at a moment, signed with the service's audit key."""

    service: str
    seq: int
    hash: str
    at: datetime
    signature: str

    @staticmethod
    def _signing(service: str, seq: int, hash: str, at: datetime) -> bytes:
        body = {"service": service, "seq": seq, "hash": hash, "at": at.isoformat()}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def signed(cls, service: str, *, seq: int, hash: str, at: datetime, key: bytes) -> Checkpoint:
        """Return a checkpoint signed with the key."""
        mac = hmac.new(key, cls._signing(service, seq, hash, at), hashlib.sha256).hexdigest()
        return cls(service, seq, hash, at, mac)

    def valid(self, key: bytes) -> bool:
        """Tell whether the signature is the key's."""
        wanted = self.signed(self.service, seq=self.seq, hash=self.hash, at=self.at, key=key)
        return hmac.compare_digest(wanted.signature, self.signature)

    def to_bytes(self) -> bytes:
        """Serialise as published."""
        body = {
            "service": self.service,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.isoformat(),
            "signature": self.signature,
        }
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        """Read a published checkpoint; raise ValueError when it is not one."""
        try:
            body = json.loads(data)
            return cls(
                str(body["service"]),
                int(body["seq"]),
                str(body["hash"]),
                datetime.fromisoformat(body["at"]),
                str(body["signature"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a checkpoint: {type(error).__name__}") from None


def head(engine: Engine) -> tuple[int, str]:
    """Return the audit head's sequence and hash (0 and genesis for an empty log)."""
    with unit_of_work(engine) as session:
        found = session.exec(select(AuditHead).where(AuditHead.id == 1)).first()
        return (found.seq, found.hash) if found is not None else (0, "0" * 64)


@dataclass
class Checkpointer:
    """Publishes the head when it moved since the last checkpoint, never over a rewrite."""

    engine: Engine
    service: str
    key: bytes
    clock: Clock
    publisher: Publisher
    # Reads the last checkpoint on the stream (after a restart); None: start from nothing.
    load_last: Callable[[], Awaitable[Checkpoint | None]] | None = None
    _last: Checkpoint | None = None
    _loaded: bool = False

    async def step(self) -> bool:
        """Publish a checkpoint if the head moved; tell whether one was published."""
        if not self._loaded and self.load_last is not None:
            self._last = await self.load_last()
        self._loaded = True
        seq, digest = await asyncio.to_thread(head, self.engine)
        last = self._last
        if seq == 0 or (last is not None and (last.seq, last.hash) == (seq, digest)):
            return False
        if last is not None and last.valid(self.key):
            # A log rewritten since the last checkpoint is not anchored anew: the last
            # checkpoint stays the latest, the evidence `qorgau audit verify` names.
            if await asyncio.to_thread(compare, self.engine, last, key=self.key):
                log.error("%s audit log differs from its last checkpoint", self.service)
                return False
        point = Checkpoint.signed(
            self.service, seq=seq, hash=digest, at=self.clock.now(), key=self.key
        )
        await self.publisher.publish(
            point.to_bytes(),
            subject(self.service),
            # The same head is one message, even when two instances checkpoint it.
            headers={"Nats-Msg-Id": f"{self.service}:{seq}:{digest}"},
            stream=STREAM,
            timeout=PUBLISH_TIMEOUT,
        )
        self._last = point
        return True

    async def run(self, interval: float, connected: Callable[[], bool] = lambda: True) -> None:
        """Checkpoint every interval for ever; a failed publish is tried again next round."""
        while True:
            try:
                if connected():
                    await self.step()
            except Exception as error:
                log.warning("%s audit checkpoint not published: %s", self.service, error)
            await asyncio.sleep(interval)


async def latest(nats_url: str, service: str, *, timeout: float = 5.0) -> Checkpoint | None:
    """Return the last checkpoint a service published, or None if it never did."""
    # nats-py keeps retrying a refused first connection: the whole read is bounded.
    return await asyncio.wait_for(_latest(nats_url, service, timeout=timeout), timeout * 2)


async def _log_error(error: Exception) -> None:
    log.debug("checkpoint read: %s", type(error).__name__)


async def _latest(nats_url: str, service: str, *, timeout: float) -> Checkpoint | None:
    from shared.natsauth import connect_options

    nc = await nats.connect(
        **connect_options(nats_url),
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.2,
        connect_timeout=timeout,
        error_cb=_log_error,
    )
    try:
        js = nc.jetstream(timeout=timeout)
        try:
            message = await js.get_last_msg(STREAM, subject(service))
        except NotFoundError:
            return None
        return Checkpoint.from_bytes(message.data or b"")
    finally:
        await nc.close()


def compare(engine: Engine, checkpoint: Checkpoint, *, key: bytes) -> list[str]:
    """Compare the log with a checkpoint; return one line per problem (empty: consistent)."""
    if not checkpoint.valid(key):
        return ["checkpoint: its signature does not match (not written with the service's key)"]
    at = checkpoint.at.isoformat()
    with unit_of_work(engine) as session:
        last = session.exec(select(func.max(col(AuditEntry.seq)))).one() or 0
        entry = session.get(AuditEntry, checkpoint.seq)
        if entry is None and last < checkpoint.seq:
            removed = (
                f"entry {checkpoint.seq}"
                if last + 1 == checkpoint.seq
                else f"entries {last + 1}-{checkpoint.seq}"
            )
            return [
                f"{removed} removed at the end (the checkpoint of {at} names entry "
                f"{checkpoint.seq}; the log ends at {last})"
            ]
        if entry is None:
            return [f"entry {checkpoint.seq} removed (the checkpoint of {at} names it)"]
        if entry.hash != checkpoint.hash:
            return [
                f"entry {checkpoint.seq}: differs from the checkpoint of {at} "
                f"(the log was rewritten at or before entry {checkpoint.seq})"
            ]
    return []
