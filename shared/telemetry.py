"""Tracing: OTLP to a collector when configured, else rotated, indexed JSON lines (tracefiles)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from shared import tracefiles

CASE_ID = tracefiles.CASE_ID
AGENCY_ID = "qorgau.agency_id"
AGENCY_TYPE = "qorgau.agency_type"
OBLIGATION_CODE = "qorgau.obligation_code"


def setup_tracing(service: str, *, var_dir: Path, otlp_endpoint: str | None) -> TracerProvider:
    """Build the service's tracer provider; nothing global is touched."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"qorgau-{service}"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        return provider
    exporter = tracefiles.RotatingSpanFiles(var_dir / "traces", service)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    return provider


def read_case_spans(var_dir: Path, case_id: str) -> Iterator[dict[str, Any]]:
    """Yield the spans of every trace that touches a case, through the trace index."""
    return tracefiles.case_spans(var_dir / "traces", case_id)


def read_spans(var_dir: Path) -> Iterator[dict[str, Any]]:
    """Yield every span written to the local trace files (all of them: tests, audits)."""
    folder = var_dir / "traces"
    if not folder.exists():
        return
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line:
                    yield json.loads(line)
