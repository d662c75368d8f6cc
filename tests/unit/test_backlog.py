"""Load shedding decided from backlog readings: the bound, hysteresis, Retry-After, unknowns.

The readings are built by hand (the monitor reading a real nats-server is in
tests/integration/test_load_shedding.py); time is a counter the test moves.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qorgau.cli import service_consumers
from services.intake.config import IntakeSettings
from shared import natsauth
from shared.backlog import (
    MESSAGES_PER_REPORT,
    REPORT_PATH,
    RETRY_AFTER_MAX,
    WATCHES,
    BacklogMonitor,
    ConsumerReading,
    LoadShedder,
    Reading,
)
from shared.clock import FixedClock

ROUTING, JOINED, DEADLINES = REPORT_PATH


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


def make_shedder(ticks: Ticks, *, per_report: int) -> LoadShedder:
    # The shedder only takes the monitor's readings and asks it how fresh one is: no engine,
    # no NATS connection is touched here.
    monitor = BacklogMonitor(
        engine=None,  # type: ignore[arg-type]
        clock=FixedClock(datetime(2026, 11, 29, tzinfo=UTC)),
        client=lambda: None,
        own=lambda: (),
        monotonic=ticks,
    )
    return LoadShedder(monitor, bound=100, resume_below=50, per_report=per_report)


@pytest.fixture
def shedder(ticks: Ticks) -> LoadShedder:
    # A report weighs one message here; the weighing has its own tests below.
    return make_shedder(ticks, per_report=1)


def reading(
    ticks: Ticks,
    *,
    pending: int,
    acked: int = 0,
    outbox: int = 0,
    head: int = 0,
    state: str = "ok",
    reports: int = 0,
    reports_acked: int = 0,
) -> Reading:
    """A round where deadlines' consumer holds `pending` messages, has acked `acked` so far,
    and routing's consumer of new reports holds `reports` (acked `reports_acked`)."""

    def consumer(which: natsauth.Consumer, count: int, done: int) -> ConsumerReading:
        if state != "ok":
            return ConsumerReading(which.stream, which.durable, state)  # type: ignore[arg-type]
        return ConsumerReading(which.stream, which.durable, "ok", count, 0, done)

    return Reading(
        at=ticks.now,
        read_at="2026-11-29T00:00:00+00:00",
        consumers=(
            consumer(ROUTING, reports, reports_acked),
            consumer(JOINED, 0, 0),
            consumer(DEADLINES, pending, acked),
        ),
        outbox_pending=outbox,
        outbox_head=head,
    )


def feed(shedder: LoadShedder, ticks: Ticks, **values: int) -> None:
    ticks.now += 1.0
    shedder.observe(reading(ticks, **values))


def test_the_report_path_consumers_are_the_ones_the_services_declare() -> None:
    # A renamed consumer would leave intake watching nothing: the names are checked here.
    declared = service_consumers(["routing", "deadlines"])
    every = {consumer for consumers in declared.values() for consumer in consumers}
    assert set(REPORT_PATH) <= every
    assert WATCHES == {"intake": REPORT_PATH}


def test_intake_may_read_the_watched_consumers_info_and_nothing_else_of_them() -> None:
    users = natsauth.build_users(
        agency_ids=[],
        services={"intake": [], "routing": []},
        passwords=dict.fromkeys(["admin", "intake", "routing", "integrator", "operator"], "x"),
    )
    intake = next(user for user in users if user.name == "intake")
    routing = next(user for user in users if user.name == "routing")
    about_path = [
        subject
        for subject in intake.publish
        if any(each.durable in subject for each in REPORT_PATH)
    ]
    assert sorted(about_path) == sorted(
        f"$JS.API.CONSUMER.INFO.{each.stream}.{each.durable}" for each in REPORT_PATH
    )
    # Nobody else watches them.
    assert not [s for s in routing.publish if "CONSUMER.INFO" in s]


def test_over_the_bound_refuses_until_the_backlog_is_down_to_resume(
    shedder: LoadShedder, ticks: Ticks
) -> None:
    feed(shedder, ticks, pending=100)
    assert shedder.refuse() is None  # at the bound, not over it
    feed(shedder, ticks, pending=101)
    assert shedder.refuse() is not None
    # Hysteresis: under the bound but not yet under resume_below, still refused.
    feed(shedder, ticks, pending=80)
    assert shedder.refuse() is not None
    feed(shedder, ticks, pending=50)
    assert shedder.refuse() is not None
    feed(shedder, ticks, pending=49)
    assert shedder.refuse() is None
    feed(shedder, ticks, pending=90)
    assert shedder.refuse() is None


def test_intake_outbox_counts_in_the_backlog(shedder: LoadShedder, ticks: Ticks) -> None:
    feed(shedder, ticks, pending=60, outbox=41)
    assert shedder.backlog == 101
    assert shedder.refuse() is not None


