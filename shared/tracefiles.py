"""Local trace files: JSON lines rotated by size, a bounded number kept, indexed by case.

Without a collector each service writes its spans under `var/traces/`, one file at a time,
`<service>.<pid>.<seq>.jsonl`, starting the next when one reaches QORGAU_TRACE_FILE_BYTES and
keeping the newest QORGAU_TRACE_FILES of the service (older ones are deleted). Beside them,
`index.db` (SQLite) holds where each span starts (file, offset, length, trace id) and which
traces touch which case: a case's trace is read by seeking to its own lines. A file the index
has not caught up with (written before the index existed, or while it was busy) is indexed by
the reader from where the index stopped.

The index holds ids only (case, trace, file), as the spans themselves do: no personal data.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util import ns_to_iso_str
from opentelemetry.trace import format_span_id
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

INDEX_FILE = "index.db"
CASE_ID = "qorgau.case_id"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS trace_files (file TEXT PRIMARY KEY, indexed_to INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS trace_spans (file TEXT NOT NULL, offset INTEGER NOT NULL, "
    "length INTEGER NOT NULL, trace_id TEXT NOT NULL, PRIMARY KEY (file, offset))",
    "CREATE INDEX IF NOT EXISTS ix_trace_spans_trace_id ON trace_spans (trace_id)",
    "CREATE TABLE IF NOT EXISTS trace_cases (case_id TEXT NOT NULL, trace_id TEXT NOT NULL, "
    "PRIMARY KEY (case_id, trace_id))",
)


class TraceFileSettings(BaseSettings):
    """How big a trace file grows and how many of a service's files are kept."""

    model_config = SettingsConfigDict(env_prefix="QORGAU_TRACE_")

    file_bytes: int = 16 * 1024 * 1024
    files: int = 10


@dataclass(frozen=True)
class Entry:
    """Where one span's line is, and what it is about."""

    offset: int
    length: int
    trace_id: str
    case_id: str | None


