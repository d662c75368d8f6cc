"""Kazakh, Russian and English: gettext catalogues (.po, compiled in memory at start), dates
and times in the local form, always in Almaty time.
"""

from __future__ import annotations

import gettext
import io
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from shared.clock import ALMATY

LANGUAGES = ("kk", "ru", "en")
DEFAULT = "kk"
NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """Return the catalogue of a language, compiled from its .po file (no binary is kept)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def pick(lang: str | None) -> str:
    """Return a supported language code, the default for anything else."""
    return lang if lang in LANGUAGES else DEFAULT


def parse_time(value: str | None) -> datetime | None:
    """Read an ISO 8601 time a service sent, or None."""
    if not value:
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=ALMATY)


def when(value: str | datetime | None, lang: str) -> str:
    """Format a time in the local form of the language, in Almaty time."""
    moment = parse_time(value) if isinstance(value, str) else value
    if moment is None:
        return "—"
    return format_datetime(moment.astimezone(ALMATY), "short", tzinfo=ALMATY, locale=lang)


def time_left(due: str | None, now: datetime, lang: str) -> str:
    """Say how long until a due time ("in 3 hours"), or how long since ("2 days ago")."""
    moment = parse_time(due)
    if moment is None:
        return "—"
    delta: timedelta = moment - now
    return format_timedelta(delta, add_direction=True, locale=lang, threshold=1.5)
