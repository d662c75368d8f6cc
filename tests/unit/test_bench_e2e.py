"""The end-to-end bench's arithmetic: percentiles, saturation, and what it reads of `qorgau up`."""

from __future__ import annotations

import pytest

from bench.e2e import PATH_SERVICES, RateResult, choose_services, percentile, process_ids
from qorgau.registry import BUS_SERVICE_NAMES, SERVICE_NAMES

UP_OUTPUT = """tokens: 98 development tokens under /tmp/x/var/tokens
streams: INTAKE created

Qorgau is running:
  nats       nats://127.0.0.1:20411 (NKeys in var/keys/nats/) 4242
  intake     http://127.0.0.1:20123         pid 5001 ok
  routing    http://127.0.0.1:20124         pid 5002 ok
  deadlines  http://127.0.0.1:20125         pid 5003 NOT HEALTHY (see /tmp/x/logs/deadlines.log)

data under /tmp/x/var; logs under /tmp/x/var/logs; Ctrl-C stops everything.
"""


def test_process_ids_are_read_from_the_running_table() -> None:
    assert process_ids(UP_OUTPUT) == {
        "nats-server": 4242,
        "intake": 5001,
        "routing": 5002,
        "deadlines": 5003,
    }


def test_percentile_is_nearest_rank_and_keeps_lower_bounds() -> None:
    values = [(float(n), False) for n in range(1, 100)] + [(500.0, True)]
    assert percentile(values, 0.5) == (50.0, False)
    assert percentile(values, 0.99) == (99.0, False)
    assert percentile(values, 1.0) == (500.0, True)
    assert percentile([], 0.5)[0] != percentile([], 0.5)[0]  # NaN: nothing measured


def test_services_are_chosen_by_name_or_list() -> None:
    assert choose_services("bus") == BUS_SERVICE_NAMES
    assert choose_services("all") == SERVICE_NAMES
    assert choose_services("path") == PATH_SERVICES
    assert choose_services("intake,routing,deadlines,casework") == (*PATH_SERVICES, "casework")
    with pytest.raises(ValueError):
        choose_services("intake,routing")


def _result(e2e: list[tuple[float, bool]], *, middle: int = 0, end: int = 0) -> RateResult:
    result = RateResult(rate=10, seconds=60, services=PATH_SERVICES, backend="sqlite")
    result.e2e, result.in_flight_middle, result.in_flight_end = e2e, middle, end
    result.unfinished = sum(1 for _, bound in e2e if bound)
    return result


def test_saturated_when_p99_passes_a_second_the_backlog_grows_or_reports_are_left() -> None:
    fast = [(0.1, False)] * 100
    assert not _result(fast, middle=2, end=3).saturated
    assert _result([(0.1, False)] * 90 + [(1.5, False)] * 10).saturated
    assert _result(fast, middle=5, end=40).saturated
    assert _result([*fast, (3.0, True)]).saturated