def _connect(folder: Path) -> sqlite3.Connection:
    # The exporter's worker thread writes and another thread shuts it down: its lock orders them.
    connection = sqlite3.connect(
        folder / INDEX_FILE, timeout=10, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=10000")
    # No fsync per batch: the index is rebuilt from the files whenever it falls behind them.
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in _SCHEMA:
        connection.execute(statement)
    return connection


def _record(
    connection: sqlite3.Connection, file: str, entries: Sequence[Entry], *, end: int
) -> None:
    """Index a file's lines and note how far the file is indexed, in one transaction."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(
            "INSERT OR IGNORE INTO trace_spans (file, offset, length, trace_id) VALUES (?,?,?,?)",
            [(file, e.offset, e.length, e.trace_id) for e in entries],
        )
        connection.executemany(
            "INSERT OR IGNORE INTO trace_cases (case_id, trace_id) VALUES (?, ?)",
            {(e.case_id, e.trace_id) for e in entries if e.case_id},
        )
        connection.execute(
            "INSERT INTO trace_files (file, indexed_to) VALUES (?, ?) ON CONFLICT (file) "
            "DO UPDATE SET indexed_to = max(indexed_to, excluded.indexed_to)",
            (file, end),
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _forget(connection: sqlite3.Connection, file: str) -> None:
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("DELETE FROM trace_spans WHERE file = ?", (file,))
    connection.execute("DELETE FROM trace_files WHERE file = ?", (file,))
    connection.execute("COMMIT")


class RotatingSpanFiles(SpanExporter):
    """Writes spans as JSON lines, rotating by size, keeping a bounded number, indexing each."""

    def __init__(
        self, folder: Path, service: str, settings: TraceFileSettings | None = None
    ) -> None:
        self.folder = Path(folder)
        self.service = service
        self.settings = settings or TraceFileSettings()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._seq = 0
        self._handle: IO[bytes] | None = None
        self._name = ""
        self._size = 0
        # False once an index write failed for the current file: the reader catches it up.
        self._indexing = True
        self._index: sqlite3.Connection | None = None
        # A provider's resource as a line shows it, by the resource's id (one per process).
        self._resources: dict[int, tuple[Resource, Any]] = {}

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append the spans to the current file (rotating first if it is full) and index them."""
        lines = [(span, (self._json(span) + "\n").encode()) for span in spans]
        with self._lock:
            if self._handle is None or self._size >= self.settings.file_bytes:
                self._rotate()
            assert self._handle is not None
            entries = []
            for span, data in lines:
                context = span.get_span_context()
                trace_id = f"0x{context.trace_id:032x}" if context else ""
                case_id = (span.attributes or {}).get(CASE_ID)
                entries.append(
                    Entry(self._size, len(data), trace_id, str(case_id) if case_id else None)
                )
                self._handle.write(data)
                self._size += len(data)
            self._handle.flush()
            self._index_entries(entries)
        return SpanExportResult.SUCCESS

    def _json(self, span: ReadableSpan) -> str:
        """Return the span's line: ReadableSpan.to_json(indent=None), the resource read once."""
        # The SDK serialises the span's resource anew for every span, then parses it back: the
        # larger part of a service's export time, for the same few attributes every time.
        resource = self._resources.get(id(span.resource))
        if resource is None or resource[0] is not span.resource:
            resource = (span.resource, json.loads(span.resource.to_json()))
            self._resources[id(span.resource)] = resource
        context = span.get_span_context()
        parent = span.parent
        status: dict[str, str] = {"status_code": str(span.status.status_code.name)}
        if span.status.description:
            status["description"] = span.status.description
        line = {
            "name": span.name,
            "context": ReadableSpan._format_context(context) if context else None,
            "kind": str(span.kind),
            "parent_id": f"0x{format_span_id(parent.span_id)}" if parent is not None else None,
            "start_time": ns_to_iso_str(span.start_time) if span.start_time else None,
            "end_time": ns_to_iso_str(span.end_time) if span.end_time else None,
            "status": status,
            "attributes": ReadableSpan._format_attributes(span.attributes),
            "events": ReadableSpan._format_events(span.events),
            "links": ReadableSpan._format_links(span.links),
            "resource": resource[1],
        }
        return json.dumps(line)

    def _index_entries(self, entries: list[Entry]) -> None:
        if not self._indexing:
            return
        try:
            if self._index is None:
                self._index = _connect(self.folder)
            _record(self._index, self._name, entries, end=self._size)
        except sqlite3.Error as error:
            log.warning("trace index not written (%s); `qorgau trace` will catch up", error)
            self._indexing = False

    def _rotate(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._seq += 1
        self._name = f"{self.service}.{os.getpid()}.{self._seq:06d}.jsonl"
        self._handle = (self.folder / self._name).open("ab")
        self._size = self._handle.tell()
        self._indexing = True
        self._prune()

    def _prune(self) -> None:
        """Delete the service's oldest files beyond the number kept, and their index rows."""
        mine = sorted(
            self.folder.glob(f"{self.service}.*.jsonl"),
            key=lambda path: (path.stat().st_mtime, path.name),
        )
        for path in mine[: max(0, len(mine) - self.settings.files)]:
            if path.name == self._name:
                continue
            path.unlink(missing_ok=True)
            try:
                if self._index is None:
                    self._index = _connect(self.folder)
                _forget(self._index, path.name)
            except sqlite3.Error as error:
                log.warning("trace index not pruned (%s); the reader drops it", error)

    def shutdown(self) -> None:
        """Close the current file and the index."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
            if self._index is not None:
                self._index.close()
                self._index = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Every export is flushed as it is written."""
        del timeout_millis
        return True


def _catch_up(connection: sqlite3.Connection, folder: Path) -> None:
    """Index what the writers did not (older files, failed index writes); drop deleted files."""
    known = dict(connection.execute("SELECT file, indexed_to FROM trace_files").fetchall())
    present = {path.name: path for path in folder.glob("*.jsonl")}
    for gone in set(known) - set(present):
        _forget(connection, gone)
    for name, path in sorted(present.items()):
        start = int(known.get(name, 0))
        try:
            if path.stat().st_size <= start:
                continue
        except FileNotFoundError:
            continue  # pruned by a writer just now
        entries: list[Entry] = []
        offset = start
        with path.open("rb") as handle:
            handle.seek(start)
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # a line still being written: the next reader takes it
                try:
                    span = json.loads(line)
                    trace_id = str(span["context"]["trace_id"])
                    case_id = span.get("attributes", {}).get(CASE_ID)
                except (ValueError, KeyError, TypeError):
                    trace_id, case_id = "", None
                entries.append(Entry(offset, len(line), trace_id, case_id))
                offset += len(line)
                if len(entries) >= 5000:
                    _record(connection, name, entries, end=offset)
                    entries = []
        _record(connection, name, entries, end=offset)


def case_spans(folder: Path, case_id: str) -> Iterator[dict[str, Any]]:
    """Yield every span of the traces that touch a case, reading only their own lines."""
    if not folder.exists():
        return
    with closing(_connect(folder)) as connection:
        _catch_up(connection, folder)
        rows = connection.execute(
            "SELECT s.file, s.offset, s.length FROM trace_spans s "
            "JOIN trace_cases c ON c.trace_id = s.trace_id WHERE c.case_id = ? "
            "ORDER BY s.file, s.offset",
            (case_id,),
        ).fetchall()
    handles: dict[str, IO[bytes]] = {}
    try:
        for file, offset, length in rows:
            handle = handles.get(file)
            if handle is None:
                try:
                    handle = handles[file] = (folder / file).open("rb")
                except FileNotFoundError:
                    continue  # pruned since: its spans are gone
            handle.seek(offset)
            yield json.loads(handle.read(length))
    finally:
        for handle in handles.values():
            handle.close()
