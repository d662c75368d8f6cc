"""The IIN check digit, from a table of numbers."""

import pytest

from shared.iin import check_digit, is_valid


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
