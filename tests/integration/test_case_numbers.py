"""Case numbers: "<region>-<year>-<serial>", counted per region and Almaty year, never repeated
and never skipped, also when registrations race (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from services.intake import repository
from services.intake.handlers import IntakeDeps, ReportIn, register_report
from shared.clock import FixedClock
from shared.crypto import FieldCipher, KeyRing
from shared.db import make_engine, unit_of_work

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
THREADS = 8
EACH = 12


def report(name: str, region: str = "KZ-75", iin: str | None = None) -> ReportIn:
    return ReportIn.model_validate(
        {
            "reporter": {
                "agency_type": "education_org",
                "agency_id": "school-17",
                "region": region,
            },
            "channel": "duties",
            "received_at": NOW.isoformat(),
            "subject": {
                "kind": "minor",
                "full_name": name,
                "birth_date": "2015-04-02",
                "iin": iin,
            },
            "concerns": ["violence"],
            "signs": ["injuries"],
        }
    )


def test_numbers_count_per_region_and_almaty_year(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("intake")
    deps = IntakeDeps(engine=engine, clock=FixedClock(NOW), cipher=FieldCipher(KeyRing.generate()))

    def number(name: str, region: str = "KZ-75", iin: str | None = None) -> str:
        return register_report(report(name, region, iin), deps=deps).case_number

    assert number("Aruzhan Seitkali", iin="150402600014") == "KZ-75-2026-000001"
    assert number("Dias Omarov") == "KZ-75-2026-000002"
    # A report about a person with an open case (the same IIN) joins it and takes no number.
    assert number("Aruzhan Seitkali", iin="150402600014") == "KZ-75-2026-000001"
    assert number("Dias Omarov", region="KZ-71") == "KZ-71-2026-000001"
    assert number("Madina Akhmetova") == "KZ-75-2026-000003"
    # 20:00 UTC on 31 December is already 1 January in Almaty: the new year counts from 1.
    deps.clock = FixedClock(datetime(2026, 12, 31, 20, 0, tzinfo=UTC))
    assert number("Timur Bekov") == "KZ-75-2027-000001"


def test_counters_continue_after_the_cases_numbered_before_them(db_url: str) -> None:
    engine = make_engine(db_url)
    config = Config()
    config.set_main_option("script_location", "services.intake:migrations")

    def upgrade(revision: str) -> None:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    try:
        # The last schema whose case numbers were counted, not taken from a counter.
        upgrade("0002")
        with engine.begin() as connection:
            for serial, (region, year) in enumerate(
                [("KZ-75", 2026)] * 3 + [("KZ-75", 2025)] * 7 + [("KZ-71", 2026)]
            ):
                connection.execute(
                    text(
                        "INSERT INTO intake_cases "
                        "(case_id, case_number, region, subject_kind, status, opened_at) "
                        "VALUES (:case_id, :number, :region, 'minor', 'open', :opened_at)"
                    ),
                    {
                        "case_id": f"case-{serial}",
                        "number": f"{region}-{year}-{serial + 1:06d}",
                        "region": region,
                        "opened_at": NOW,
                    },
                )
        upgrade("head")
        with unit_of_work(engine) as session:
            taken = {
                (region, year): repository.next_case_number(session, region=region, year=year)
                for region, year in (("KZ-75", 2026), ("KZ-75", 2025), ("KZ-71", 2026))
            }
            fresh = repository.next_case_number(session, region="KZ-11", year=2026)
    finally:
        engine.dispose()
    # The highest serial given in each region and year, plus one.
    assert taken == {("KZ-75", 2026): 4, ("KZ-75", 2025): 11, ("KZ-71", 2026): 12}
    assert fresh == 1


def test_concurrent_registrations_take_every_number_once(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("intake")
    start = threading.Barrier(THREADS)
    committed: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def allocate(worker: int) -> None:
        try:
            start.wait()
            for attempt in range(EACH):
                with unit_of_work(engine) as session:
                    number = repository.next_case_number(session, region="KZ-75", year=2026)
                    # Every third registration fails after taking its number: the number goes
                    # back to the counter, so the committed ones still leave no gap.
                    if (worker + attempt) % 3 == 0:
                        continue
                    session.commit()
                with lock:
                    committed.append(number)
        except BaseException as error:  # reported below, in the test's own thread
            errors.append(error)

    workers = [threading.Thread(target=allocate, args=(worker,)) for worker in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    assert sorted(committed) == list(range(1, len(committed) + 1))
    assert len(committed) == sum(
        1 for worker in range(THREADS) for attempt in range(EACH) if (worker + attempt) % 3
    )
