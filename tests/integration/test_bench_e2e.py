"""The benchmarks stay runnable: a short end-to-end run and a small per-hop run.

Not a speed test: the figures come from `make bench-e2e` (docs/benchmarks.md). These check that
the benches still start what they measure and count every message they send.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.e2e import HEADER, PATH_SERVICES, R1_OBLIGATIONS, e2e, table
from bench.hop import hop


@pytest.mark.e2e
def test_e2e_bench_sees_every_report_through_to_its_obligations(tmp_path: Path) -> None:
    results = e2e(
        rates=[2], seconds=5, drain=120, services=PATH_SERVICES, folder=tmp_path, progress=False
    )

    [result] = results
    assert result.answers == {"201": 10}
    # Every case was seen finished: its three R1 obligation_scheduled events on the bus.
    assert (result.finished, result.unfinished) == (10, 0)
    assert result.scheduled_events >= 10 * R1_OBLIGATIONS
    assert len(result.e2e) == 10
    assert not any(lower_bound for _, lower_bound in result.e2e)
    assert {"intake", "routing", "deadlines", "nats-server"} <= set(result.peak_rss_kib)
    assert all(kib > 0 for kib in result.peak_rss_kib.values())
    printed = table(results)
    assert HEADER in printed
    assert "Peak RSS" in printed


def test_hop_bench_carries_every_message_in_every_variant(tmp_path: Path) -> None:
    result = hop(messages=200, rounds=1, folder=tmp_path)

    assert [(run.variant, run.outputs, run.stored) for run in result.runs] == [
        ("bare", 200, 200),
        ("project", 200, 200),
        ("batch", 200, 200),
    ]
    assert result.best("bare") > 0
    assert result.best("project") > 0
    assert result.best("batch") > 0
    assert "project/bare" in result.table()
