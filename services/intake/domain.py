"""Intake's rules: what makes a report acceptable, and when a report joins an open case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

# A reporter's clock may run a little ahead of ours; more than this is a wrong date.
CLOCK_SKEW = timedelta(minutes=2)


class InvalidReport(ValueError):
    """A report broke a rule; each problem names its field."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def check_received_at(received_at: datetime, now: datetime) -> None:
    """Refuse a received_at that is naive or in the future (terms start there)."""
    if received_at.tzinfo is None:
        raise InvalidReport({"received_at": "must carry a timezone offset"})
    if received_at > now + CLOCK_SKEW:
        raise InvalidReport({"received_at": "is in the future"})


def age_on(birth_date: date, day: date) -> int:
    """Return full years of age on a day."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def check_birth_date(birth_date: date | None, *, kind: str, on: date) -> None:
    """Refuse a birth date in the future, or one that contradicts minor/adult."""
    if birth_date is None:
        return
    if birth_date > on:
        raise InvalidReport({"subject.birth_date": "is in the future"})
    adult = age_on(birth_date, on) >= 18
    if kind == "minor" and adult:
        raise InvalidReport({"subject.birth_date": "a minor must be under 18"})
    if kind == "adult" and not adult:
        raise InvalidReport({"subject.birth_date": "an adult must be 18 or older"})


def under_three(birth_date: date | None, on: date) -> bool:
    """Tell whether a child is aged 0-3 (Guide p.13.4: healthcare keeps such a child)."""
    return birth_date is not None and age_on(birth_date, on) < 3


@dataclass(frozen=True)
class OpenCase:
    """An open case already registered for the same person."""

    case_id: str


def case_to_join(by_iin: OpenCase | None, by_identity: OpenCase | None) -> OpenCase | None:
    """Choose the open case a new report joins: same IIN first, else name + birth date + region."""
    return by_iin or by_identity
