"""Local traces: rotated by size, a bounded number of files kept, a case read through the index."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from qorgau.cli import main
from shared.telemetry import CASE_ID, read_case_spans, read_spans
from shared.tracefiles import INDEX_FILE, RotatingSpanFiles, TraceFileSettings

SMALL = TraceFileSettings(file_bytes=6000, files=3)


def write_cases(folder: Path, service: str, cases: list[str], settings: TraceFileSettings) -> None:
    """For each case, a request span with the case id and two children without it."""
    exporter = RotatingSpanFiles(folder, service, settings)
    provider = TracerProvider(resource=Resource.create({"service.name": f"qorgau-{service}"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for case_id in cases:
        with tracer.start_as_current_span("POST /v1/reports"):
            with tracer.start_as_current_span("intake.accept") as span:
                span.set_attribute(CASE_ID, case_id)
            with tracer.start_as_current_span("outbox.stage"):
                pass
    provider.shutdown()


def test_files_rotate_by_size_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    cases = [str(uuid.uuid4()) for _ in range(60)]
    write_cases(folder, "intake", cases, SMALL)
    files = sorted(folder.glob("intake.*.jsonl"))
    assert len(files) == SMALL.files
    longest = max(len(line) for path in files for line in path.read_bytes().splitlines())
    assert all(path.stat().st_size < SMALL.file_bytes + 3 * longest for path in files)
    # The index forgets what was deleted.
    with sqlite3.connect(folder / INDEX_FILE) as index:
        indexed = {row[0] for row in index.execute("SELECT DISTINCT file FROM trace_spans")}
    assert indexed == {path.name for path in files}
    # The newest case is whole: its three spans, in one trace; the oldest is gone, quietly.
    newest = list(read_case_spans(tmp_path, cases[-1]))
    assert sorted(s["name"] for s in newest) == [
        "POST /v1/reports",
        "intake.accept",
        "outbox.stage",
    ]
    assert len({s["context"]["trace_id"] for s in newest}) == 1
    assert list(read_case_spans(tmp_path, cases[0])) == []


def test_a_case_is_read_from_its_own_lines_only(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    cases = [str(uuid.uuid4()) for _ in range(20)]
    roomy = TraceFileSettings(file_bytes=10**6, files=5)
    write_cases(folder, "routing", cases, roomy)
    wanted = cases[7]
    expected = list(read_case_spans(tmp_path, wanted))
    assert len(expected) == 3
    traces = {s["context"]["trace_id"] for s in expected}
    # Every other line is made unreadable (same length): a reader that loads them all fails.
    for path in folder.glob("*.jsonl"):
        lines = path.read_bytes().splitlines(keepends=True)
        kept = [
            line if json.loads(line)["context"]["trace_id"] in traces else b"#" * (len(line) - 1)
            for line in lines
        ]
        path.write_bytes(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in kept))
    assert list(read_case_spans(tmp_path, wanted)) == expected
    with pytest.raises(ValueError):
        list(read_spans(tmp_path))


def test_files_written_before_the_index_are_indexed_by_the_reader(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    cases = [str(uuid.uuid4()) for _ in range(3)]
    write_cases(folder, "deadlines", cases, TraceFileSettings())
    # As the platform wrote them before: one file per service, and no index.
    (written,) = folder.glob("deadlines.*.jsonl")
    written.rename(folder / "deadlines.jsonl")
    for leftover in folder.glob(f"{INDEX_FILE}*"):
        leftover.unlink()
    found = list(read_case_spans(tmp_path, cases[1]))
    assert sorted(s["name"] for s in found) == [
        "POST /v1/reports",
        "intake.accept",
        "outbox.stage",
    ]


def test_qorgau_trace_prints_the_case_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QORGAU_VAR_DIR", str(tmp_path))
    cases = [str(uuid.uuid4()) for _ in range(5)]
    write_cases(tmp_path / "traces", "intake", cases, TraceFileSettings())
    assert main(["trace", cases[2]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("trace 0x")
    assert lines[1].strip().startswith("POST /v1/reports [qorgau-intake]")
    assert sorted(line.split(" [")[0].strip() for line in lines[2:]) == [
        "intake.accept",
        "outbox.stage",
    ]
    assert main(["trace", str(uuid.uuid4())]) == 1


def test_the_exporter_shuts_down_from_another_thread_than_its_worker(tmp_path: Path) -> None:
    exporter = RotatingSpanFiles(tmp_path / "traces", "intake", TraceFileSettings())
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("one") as span:
        span.set_attribute(CASE_ID, "case-1")
    provider.force_flush()
    provider.shutdown()  # the index was opened by the batch worker's thread
    assert [s["name"] for s in read_case_spans(tmp_path, "case-1")] == ["one"]


def test_a_line_is_the_sdks_own_json_of_the_span(tmp_path: Path) -> None:
    # The exporter reads each provider's resource once; each line must still be exactly what
    # the SDK's ReadableSpan.to_json writes, so that the files read as they always have.
    exporter = RotatingSpanFiles(tmp_path / "traces", "routing")
    spans = []
    for name in ("qorgau-routing", "qorgau-deadlines"):
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("batch") as batch:
            link = trace.Link(batch.get_span_context(), {"why": "batch"})
            with tracer.start_as_current_span("process", links=[link]) as span:
                span.set_attribute(CASE_ID, str(uuid.uuid4()))
                span.set_attribute("messaging.batch.message_count", 3)
                span.add_event("retry", {"attempt": 2})
                span.set_status(trace.Status(trace.StatusCode.ERROR, "IntegrityError"))
        spans.extend([batch, span])
    assert len(spans) == 4
    for each in spans:
        assert exporter._json(each) == each.to_json(indent=None)
    exporter.shutdown()
