"""Benchmark of `qorgau trace CASE` on local trace files the size a hostile test grew them to.

`python -m bench.traces` (defaults: 616 reports, about 247 MB of spans) writes the spans of
each report through the services' own exporter (shared.tracefiles: rotated, indexed), three
services, then reads one case's trace, each reader in a process of its own so that its peak
memory is its own:

- before: what `qorgau trace` did until now (load every span of every file, keep the case's
  traces);
- after: `qorgau trace CASE` as it is (the index gives the case's own lines).

The spans are synthetic but shaped like the platform's (a request span with children across
three services, case and agency attributes); their count per report is chosen to reach the
target size. Not a test: a command.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from shared.telemetry import CASE_ID, read_case_spans, read_spans
from shared.tracefiles import RotatingSpanFiles, TraceFileSettings

SERVICES = ("intake", "routing", "deadlines")
NAMES = (
    "POST /v1/reports",
    "qorgau.intake.report_received.v1 publish",
    "qorgau.intake.report_received.v1 process",
    "routing.decide R1",
    "qorgau.routing.obligation_opened.v1 process",
    "deadlines.schedule",
)


def _span(
    service: str, name: str, trace_id: int, parent: SpanContext | None, case_id: str, now: int
) -> ReadableSpan:
    context = SpanContext(trace_id, random.getrandbits(64), False, TraceFlags(1))
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent,
        resource=Resource.create({"service.name": f"qorgau-{service}"}),
        attributes={
            CASE_ID: case_id,
            "qorgau.agency_id": "kz-75-police",
            "qorgau.agency_type": "police",
            "qorgau.obligation_code": "R1",
            "messaging.system": "nats",
            "messaging.destination.name": "qorgau.routing.obligation_opened.v1",
            "messaging.message.id": str(uuid.uuid4()),
        },
        kind=SpanKind.INTERNAL,
        start_time=now,
        end_time=now + 1_000_000,
    )


def generate(var_dir: Path, *, reports: int, target_bytes: int) -> tuple[list[str], float]:
    """Write the reports' spans through the exporters; return the case ids and the seconds."""
    folder = var_dir / "traces"
    settings = TraceFileSettings()
    exporters = {name: RotatingSpanFiles(folder, name, settings) for name in SERVICES}
    probe = _span("intake", NAMES[0], 1, None, str(uuid.uuid4()), 0).to_json(indent=None)
    per_report = max(len(SERVICES), target_bytes // reports // (len(probe) + 1))
    cases: list[str] = []
    started = time.perf_counter()
    now = time.time_ns()
    for _ in range(reports):
        case_id = str(uuid.uuid4())
        cases.append(case_id)
        trace_id = random.getrandbits(128)
        root = _span("intake", NAMES[0], trace_id, None, case_id, now)
        batches: dict[str, list[ReadableSpan]] = defaultdict(list)
        batches["intake"].append(root)
        for index in range(per_report - 1):
            service = SERVICES[index % len(SERVICES)]
            name = NAMES[1 + index % (len(NAMES) - 1)]
            batches[service].append(
                _span(service, name, trace_id, root.get_span_context(), case_id, now)
            )
        for service, batch in batches.items():
            exporters[service].export(batch)
        now += 1_000_000_000
    for exporter in exporters.values():
        exporter.shutdown()
    return cases, time.perf_counter() - started


def _before(var_dir: Path, case_id: str) -> int:
    """The former `qorgau trace`: every span loaded, the case's traces kept."""
    spans = list(read_spans(var_dir))
    traces = {
        span["context"]["trace_id"]
        for span in spans
        if span.get("attributes", {}).get(CASE_ID) == case_id
    }
    return len([span for span in spans if span["context"]["trace_id"] in traces])


def _measure(mode: str, var_dir: Path, case_id: str) -> dict[str, float]:
    """Run one reader in a child process: seconds and peak RSS (MB)."""
    env = {**os.environ, "QORGAU_VAR_DIR": str(var_dir)}
    command = (
        [sys.executable, "-m", "bench.traces", "--read-before", case_id, "--var", str(var_dir)]
        if mode == "before"
        else [sys.executable, "-m", "qorgau.cli", "trace", case_id]
    )
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "lines": len(done.stdout.splitlines()),
    }


def main() -> None:
    """Generate the traces, then time and weigh both readers."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=616)
    parser.add_argument("--megabytes", type=int, default=247)
    parser.add_argument("--var", type=Path, default=None)
    parser.add_argument("--read-before", metavar="CASE", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_before:
        print(_before(args.var, args.read_before))
        return
    var_dir = args.var or Path(tempfile.mkdtemp(prefix="qorgau-traces-"))
    cases, wrote = generate(var_dir, reports=args.reports, target_bytes=args.megabytes * 2**20)
    folder = var_dir / "traces"
    size = sum(path.stat().st_size for path in folder.glob("*.jsonl"))
    index = sum(path.stat().st_size for path in folder.glob("index.db*"))
    case_id = cases[len(cases) // 2]
    # "after" first: the children's peak RSS is a maximum over every child so far.
    after = _measure("after", var_dir, case_id)
    before = _measure("before", var_dir, case_id)
    started = time.perf_counter()
    spans = list(read_case_spans(var_dir, case_id))
    read_only = time.perf_counter() - started
    print(
        json.dumps(
            {
                "reports": args.reports,
                "trace_files": len(list(folder.glob("*.jsonl"))),
                "trace_mb": round(size / 2**20, 1),
                "index_mb": round(index / 2**20, 1),
                "write_seconds": round(wrote, 1),
                "after": after,
                "after_index_read_only": {"seconds": round(read_only, 3), "spans": len(spans)},
                "before": before,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