def test_retry_after_is_the_time_to_drain_down_to_resume(
    shedder: LoadShedder, ticks: Ticks
) -> None:
    # Deadlines' consumer acks 10 messages a second while 20 more arrive: the backlog grows,
    # yet the drain rate is what the consumer finishes, 10/s.
    for step in range(6):
        feed(shedder, ticks, pending=150 + 10 * step, acked=10 * step)
    assert shedder.drain_rate == pytest.approx(10.0)
    # (200 - 50) / 10 = 15 seconds.
    assert shedder.refuse() == 15
    health = shedder.health()
    assert health["status"] == "shedding"
    assert (health["backlog"], health["retry_after"], health["drain_per_second"]) == (200, 15, 10)


def test_retry_after_counts_the_outbox_drained_by_its_relay(
    shedder: LoadShedder, ticks: Ticks
) -> None:
    # 30 rows written a second, the unsent ones shrinking by 10: the relay sends 40 a second.
    for step in range(4):
        feed(shedder, ticks, pending=0, outbox=290 - 10 * step, head=1000 + 30 * step)
    assert shedder.drain_rate == pytest.approx(40.0)
    assert shedder.refuse() == 6  # (260 - 50) / 40 = 5.25, rounded up


def test_retry_after_is_bounded(shedder: LoadShedder, ticks: Ticks) -> None:
    feed(shedder, ticks, pending=10_000, acked=0)
    # One reading: no rate yet, the longest wait.
    assert shedder.refuse() == RETRY_AFTER_MAX
    feed(shedder, ticks, pending=10_000, acked=0)
    # Nothing drains (the consumer's service is down): the longest wait, not forever.
    assert shedder.refuse() == RETRY_AFTER_MAX
    feed(shedder, ticks, pending=200, acked=100_000)
    # Draining fast: never less than a second.
    assert shedder.refuse() == 1


def test_an_unknown_backlog_refuses_nothing(shedder: LoadShedder, ticks: Ticks) -> None:
    assert shedder.refuse() is None
    assert shedder.health()["status"] == "unknown"
    feed(shedder, ticks, pending=500)
    assert shedder.refuse() is not None
    # NATS goes away: the last known backlog is believed for a few seconds, then not.
    feed(shedder, ticks, pending=0, state="unknown")
    assert shedder.refuse() is not None
    for _ in range(3):
        feed(shedder, ticks, pending=0, state="unknown")
    assert shedder.refuse() is None
    health = shedder.health()
    assert (health["status"], health["backlog"], health["retry_after"]) == ("unknown", None, None)
    assert {each["state"] for each in health["watched"]} == {"unknown"}


def test_a_consumer_not_created_yet_holds_no_backlog(shedder: LoadShedder, ticks: Ticks) -> None:
    feed(shedder, ticks, pending=0, state="missing", outbox=101)
    assert shedder.backlog == 101
    assert shedder.refuse() is not None


def test_the_resume_level_must_be_below_the_bound() -> None:
    with pytest.raises(ValueError, match="below"):
        IntakeSettings(shed_backlog=100, shed_resume_backlog=100)
    defaults = IntakeSettings()
    assert (defaults.shed_backlog, defaults.shed_resume_backlog) == (3600, 2700)
    assert defaults.shed_report_weight == MESSAGES_PER_REPORT == 51


@pytest.fixture
def weighing(ticks: Ticks) -> LoadShedder:
    # A report becomes 10 messages on deadlines' consumer here (51 in a school's case).
    return make_shedder(ticks, per_report=10)


def test_a_report_not_yet_routed_weighs_the_messages_it_becomes(
    weighing: LoadShedder, ticks: Ticks
) -> None:
    # 3 reports in intake's outbox, 4 in routing's queue, 20 messages for deadlines.
    feed(weighing, ticks, pending=20, outbox=3, reports=4)
    assert weighing.backlog == 20 + 3 * 10 + 4 * 10
    assert weighing.refuse() is None
    feed(weighing, ticks, pending=20, outbox=3, reports=5)
    assert weighing.backlog == 100
    feed(weighing, ticks, pending=21, outbox=3, reports=5)
    assert weighing.refuse() is not None


def test_reports_let_in_since_the_reading_count_until_the_next_one(
    weighing: LoadShedder, ticks: Ticks
) -> None:
    feed(weighing, ticks, pending=60)
    # Retries that waited out the same Retry-After arrive together, before the next reading:
    # 60 + 4 * 10 = 100 lets a fifth in (at the bound), then the room is full.
    answers = [weighing.refuse() for _ in range(8)]
    assert answers[:5] == [None] * 5
    assert all(answer is not None for answer in answers[5:])
    assert weighing.health()["status"] == "shedding"
    # The next reading shows them (in routing's queue): still over resume_below, refused.
    feed(weighing, ticks, pending=60, reports=5)
    assert (weighing.backlog, weighing.admitted) == (110, 0)
    assert weighing.refuse() is not None
    # Drained: let in again.
    feed(weighing, ticks, pending=40, reports=0, reports_acked=5)
    assert weighing.refuse() is None


def test_the_drain_rate_weighs_the_reports_routing_takes(
    weighing: LoadShedder, ticks: Ticks
) -> None:
    # Each second routing takes 2 reports (20 messages' worth) and deadlines acks 5 messages.
    for step in range(4):
        feed(weighing, ticks, pending=200, acked=5 * step, reports=3, reports_acked=2 * step)
    assert weighing.drain_rate == pytest.approx(25.0)
