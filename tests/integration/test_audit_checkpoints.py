"""The audit chain anchored outside its database: signed checkpoints on a stream nobody rewrites.

Whoever can write the database can delete the log's tail and set the head row to the new last
entry: the table then verifies. The head's sequence and hash, checkpointed to JetStream (a
stream that refuses deletes and purges), still name the entries that were there. Real
nats-server, SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import nats
import pytest
from faststream.nats import NatsBroker
from sqlalchemy import Engine, text

from qorgau.cli import main
from shared import audit, checkpoints
from shared.access import audit_key
from shared.bus import make_broker
from shared.clock import FixedClock
from shared.crypto import KeyRing
from shared.db import make_engine, migrate
from shared.natsserver import NatsServer
from tests.integration.test_audit_chain import KEY, T0, access, bypass_guard, fill


def truncate(engine: Engine, *, keep: int, key: bytes = KEY) -> None:
    """Delete the entries after `keep` and point the head at the new last one, as an intruder."""
    bypass_guard(engine, f"DELETE FROM audit_log WHERE seq > {keep}")
    with engine.begin() as connection:
        last = connection.execute(
            text("SELECT hash FROM audit_log WHERE seq = :seq"), {"seq": keep}
        ).scalar_one()
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": keep, "hash": last},
        )


@pytest.fixture
def engine(migrated_engine: Callable[[str], Engine]) -> Engine:
    return migrated_engine("intake")


@pytest.fixture
async def broker(nats_url: str) -> AsyncIterator[NatsBroker]:
    running = make_broker(nats_url, service="intake")
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def label() -> str:
    # The session's server is shared: each test checkpoints under a service name of its own.
    return f"svc{uuid.uuid4().hex[:10]}"


async def test_truncation_is_found_against_the_last_checkpoint(
    engine: Engine, broker: NatsBroker, nats_url: str
) -> None:
    service = label()
    clock = FixedClock(T0)
    checkpointer = checkpoints.Checkpointer(
        engine=engine, service=service, key=KEY, clock=clock, publisher=broker
    )
    assert await checkpointer.step() is False  # an empty log: nothing to anchor
    fill(engine, 5)
    assert await checkpointer.step() is True
    assert await checkpointer.step() is False  # the head has not moved
    last = await checkpoints.latest(nats_url, service)
    assert last is not None and (last.seq, last.valid(KEY)) == (5, True)
    assert checkpoints.compare(engine, last, key=KEY) == []

    truncate(engine, keep=3)
    assert audit.verify(engine, key=KEY) == []  # the table alone cannot tell
    assert checkpoints.compare(engine, last, key=KEY) == [
        "entries 4-5 removed at the end (the checkpoint of "
        f"{last.at.isoformat()} names entry 5; the log ends at 3)"
    ]


async def test_a_rewritten_checkpointed_entry_and_a_forged_checkpoint_are_named(
    engine: Engine, broker: NatsBroker, nats_url: str
) -> None:
    service = label()
    clock = FixedClock(T0)
    fill(engine, 3)
    checkpointer = checkpoints.Checkpointer(
        engine=engine, service=service, key=KEY, clock=clock, publisher=broker
    )
    assert await checkpointer.step() is True
    # Entry 3 removed and written again with other content, then the head set to it.
    bypass_guard(engine, "DELETE FROM audit_log WHERE seq = 3")
    audit.record(engine, access(99), key=KEY, now=T0)
    # record() numbers after the head (3): move the new row to seq 3 as the intruder would.
    bypass_guard(engine, "UPDATE audit_log SET seq = 3 WHERE seq = 4")
    last = await checkpoints.latest(nats_url, service)
    assert last is not None
    assert checkpoints.compare(engine, last, key=KEY) == [
        f"entry 3: differs from the checkpoint of {last.at.isoformat()} "
        "(the log was rewritten at or before entry 3)"
    ]
    forged = checkpoints.Checkpoint.signed(service, seq=1, hash="0" * 64, at=T0, key=b"x" * 32)
    assert checkpoints.compare(engine, forged, key=KEY) == [
        "checkpoint: its signature does not match (not written with the service's key)"
    ]


async def test_the_checkpoint_stream_refuses_deletes_and_purges(
    engine: Engine, broker: NatsBroker, nats_url: str
) -> None:
    fill(engine, 1)
    checkpointer = checkpoints.Checkpointer(
        engine=engine, service=label(), key=KEY, clock=FixedClock(T0), publisher=broker
    )
    assert await checkpointer.step() is True
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(checkpoints.STREAM)
        assert (info.config.deny_delete, info.config.deny_purge) == (True, True)
        with pytest.raises(Exception):  # noqa: B017 - the server refuses: no such operation
            await js.delete_msg(checkpoints.STREAM, info.state.last_seq)
        with pytest.raises(Exception):  # noqa: B017
            await js.purge_stream(checkpoints.STREAM)
        assert (await js.stream_info(checkpoints.STREAM)).state.messages == info.state.messages
    finally:
        await nc.close()


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QORGAU_VAR_DIR", str(tmp_path))
    for name in ("INTAKE_DATABASE_URL", "QORGAU_DATA_KEY_FILE", "NATS_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


async def checkpoint_once(engine: Engine, service: str, key: bytes, nats_url: str) -> bool:
    """Publish one checkpoint as the service's runtime would."""
    broker = make_broker(nats_url, service=service)
    await broker.start()
    try:
        checkpointer = checkpoints.Checkpointer(
            engine=engine, service=service, key=key, clock=FixedClock(T0), publisher=broker
        )
        return await checkpointer.step()
    finally:
        await broker.stop()


