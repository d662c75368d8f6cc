"""A person's name as intake compares it: one spelling for the ways one name is typed."""

from __future__ import annotations

import unicodedata

# Kazakh letters are often typed as their nearest Russian ones (official documents before the
# Kazakh keyboards, and systems without them), and ё as е: one spelling for both.
_LETTER_VARIANTS = str.maketrans(
    {
        "ё": "е",
        "ә": "а",
        "ғ": "г",
        "қ": "к",
        "ң": "н",
        "ө": "о",
        "ұ": "у",
        "ү": "у",
        "һ": "х",
        "і": "и",
    }
)
# Latin letters that look like Cyrillic ones, typed into a Cyrillic name on a Latin layout.
_LATIN_LOOKALIKES = str.maketrans(
    {
        "a": "а",
        "b": "в",
        "c": "с",
        "e": "е",
        "h": "н",
        "i": "і",
        "k": "к",
        "m": "м",
        "o": "о",
        "p": "р",
        "t": "т",
        "x": "х",
        "y": "у",
    }
)


def _is_cyrillic(character: str) -> bool:
    return "CYRILLIC" in unicodedata.name(character, "")


def has_letters(name: str) -> bool:
    """Tell whether a name holds at least one letter (spaces, digits, marks alone are no name)."""
    return any(character.isalpha() for character in unicodedata.normalize("NFKC", name))


def normalise(name: str) -> str:
    """Return the spelling a name is compared in: NFKC, no invisible characters, one case."""
    text = unicodedata.normalize("NFKC", name)
    # Zero-width spaces and joiners, soft hyphens, byte-order marks: format characters (Cf).
    text = "".join(character for character in text if unicodedata.category(character) != "Cf")
    text = text.casefold()
    if any(_is_cyrillic(character) for character in text if character.isalpha()):
        text = text.translate(_LATIN_LOOKALIKES)
    text = text.translate(_LETTER_VARIANTS)
    return " ".join(text.split())


def identity_key(name: str, birth_date: str, region: str) -> str:
    """Return the key a person's identity hash is made of."""
    return f"{normalise(name)}|{birth_date}|{region}"


def legacy_identity_key(name: str, birth_date: str, region: str) -> str:
    """Return the key intake hashed before names were normalised (cases registered then)."""
    return f"{' '.join(name.casefold().split())}|{birth_date}|{region}"
