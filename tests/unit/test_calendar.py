"""Table tests for the working-day calendar and term due times (facts from holidays 0.109, KZ)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shared.calendar import CalendarOverrides, Term, TermKind, WorkingCalendar
from shared.clock import ALMATY


def almaty(text: str) -> datetime:
    """An Almaty wall-clock time from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=ALMATY)


CAL = WorkingCalendar()


# --- working days -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        pytest.param("2026-03-20", True, id="fri-before-nauryz"),
        pytest.param("2026-03-21", False, id="nauryz-sat"),
        pytest.param("2026-03-23", False, id="nauryz-mon"),
        pytest.param("2026-03-24", False, id="nauryz-observed-tue"),
        pytest.param("2026-03-25", False, id="nauryz-observed-wed"),
        pytest.param("2026-03-26", True, id="thu-after-nauryz"),
        pytest.param("2026-05-07", False, id="defender-day-2026"),
        pytest.param("2026-05-11", False, id="victory-day-observed-mon-2026"),
        pytest.param("2026-05-12", True, id="tue-after-victory-day"),
        pytest.param("2026-11-21", False, id="plain-saturday"),
        pytest.param("2026-11-23", True, id="plain-monday"),
        pytest.param("2027-01-04", False, id="new-year-observed-mon-2027"),
        pytest.param("2027-01-05", True, id="first-working-day-2027"),
        pytest.param("2027-03-15", False, id="constitution-day-2027"),
        pytest.param("2027-03-24", False, id="nauryz-observed-2027"),
    ],
)
def test_is_working_day(day: str, working: bool) -> None:
    assert CAL.is_working_day(date.fromisoformat(day)) is working


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param("2026-03-20", "2026-03-26", id="over-nauryz-2026"),
        pytest.param("2026-05-08", "2026-05-12", id="over-victory-day-2026"),
        pytest.param("2026-11-20", "2026-11-23", id="over-weekend"),
        pytest.param("2026-11-23", "2026-11-24", id="working-day-to-next"),
        pytest.param("2026-12-31", "2027-01-05", id="over-new-year-2027"),
    ],
)
def test_next_working_day(day: str, expected: str) -> None:
    assert CAL.next_working_day(date.fromisoformat(day)) == date.fromisoformat(expected)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param("2026-11-23", "2026-11-23", id="working-day-itself"),
        pytest.param("2026-11-21", "2026-11-23", id="saturday-to-monday"),
        pytest.param("2026-03-21", "2026-03-26", id="nauryz-to-thursday"),
    ],
)
def test_working_day_on_or_after(day: str, expected: str) -> None:
    assert CAL.working_day_on_or_after(date.fromisoformat(day)) == date.fromisoformat(expected)


def test_working_day_queries_refuse_a_datetime() -> None:
    with pytest.raises(TypeError, match="Almaty local day"):
        CAL.is_working_day(almaty("2026-03-20 10:00"))


