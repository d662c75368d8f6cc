"""The individual identification number (ЖСН / ИИН) of Kazakhstan: format and check digit."""

from __future__ import annotations

from datetime import date

_FIRST = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_SECOND = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)

# The seventh digit: the century of birth and the sex (1-2: 1800s, 3-4: 1900s, 5-6: 2000s).
_CENTURY = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}


def is_digits(value: str) -> bool:
    """Tell whether value is ASCII digits only (str.isdigit also takes Arabic-Indic ones)."""
    return value.isascii() and value.isdigit()


def check_digit(first_eleven: str) -> int | None:
    """Return the 12th digit for eleven digits, or None when no digit is valid."""
    digits = [int(character) for character in first_eleven]
    # The national algorithm: weights 1..11 mod 11; on 10, a second pass with shifted weights.
    total = sum(digit * weight for digit, weight in zip(digits, _FIRST, strict=True)) % 11
    if total == 10:
        total = sum(digit * weight for digit, weight in zip(digits, _SECOND, strict=True)) % 11
        if total == 10:
            return None
    return total


def is_valid(iin: str) -> bool:
    """Tell whether iin is twelve ASCII digits with a valid date part and check digit."""
    if len(iin) != 12 or not is_digits(iin):
        return False
    month, day = int(iin[2:4]), int(iin[4:6])
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return False
    if iin[6] in _CENTURY and birth_date_of(iin) is None:
        return False
    return check_digit(iin[:11]) == int(iin[11])


def birth_date_of(iin: str) -> date | None:
    """Return the birth date an IIN carries, or None when its century digit does not say."""
    century = _CENTURY.get(iin[6:7])
    if century is None or not is_digits(iin[:6]):
        return None
    try:
        return date(century + int(iin[:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError:
        return None


def contradicts_birth_date(iin: str, birth_date: date) -> bool:
    """Tell whether an IIN's date part (YYMMDD, and the century digit) differs from birth_date."""
    if not is_digits(iin[:6]):
        return True
    if iin[:6] != birth_date.strftime("%y%m%d"):
        return True
    century = _CENTURY.get(iin[6:7])
    return century is not None and birth_date.year // 100 * 100 != century
