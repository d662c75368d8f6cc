"""Tracing: OTLP to a collector when configured, else JSON lines under the var directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

CASE_ID = "qorgau.case_id"
AGENCY_ID = "qorgau.agency_id"
AGENCY_TYPE = "qorgau.agency_type"
OBLIGATION_CODE = "qorgau.obligation_code"


def _one_line(span: ReadableSpan) -> str:
    return span.to_json(indent=None) + "\n"


def setup_tracing(service: str, *, var_dir: Path, otlp_endpoint: str | None) -> TracerProvider:
    """Build the service's tracer provider; nothing global is touched."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"qorgau-{service}"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        return provider
    folder = var_dir / "traces"
    folder.mkdir(parents=True, exist_ok=True)
    out = (folder / f"{service}.jsonl").open("a", encoding="utf-8")
    exporter = ConsoleSpanExporter(service_name=service, out=out, formatter=_one_line)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    return provider


def read_spans(var_dir: Path) -> Iterator[dict[str, Any]]:
    """Yield every span written to the local trace files."""
    folder = var_dir / "traces"
    if not folder.exists():
        return
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line:
                    yield json.loads(line)