# --- due times ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "start", "expected"),
    [
        # Working days: counting starts the day after the trigger, ends 24:00 of day N.
        pytest.param(
            Term.working_days(1), "2026-03-20 10:00", "2026-03-27T00:00:00+05:00",
            id="wd1-over-nauryz-2026",
        ),
        pytest.param(
            Term.working_days(3), "2026-03-20 10:00", "2026-03-31T00:00:00+05:00",
            id="wd3-over-nauryz-2026",
        ),
        pytest.param(
            Term.working_days(1), "2026-05-08 10:00", "2026-05-13T00:00:00+05:00",
            id="wd1-over-victory-day-observed-2026",
        ),
        pytest.param(
            Term.working_days(1), "2026-05-06 10:00", "2026-05-09T00:00:00+05:00",
            id="wd1-over-defender-day-2026",
        ),
        pytest.param(
            Term.working_days(2), "2026-05-06 10:00", "2026-05-13T00:00:00+05:00",
            id="wd2-over-defender-and-victory-days-2026",
        ),
        pytest.param(
            Term.working_days(1), "2026-11-20 19:30", "2026-11-24T00:00:00+05:00",
            id="wd1-friday-evening",
        ),
        pytest.param(
            Term.working_days(3), "2026-11-20 19:30", "2026-11-26T00:00:00+05:00",
            id="wd3-friday-evening",
        ),
        pytest.param(
            Term.working_days(1), "2026-11-21 10:00", "2026-11-24T00:00:00+05:00",
            id="wd1-triggered-on-saturday",
        ),
        pytest.param(
            Term.working_days(1), "2026-11-23 00:00", "2026-11-25T00:00:00+05:00",
            id="wd1-triggered-at-monday-midnight",
        ),
        pytest.param(
            Term.working_days(3), "2026-12-30 10:00", "2027-01-07T00:00:00+05:00",
            id="wd3-across-new-year",
        ),
        pytest.param(
            Term.working_days(1), "2026-12-31 16:00", "2027-01-06T00:00:00+05:00",
            id="wd1-new-years-eve",
        ),
        pytest.param(
            Term.working_days(1), "2027-03-19 10:00", "2027-03-26T00:00:00+05:00",
            id="wd1-over-nauryz-2027",
        ),
        pytest.param(
            Term.working_days(1), "2027-03-12 10:00", "2027-03-17T00:00:00+05:00",
            id="wd1-over-constitution-day-2027",
        ),
        pytest.param(
            Term.working_days(1), "2027-05-06 10:00", "2027-05-12T00:00:00+05:00",
            id="wd1-over-may-holidays-2027",
        ),
        # Calendar days: day N = trigger date + N; a non-working day N moves forward.
        pytest.param(
            Term.calendar_days(10), "2026-11-16 10:00", "2026-11-27T00:00:00+05:00",
            id="cd10-ends-on-working-day",
        ),
        pytest.param(
            Term.calendar_days(6), "2026-11-16 10:00", "2026-11-24T00:00:00+05:00",
            id="cd6-sunday-moves-to-monday",
        ),
        pytest.param(
            Term.calendar_days(1), "2026-11-20 19:30", "2026-11-24T00:00:00+05:00",
            id="cd1-friday-saturday-moves-to-monday",
        ),
        pytest.param(
            Term.calendar_days(7), "2026-10-18 10:00", "2026-10-28T00:00:00+05:00",
            id="cd7-sunday-republic-day-then-observed-monday",
        ),
        pytest.param(
            Term.calendar_days(7), "2026-03-15 10:00", "2026-03-27T00:00:00+05:00",
            id="cd7-nauryz-sunday-moves-to-thursday",
        ),
        pytest.param(
            Term.calendar_days(2), "2026-05-05 10:00", "2026-05-09T00:00:00+05:00",
            id="cd2-defender-day-moves-to-friday",
        ),
        pytest.param(
            Term.calendar_days(10), "2027-03-14 10:00", "2027-03-26T00:00:00+05:00",
            id="cd10-nauryz-2027-moves-to-thursday",
        ),
        # Months: same day N months later (or the month's last day), then to a working day.
        pytest.param(
            Term.months(1), "2026-04-15 10:00", "2026-05-16T00:00:00+05:00",
            id="m1-plain",
        ),
        pytest.param(
            Term.months(1), "2026-01-31 10:00", "2026-03-03T00:00:00+05:00",
            id="m1-jan31-feb28-saturday-to-monday",
        ),
        pytest.param(
            Term.months(1), "2027-01-31 10:00", "2027-03-02T00:00:00+05:00",
            id="m1-jan31-feb28-sunday-to-monday",
        ),
        pytest.param(
            Term.months(1), "2028-01-31 10:00", "2028-03-01T00:00:00+05:00",
            id="m1-jan31-leap-feb29",
        ),
        pytest.param(
            Term.months(6), "2026-09-20 10:00", "2027-03-26T00:00:00+05:00",
            id="m6-lands-on-nauryz-2027",
        ),
        pytest.param(
            Term.years(1), "2026-05-09 10:00", "2027-05-12T00:00:00+05:00",
            id="year-lands-on-victory-day-2027",
        ),
        pytest.param(
            Term.years(1), "2028-02-29 10:00", "2029-03-01T00:00:00+05:00",
            id="year-from-feb29-to-feb28",
        ),
        pytest.param(
            Term.quarterly(), "2026-01-15 10:00", "2026-04-16T00:00:00+05:00",
            id="quarterly-first-occurrence",
        ),
        # Hours: around the clock, weekends and holidays included.
        pytest.param(
            Term.hours(24), "2026-11-20 18:00", "2026-11-21T18:00:00+05:00",
            id="h24-friday-to-saturday",
        ),
        pytest.param(
            Term.hours(3), "2026-11-20 22:30", "2026-11-21T01:30:00+05:00",
            id="h3-across-midnight",
        ),
        pytest.param(
            Term.hours(72), "2026-03-20 12:00", "2026-03-23T12:00:00+05:00",
            id="h72-through-nauryz",
        ),
        pytest.param(
            Term.hours(1), "2026-12-31 23:30", "2027-01-01T00:30:00+05:00",
            id="h1-across-new-year",
        ),
        pytest.param(
            Term.immediate(), "2026-03-20 10:00", "2026-03-20T10:15:00+05:00",
            id="immediate-default-grace",
        ),
    ],
)  # fmt: skip
def test_due_at(term: Term, start: str, expected: str) -> None:
    assert CAL.due_at(term, almaty(start)).isoformat() == expected


