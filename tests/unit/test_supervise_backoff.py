"""The restart backoff of `qorgau up`: doubling on quick failures, capped, reset when stable."""

from __future__ import annotations

from qorgau.supervise import MAX_DELAY, STABLE_AFTER, Backoff


def test_quick_failures_double_the_delay_up_to_the_cap_and_a_stable_run_resets_it() -> None:
    now = [100.0]
    backoff = Backoff(clock=lambda: now[0])
    backoff.started()
    delays = []
    for _ in range(9):
        delays.append(backoff.failed())
        assert not backoff.due()
        now[0] += delays[-1]
        assert backoff.due()
        backoff.started()
        now[0] += 1
    assert delays == [0.5, 1, 2, 4, 8, 16, MAX_DELAY, MAX_DELAY, MAX_DELAY]
    now[0] += STABLE_AFTER
    assert backoff.failed() == 0.5
