"""A case's trace as a waterfall: the spans `qorgau trace` prints, placed on a time axis."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.telemetry import read_case_spans


@dataclass(frozen=True)
class Bar:
    """One span on the waterfall: its depth, where it starts and how long it lasts (percent)."""

    name: str
    service: str
    depth: int
    start: float
    width: float
    millis: float
    code: str | None
    agency: str | None


def _nanos(span: dict[str, Any], key: str) -> int:
    value = span.get(key)
    if isinstance(value, int | float):
        return int(value)
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1e9)


def _bars(spans: list[dict[str, Any]]) -> list[Bar]:
    """Place one trace's spans on its time axis, parents before their children."""
    starts = [_nanos(span, "start_time") for span in spans]
    ends = [_nanos(span, "end_time") for span in spans]
    first, total = min(starts), max(1, max(ends) - min(starts))
    by_id = {span["context"]["span_id"]: span for span in spans}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        parent = span.get("parent_id")
        children[parent if parent in by_id else None].append(span)
    bars: list[Bar] = []
    pending = [(root, 0) for root in sorted(children[None], key=_start, reverse=True)]
    while pending:
        span, depth = pending.pop()
        start, end = _nanos(span, "start_time"), _nanos(span, "end_time")
        attrs = span.get("attributes", {})
        bars.append(
            Bar(
                name=span["name"],
                service=span.get("resource", {}).get("attributes", {}).get("service.name", "?"),
                depth=depth,
                start=100 * (start - first) / total,
                width=max(0.5, 100 * (end - start) / total),
                millis=(end - start) / 1e6,
                code=attrs.get("qorgau.obligation_code"),
                agency=attrs.get("qorgau.agency_id"),
            )
        )
        below = sorted(children[span["context"]["span_id"]], key=_start, reverse=True)
        pending.extend((child, depth + 1) for child in below)
    return bars


def _start(span: dict[str, Any]) -> str:
    return str(span["start_time"])


def waterfalls(var_dir: Path, case_id: str, limit: int = 400) -> dict[str, list[Bar]]:
    """Return each trace of a case as bars in the order `qorgau trace` prints them."""
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in read_case_spans(var_dir, case_id):
        by_trace[span["context"]["trace_id"]].append(span)
    # Traces in the order they began: the report first, then what followed (breaches...).
    ordered = sorted(by_trace, key=lambda found: min(_start(s) for s in by_trace[found]))
    return {trace_id: _bars(by_trace[trace_id][:limit]) for trace_id in ordered}
