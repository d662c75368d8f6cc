"""The IIN check digit, from a table of numbers."""

from datetime import date

import pytest

from shared.iin import birth_date_of, check_digit, contradicts_birth_date, is_valid


@pytest.mark.parametrize(
    ("iin", "valid"),
    [
        ("150402600014", True),
        ("950215300016", True),
        ("870101100006", True),
        ("000101500001", True),
        ("150402600015", False),  # wrong check digit
        ("15040260001", False),  # eleven digits
        ("1504026000140", False),  # thirteen digits
        ("15040260001a", False),  # not all digits
        ("151302600014", False),  # month 13
        ("150432600014", False),  # day 32
        ("", False),
    ],
)
def test_iin_validity(iin: str, valid: bool) -> None:
    assert is_valid(iin) is valid


def test_second_pass_of_the_algorithm_is_used_when_the_first_gives_ten() -> None:
    # Find an eleven-digit prefix whose first weighted sum is 10 mod 11, and check the second
    # pass decides (or refuses) the digit, as the national algorithm says.
    weights = range(1, 12)
    prefix = next(
        p
        for p in (f"9001011{n:04d}" for n in range(10_000))
        if sum(int(c) * w for c, w in zip(p, weights, strict=True)) % 11 == 10
    )
    second = (
        sum(int(c) * w for c, w in zip(prefix, (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2), strict=True))
        % 11
    )
    assert check_digit(prefix) == (None if second == 10 else second)


@pytest.mark.parametrize(
    "iin",
    [
        "١٥٠٤٠٢٦٠٠٠١٤",  # Arabic-Indic digits of a valid IIN
        "۱۵۰۴۰۲۶۰۰۰۱۴",  # Extended Arabic-Indic (Persian) digits
        "１５０４０２６０００１４",  # fullwidth digits
        "15040260001४",  # one Devanagari digit
    ],
)
def test_only_ascii_digits_make_an_iin(iin: str) -> None:
    assert is_valid(iin) is False


@pytest.mark.parametrize(
    ("iin", "born"),
    [
        ("150402600014", date(2015, 4, 2)),  # 6: a woman born in the 2000s
        ("950215300016", date(1995, 2, 15)),  # 3: a man born in the 1900s
        ("870101100006", date(1887, 1, 1)),  # 1: a man born in the 1800s
        ("000101500001", date(2000, 1, 1)),
    ],
)
def test_the_birth_date_an_iin_carries(iin: str, born: date) -> None:
    assert birth_date_of(iin) == born


def test_an_iin_contradicts_a_different_birth_date() -> None:
    assert contradicts_birth_date("150402600014", date(2015, 4, 2)) is False
    assert contradicts_birth_date("150402600014", date(2015, 4, 3)) is True
    assert contradicts_birth_date("150402600014", date(1915, 4, 2)) is True
    # A century digit outside 1-6 (some foreigners' IINs) still carries YYMMDD.
    assert contradicts_birth_date("150402000014", date(1915, 4, 2)) is False
    assert contradicts_birth_date("150402000014", date(2015, 5, 2)) is True
