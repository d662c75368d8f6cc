"""Stored times keep their zone; naive times are refused before they reach a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.db import AwareDateTime


def test_aware_times_are_stored_in_utc_and_read_back_aware() -> None:
    column = AwareDateTime()
    almaty = timezone(timedelta(hours=5))
    stored = column.process_bind_param(datetime(2026, 3, 20, 10, 0, tzinfo=almaty), None)
    assert stored == datetime(2026, 3, 20, 5, 0, tzinfo=UTC)
    # SQLite hands back a naive value: it is UTC, and comes back aware.
    read = column.process_result_value(datetime(2026, 3, 20, 5, 0), None)
    assert read == datetime(2026, 3, 20, 10, 0, tzinfo=almaty)
    assert read is not None and read.tzinfo is not None


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        AwareDateTime().process_bind_param(datetime(2026, 3, 20, 10, 0), None)