@pytest.mark.parametrize(
    ("grace", "expected"),
    [
        pytest.param(timedelta(hours=1), "2026-03-20T11:00:00+05:00", id="one-hour"),
        pytest.param(timedelta(0), "2026-03-20T10:00:00+05:00", id="zero"),
    ],
)
def test_immediate_custom_grace(grace: timedelta, expected: str) -> None:
    calendar = WorkingCalendar(immediate_grace=grace)
    assert calendar.due_at(Term.immediate(), almaty("2026-03-20 10:00")).isoformat() == expected


def test_negative_grace_refused() -> None:
    with pytest.raises(ValueError, match="immediate_grace"):
        WorkingCalendar(immediate_grace=timedelta(minutes=-1))


# --- zones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "start", "expected"),
    [
        # 20:00Z on 19 March is already 01:00 on Friday 20 March in Almaty.
        pytest.param(
            Term.working_days(1), "2026-03-19T20:00:00+00:00", "2026-03-27T00:00:00+05:00",
            id="utc-evening-is-almaty-friday",
        ),
        # 18:59Z on 19 March is still Thursday 23:59 in Almaty.
        pytest.param(
            Term.working_days(1), "2026-03-19T18:59:00+00:00", "2026-03-21T00:00:00+05:00",
            id="utc-evening-is-almaty-thursday",
        ),
        pytest.param(
            Term.working_days(1), "2026-03-19T23:00:00+03:00", "2026-03-27T00:00:00+05:00",
            id="moscow-time-is-almaty-friday",
        ),
        pytest.param(
            Term.hours(24), "2026-11-20T13:00:00+00:00", "2026-11-21T18:00:00+05:00",
            id="h24-from-utc",
        ),
    ],
)  # fmt: skip
def test_due_at_reads_the_almaty_date(term: Term, start: str, expected: str) -> None:
    assert CAL.due_at(term, datetime.fromisoformat(start)).isoformat() == expected


@pytest.mark.parametrize(
    "term",
    [
        Term.immediate(),
        Term.hours(24),
        Term.working_days(3),
        Term.calendar_days(7),
        Term.months(1),
        Term.quarterly(),
    ],
    ids=str,
)
def test_same_instant_in_any_zone_gives_same_due(term: Term) -> None:
    in_almaty = almaty("2026-03-20 01:00")
    in_utc = in_almaty.astimezone(UTC)
    in_new_york = in_almaty.astimezone(ZoneInfo("America/New_York"))
    expected = CAL.due_at(term, in_almaty).isoformat()
    assert CAL.due_at(term, in_utc).isoformat() == expected
    assert CAL.due_at(term, in_new_york).isoformat() == expected


@pytest.mark.parametrize("term", [Term.immediate(), Term.hours(1), Term.working_days(1)], ids=str)
def test_naive_start_refused(term: Term) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.due_at(term, datetime(2026, 3, 20, 10, 0))


# --- overrides ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "term", "start", "expected"),
    [
        pytest.param(
            CalendarOverrides(days_off=frozenset({date(2026, 11, 23)})),
            Term.working_days(1), "2026-11-20 19:30", "2026-11-25T00:00:00+05:00",
            id="extra-day-off-moves-due",
        ),
        pytest.param(
            CalendarOverrides(working_days=frozenset({date(2026, 11, 21)})),
            Term.working_days(1), "2026-11-20 19:30", "2026-11-22T00:00:00+05:00",
            id="working-saturday-counts",
        ),
        pytest.param(
            CalendarOverrides(working_days=frozenset({date(2026, 11, 21)})),
            Term.calendar_days(1), "2026-11-20 19:30", "2026-11-22T00:00:00+05:00",
            id="working-saturday-ends-calendar-term",
        ),
        pytest.param(
            CalendarOverrides(days_off=frozenset({date(2026, 11, 26)})),
            Term.calendar_days(10), "2026-11-16 10:00", "2026-11-28T00:00:00+05:00",
            id="extra-day-off-moves-calendar-term",
        ),
        pytest.param(
            CalendarOverrides(working_days=frozenset({date(2026, 3, 24)})),
            Term.working_days(1), "2026-03-20 10:00", "2026-03-25T00:00:00+05:00",
            id="override-working-day-beats-holiday",
        ),
    ],
)  # fmt: skip
def test_overrides_change_due(
    overrides: CalendarOverrides, term: Term, start: str, expected: str
) -> None:
    calendar = WorkingCalendar(overrides=overrides)
    assert calendar.due_at(term, almaty(start)).isoformat() == expected


