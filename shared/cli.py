"""The `qorgau` command: run the platform, one service, provision streams, read traces."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from shared.natsserver import NatsServer
from shared.settings import DEFAULT_NATS_URL
from shared.streams import provision
from shared.telemetry import CASE_ID, read_spans

SERVICES: dict[str, int] = {"intake": 8101, "routing": 8102, "deadlines": 8103}
NATS_PORT = 14222


def _var_dir() -> Path:
    return Path(os.environ.get("QORGAU_VAR_DIR", "var")).resolve()


def _port(service: str) -> int:
    return int(os.environ.get(f"{service.upper()}_HTTP_PORT", SERVICES[service]))


def cmd_streams(args: argparse.Namespace) -> int:
    """Create or update the JetStream streams."""
    url = args.nats_url or os.environ.get("NATS_URL", DEFAULT_NATS_URL)
    for line in asyncio.run(provision(url, replicas=args.replicas)):
        print(line)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run one service in this process, configured by environment."""
    if args.service not in SERVICES:
        print(f"unknown service {args.service!r}; known: {', '.join(SERVICES)}", file=sys.stderr)
        return 2
    importlib.import_module(f"services.{args.service}.app").main()
    return 0


def _wait_healthy(
    service: str, port: int, process: subprocess.Popen[bytes], timeout: float
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _start_service(service: str, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"{service}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", f"services.{service}"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def cmd_up(args: argparse.Namespace) -> int:
    """Start nats-server (unless NATS_URL is set), the streams, and each service as a process."""
    chosen = args.services or list(SERVICES)
    unknown = [s for s in chosen if s not in SERVICES]
    if unknown:
        print(
            f"unknown service(s): {', '.join(unknown)}; known: {', '.join(SERVICES)}",
            file=sys.stderr,
        )
        return 2
    var = _var_dir()
    logs = var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stopping = False

    def _stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    nats: NatsServer | None = None
    url = os.environ.get("NATS_URL")
    if not url:
        port = int(os.environ.get("QORGAU_NATS_PORT", NATS_PORT))
        nats = NatsServer(
            store_dir=var / "nats" / "store",
            config_dir=var / "nats",
            port=port,
            log_file=logs / "nats-server.log",
        ).start()
        url = nats.url
    for line in asyncio.run(provision(url)):
        print(f"streams: {line}")

    env = {**os.environ, "NATS_URL": url, "QORGAU_VAR_DIR": str(var)}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for service in chosen:
            processes[service] = _start_service(service, env, logs)
        rows = [("nats", url, str(nats.pid) if nats else "external")]
        for service in chosen:
            port = _port(service)
            ok = _wait_healthy(service, port, processes[service], timeout=60)
            state = "ok" if ok else f"NOT HEALTHY (see {logs / (service + '.log')})"
            rows.append(
                (service, f"http://127.0.0.1:{port}", f"pid {processes[service].pid} {state}")
            )
        print("\nQorgau is running:")
        for name, where, what in rows:
            print(f"  {name:<10} {where:<28} {what}")
        print(f"\ndata under {var}; logs under {logs}; Ctrl-C stops everything.")
        sys.stdout.flush()
        restarts: dict[str, int] = defaultdict(int)
        while not stopping:
            time.sleep(0.5)
            for service, process in list(processes.items()):
                if process.poll() is not None and not stopping:
                    restarts[service] += 1
                    print(
                        f"{service} exited with {process.returncode}; restarting", file=sys.stderr
                    )
                    processes[service] = _start_service(service, env, logs)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if nats is not None:
            nats.stop()
        print("Qorgau stopped.")
    return 0


def _tree(spans: list[dict[str, Any]]) -> list[str]:
    by_id = {s["context"]["span_id"]: s for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        parent = span.get("parent_id")
        children[parent if parent in by_id else None].append(span)
    lines: list[str] = []

    def walk(span: dict[str, Any], depth: int) -> None:
        service = span.get("resource", {}).get("attributes", {}).get("service.name", "?")
        attrs = span.get("attributes", {})
        code = attrs.get("qorgau.obligation_code")
        agency = attrs.get("qorgau.agency_id")
        extra = "".join(
            f" {k}={v}" for k, v in (("code", code), ("agency", agency)) if v is not None
        )
        lines.append(f"{'  ' * depth}{span['name']} [{service}] {span['start_time']}{extra}")
        for child in sorted(children[span["context"]["span_id"]], key=lambda s: s["start_time"]):
            walk(child, depth + 1)

    for root in sorted(children[None], key=lambda s: s["start_time"]):
        walk(root, 0)
    return lines


def cmd_trace(args: argparse.Namespace) -> int:
    """Print the spans of a case across all services as a tree, from the local trace files."""
    spans = list(read_spans(_var_dir()))
    traces = {
        s["context"]["trace_id"]
        for s in spans
        if s.get("attributes", {}).get(CASE_ID) == args.case_id
    }
    if not traces:
        print(f"no spans for case {args.case_id}", file=sys.stderr)
        return 1
    for trace_id in sorted(traces):
        print(f"trace {trace_id}")
        for line in _tree([s for s in spans if s["context"]["trace_id"] == trace_id]):
            print(f"  {line}")
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    """Print or write the AsyncAPI document of every event, or check the kept one is current."""
    from shared.asyncapi import generate

    document = json.dumps(json.loads(generate()), indent=2, sort_keys=True) + "\n"
    if args.check:
        if Path(args.check).read_text(encoding="utf-8") != document:
            print(f"{args.check} is out of date: run `make asyncapi`", file=sys.stderr)
            return 1
        return 0
    if args.write:
        Path(args.write).write_text(document, encoding="utf-8")
        return 0
    print(document, end="")
    return 0


def parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    top = argparse.ArgumentParser(prog="qorgau", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the platform (embedded default)")
    up.add_argument(
        "services", nargs="*", help=f"services to start (default: {' '.join(SERVICES)})"
    )
    up.set_defaults(func=cmd_up)
    run = sub.add_parser("run", help="run one service alone, configured by environment")
    run.add_argument("service")
    run.set_defaults(func=cmd_run)
    streams = sub.add_parser("streams", help="create or update the JetStream streams")
    streams.add_argument("--nats-url", default=None)
    streams.add_argument("--replicas", type=int, default=1)
    streams.set_defaults(func=cmd_streams)
    trace = sub.add_parser("trace", help="print a case's spans as a tree")
    trace.add_argument("case_id")
    trace.set_defaults(func=cmd_trace)
    asyncapi = sub.add_parser("asyncapi", help="the event catalogue as an AsyncAPI document")
    asyncapi.add_argument("--write", metavar="PATH", default=None)
    asyncapi.add_argument("--check", metavar="PATH", default=None)
    asyncapi.set_defaults(func=cmd_asyncapi)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `qorgau` command."""
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
