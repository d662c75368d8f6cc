"""The individual identification number (ЖСН / ИИН) of Kazakhstan: format and check digit."""

from __future__ import annotations

_FIRST = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_SECOND = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


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
    """Tell whether iin is twelve digits with a valid date part and check digit."""
    if len(iin) != 12 or not iin.isdigit():
        return False
    month, day = int(iin[2:4]), int(iin[4:6])
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return False
    return check_digit(iin[:11]) == int(iin[11])