def test_overrides_from_file(tmp_path: Path) -> None:
    path = tmp_path / "calendar.json"
    path.write_text(
        json.dumps({"days_off": ["2026-01-05"], "working_days": ["2026-01-03"]}),
        encoding="utf-8",
    )
    loaded = CalendarOverrides.from_file(path)
    assert loaded == CalendarOverrides(
        days_off=frozenset({date(2026, 1, 5)}), working_days=frozenset({date(2026, 1, 3)})
    )
    calendar = WorkingCalendar(overrides=loaded)
    assert calendar.is_working_day(date(2026, 1, 3))
    assert not calendar.is_working_day(date(2026, 1, 5))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            '{"days_off": ["2026-01-05", "2026-02-30"]}', r"days_off\[1\]: '2026-02-30'",
            id="impossible-date",
        ),
        pytest.param(
            '{"working_days": ["03.01.2026"]}', r"working_days\[0\]: '03.01.2026'",
            id="wrong-format",
        ),
        pytest.param('{"days_off": [20260105]}', r"days_off\[0\]: 20260105", id="not-a-string"),
        pytest.param('{"days_off": "2026-01-05"}', "days_off must be a list", id="not-a-list"),
        pytest.param('{"holidays": []}', "unknown key", id="unknown-key"),
        pytest.param('["2026-01-05"]', "expected a JSON object", id="not-an-object"),
        pytest.param('{"days_off": [', "not valid JSON", id="broken-json"),
        pytest.param(
            '{"days_off": ["2026-01-05"], "working_days": ["2026-01-05"]}',
            "2026-01-05 both a day off and a working day",
            id="same-day-both-ways",
        ),
    ],
)  # fmt: skip
def test_overrides_file_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "calendar.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        CalendarOverrides.from_file(path)


def test_overrides_merged_later_wins() -> None:
    base = CalendarOverrides(
        days_off=frozenset({date(2026, 1, 5), date(2026, 1, 6)}),
        working_days=frozenset({date(2026, 1, 3)}),
    )
    decree = CalendarOverrides(
        days_off=frozenset({date(2026, 1, 3)}), working_days=frozenset({date(2026, 1, 6)})
    )
    assert base.merged(decree) == CalendarOverrides(
        days_off=frozenset({date(2026, 1, 3), date(2026, 1, 5)}),
        working_days=frozenset({date(2026, 1, 6)}),
    )


# --- recurring ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "until", "expected"),
    [
        pytest.param(
            "2026-01-31 10:00", "2027-02-02 00:00",
            [
                "2026-05-01T00:00:00+05:00",  # 30 April (no 31st), Thursday
                "2026-08-01T00:00:00+05:00",  # 31 July from the start, not 30 July chained
                "2026-11-03T00:00:00+05:00",  # 31 October is a Saturday: Monday 2 November
                "2027-02-02T00:00:00+05:00",  # 31 January 2027 is a Sunday; `until` inclusive
            ],
            id="quarterly-from-jan31",
        ),
        pytest.param(
            "2026-01-15 10:00", "2026-12-31 00:00",
            [
                "2026-04-16T00:00:00+05:00",
                "2026-07-16T00:00:00+05:00",
                "2026-10-16T00:00:00+05:00",
            ],
            id="quarterly-from-jan15",
        ),
        pytest.param("2026-01-15 10:00", "2026-04-15 23:59", [], id="until-before-first"),
    ],
)  # fmt: skip
def test_occurrences_quarterly(start: str, until: str, expected: list[str]) -> None:
    found = CAL.occurrences(Term.quarterly(), almaty(start), almaty(until))
    assert [due.isoformat() for due in found] == expected


def test_occurrences_need_recurring_term() -> None:
    with pytest.raises(ValueError, match="recurring"):
        CAL.occurrences(Term.months(3), almaty("2026-01-15 10:00"), almaty("2027-01-01 00:00"))


def test_occurrences_refuse_naive_until() -> None:
    with pytest.raises(ValueError, match="until"):
        CAL.occurrences(Term.quarterly(), almaty("2026-01-15 10:00"), datetime(2027, 1, 1))