def test_qorgau_audit_verify_names_the_truncated_range(
    var_dir: Path, nats_restartable: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # A server of its own: services of other tests checkpoint as "intake" on the shared one.
    nats_url = nats_restartable.url
    engine = make_engine(f"sqlite:///{var_dir / 'intake.db'}")
    migrate(engine, "intake")
    key = audit_key(KeyRing.load_or_create(var_dir / "keys" / "intake.keys"))
    for n in range(1, 7):
        audit.record(engine, access(n), key=key, now=T0 + timedelta(seconds=n))
    assert asyncio.run(checkpoint_once(engine, "intake", key, nats_url)) is True
    assert main(["audit", "verify", "intake", "--nats-url", nats_url]) == 0
    assert "intake: audit log intact (checkpoint at entry 6)" in capsys.readouterr().out

    truncate(engine, keep=2, key=key)
    engine.dispose()
    assert main(["audit", "verify", "intake", "--nats-url", nats_url]) == 1
    out = capsys.readouterr().out
    assert "intake: entries 3-6 removed at the end (the checkpoint of" in out
    assert "names entry 6; the log ends at 2)" in out


async def test_a_rewrite_after_a_checkpoint_is_never_anchored_anew(
    engine: Engine, broker: NatsBroker, nats_url: str
) -> None:
    service = label()
    fill(engine, 5)
    first = checkpoints.Checkpointer(
        engine=engine, service=service, key=KEY, clock=FixedClock(T0), publisher=broker
    )
    assert await first.step() is True
    # The tail cut, then the service goes on writing: entries 4-5 again, with other content.
    truncate(engine, keep=3)
    for n in (40, 50, 60):
        audit.record(engine, access(n), key=KEY, now=T0 + timedelta(minutes=n))
    assert audit.verify(engine, key=KEY) == []
    # Neither the running checkpointer nor one started afresh anchors the rewritten log.
    assert await first.step() is False
    restarted = checkpoints.Checkpointer(
        engine=engine,
        service=service,
        key=KEY,
        clock=FixedClock(T0),
        publisher=broker,
        load_last=lambda: checkpoints.latest(nats_url, service),
    )
    assert await restarted.step() is False
    last = await checkpoints.latest(nats_url, service)
    assert last is not None and last.seq == 5
    assert checkpoints.compare(engine, last, key=KEY) == [
        f"entry 5: differs from the checkpoint of {last.at.isoformat()} "
        "(the log was rewritten at or before entry 5)"
    ]


def test_verify_without_the_checkpoints_does_not_say_intact(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(f"sqlite:///{var_dir / 'intake.db'}")
    migrate(engine, "intake")
    key = audit_key(KeyRing.load_or_create(var_dir / "keys" / "intake.keys"))
    audit.record(engine, access(1), key=key, now=T0)
    engine.dispose()
    # Nothing listens on port 1.
    assert main(["audit", "verify", "intake", "--nats-url", "nats://127.0.0.1:1"]) == 1
    assert "intake: checkpoints not compared: NATS unreachable" in capsys.readouterr().out
    assert main(["audit", "verify", "intake", "--no-checkpoint"]) == 0
    assert "intake: audit log intact (checkpoints not compared)" in capsys.readouterr().out
