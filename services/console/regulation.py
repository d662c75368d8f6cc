"""What each row asks, in Kazakh and Russian, in the words of the seed texts.

The data is `regulation.json` (keyed by row code, or "CODE LEGAL_BASIS" where two rows share a
code). Rules 38874, Standard 14701 and the Family Centre Rules are in Kazakh only here, the
Guide in Russian: a language the seed lacks is shown in the seed's own language, marked with its
`lang` attribute, never a made-up translation. A row without an entry shows routing's
catalogue (English).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

DATA = Path(__file__).resolve().parent / "regulation.json"
# The seed's own language first when the person's is missing (Kazakh is the state language).
FALLBACK = ("kk", "ru")


@cache
def rows() -> dict[str, dict[str, str]]:
    """Return the wording of each row by key and language."""
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    found: dict[str, dict[str, str]] = data["rows"]
    return found


def wording(code: str | None, basis: str | None, lang: str) -> tuple[str, str] | None:
    """Return (text, its language) of what a row asks, preferring the person's language."""
    entry = rows().get(f"{code} {basis}") or rows().get(code or "")
    if not entry:
        return None
    for choice in (lang, *FALLBACK):
        if entry.get(choice):
            return entry[choice], choice
    return None


def asks(code: str | None, basis: str | None, lang: str, english: str) -> Markup:
    """Return what a row asks as HTML: the seed's words (with their lang), else the English."""
    found = wording(code, basis, lang) if lang != "en" else None
    if found is None:
        return Markup('<span lang="en">{}</span>').format(english) if english else Markup("")
    text, text_lang = found
    if text_lang == lang:
        return escape(text)
    return Markup('<span lang="{}">{}</span>').format(text_lang, text)