# --- warnings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "start", "warn_before", "expected"),
    [
        pytest.param(
            Term.hours(24), "2026-11-20 18:00", timedelta(hours=1), "2026-11-21T17:00:00+05:00",
            id="h24-one-hour-before",
        ),
        pytest.param(
            Term.hours(24), "2026-11-20 18:00", timedelta(hours=3), "2026-11-21T15:00:00+05:00",
            id="h24-three-hours-before",
        ),
        pytest.param(
            Term.immediate(), "2026-11-20 18:00", timedelta(hours=1), "2026-11-20T18:00:00+05:00",
            id="immediate-not-before-start",
        ),
        pytest.param(
            Term.working_days(1), "2026-03-20 10:00", timedelta(hours=1),
            "2026-03-26T00:00:00+05:00",
            id="wd1-start-of-last-working-day",
        ),
        pytest.param(
            Term.working_days(3), "2026-11-20 19:30", timedelta(hours=1),
            "2026-11-25T00:00:00+05:00",
            id="wd3-start-of-last-working-day",
        ),
        pytest.param(
            Term.months(1), "2026-01-31 10:00", timedelta(hours=1), "2026-03-02T00:00:00+05:00",
            id="m1-start-of-moved-last-day",
        ),
    ],
)  # fmt: skip
def test_warning_at(term: Term, start: str, warn_before: timedelta, expected: str) -> None:
    begin = almaty(start)
    due = CAL.due_at(term, begin)
    warning = CAL.warning_at(term, begin, due, warn_before_hours=warn_before)
    assert warning.isoformat() == expected


def test_warning_at_due_given_in_utc() -> None:
    begin = almaty("2026-03-20 10:00")
    due = CAL.due_at(Term.working_days(1), begin).astimezone(UTC)
    warning = CAL.warning_at(Term.working_days(1), begin, due)
    assert warning.isoformat() == "2026-03-26T00:00:00+05:00"


def test_warning_at_refuses_naive_due() -> None:
    with pytest.raises(ValueError, match="due"):
        CAL.warning_at(Term.hours(1), almaty("2026-03-20 10:00"), datetime(2026, 3, 20, 11))


# --- terms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("built", "kind", "amount"),
    [
        pytest.param(Term.immediate(), TermKind.IMMEDIATE, 0, id="immediate"),
        pytest.param(Term.hours(24), TermKind.HOURS, 24, id="hours"),
        pytest.param(Term.working_days(3), TermKind.WORKING_DAYS, 3, id="working-days"),
        pytest.param(Term.calendar_days(7), TermKind.CALENDAR_DAYS, 7, id="calendar-days"),
        pytest.param(Term.months(6), TermKind.MONTHS, 6, id="months"),
        pytest.param(Term.years(1), TermKind.MONTHS, 12, id="years"),
        pytest.param(Term.quarterly(), TermKind.RECURRING, 3, id="quarterly"),
        pytest.param(Term.recurring(6), TermKind.RECURRING, 6, id="recurring"),
    ],
)
def test_term_constructors(built: Term, kind: TermKind, amount: int) -> None:
    assert built == Term(kind, amount)


@pytest.mark.parametrize(
    ("kind", "amount", "message"),
    [
        pytest.param(TermKind.HOURS, 0, "amount must be >= 1", id="hours-zero"),
        pytest.param(TermKind.WORKING_DAYS, -1, "amount must be >= 1", id="negative-days"),
        pytest.param(TermKind.RECURRING, 0, "amount must be >= 1", id="recurring-zero"),
        pytest.param(TermKind.IMMEDIATE, 1, "amount must be 0", id="immediate-with-amount"),
        pytest.param(TermKind.MONTHS, 1.5, "amount must be an integer", id="fractional"),
        pytest.param(TermKind.HOURS, True, "amount must be an integer", id="boolean"),
        pytest.param("weeks", 2, "Term.kind", id="unknown-kind"),
    ],
)
def test_term_validation(kind: object, amount: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Term(kind, amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "immediate",
        "hours:24",
        "working_days:3",
        "calendar_days:7",
        "months:6",
        "recurring:3",
    ],
)
def test_term_text_round_trip(text: str) -> None:
    term = Term.parse(text)
    assert str(term) == text
    assert Term.parse(str(term)) == term


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hours",
        "hours:",
        "hours:abc",
        "hours:-1",
        "hours:0",
        "hours:1.5",
        "weeks:2",
        "immediate:0",
        "HOURS:24",
        " hours:24",
        "working_days:3:1",
    ],
)
def test_term_parse_refuses_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a term"):
        Term.parse(text)
