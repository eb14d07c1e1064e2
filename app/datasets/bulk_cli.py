"""`llma import-items` and `llma export-items`: the bulk endpoints from a shell.

Both talk to a running service over HTTP (`--url`, or `LLMA_URL`, default
http://127.0.0.1:8000) with a personal API key (`--api-key`, or `LLMA_API_KEY`), on a team
(`--team`, default `@current`). The file is streamed, never loaded: a progress bar on stderr
counts its bytes. The import's per-line answers go to a report file, its summary to stdout
as one JSON line. Exit status: 0 when every line went in, 1 when some did not or the service
refused (one line `llma: error: …` on stderr), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import orjson

DEFAULT_URL = "http://127.0.0.1:8000"
CHUNK = 1 << 16
CONTENT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv", "json": "application/json"}
EXTENSIONS = {".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv", ".json": "json"}
FAILED_STATUSES = ("conflict", "rejected")


class CommandFailed(Exception):
    """Printed as `llma: error: …`; exit status 1."""


def add_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Register the two subcommands through `app.cli.build_parser`'s `command` factory."""
    imp = command("import-items", "stream a file of items into a dataset")
    imp.add_argument("file", help="NDJSON, CSV or JSON array (may be .gz); - for stdin")
    imp.add_argument("--dataset", required=True, help="dataset id")
    imp.add_argument(
        "--format",
        choices=sorted(CONTENT_TYPES),
        default=None,
        help="the file's format (default: from its extension, else ndjson)",
    )
    imp.add_argument(
        "--mode",
        choices=("insert", "upsert"),
        default="insert",
        help="upsert: a known id with other content is updated instead of a conflict",
    )
    imp.add_argument(
        "--dedupe",
        choices=("none", "content"),
        default="none",
        help="content: skip items whose input and output already exist in the dataset",
    )
    imp.add_argument("--atomic", action="store_true", help="all or nothing")
    imp.add_argument("--new-ids", action="store_true", help="ignore the lines' ids")
    imp.add_argument(
        "--report", default=None, help="per-line answers (default: FILE.report.ndjson)"
    )
    _connection_arguments(imp)
    imp.set_defaults(handler=cmd_import_items, needs_settings=False)

    exp = command("export-items", "stream a dataset's items to stdout or a file")
    exp.add_argument("--dataset", required=True, help="dataset id")
    exp.add_argument(
        "--format", choices=("ndjson", "csv"), default="ndjson", help="the output format"
    )
    exp.add_argument(
        "--include-deleted", action="store_true", help="soft-deleted items too (default: live only)"
    )
    exp.add_argument("--output", "-o", default="-", help="file (default: stdout)")
    _connection_arguments(exp)
    exp.set_defaults(handler=cmd_export_items, needs_settings=False)


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help=f"service URL (LLMA_URL; {DEFAULT_URL})")
    parser.add_argument("--api-key", default=None, help="personal API key (LLMA_API_KEY)")
    parser.add_argument("--team", default="@current", help="team id (default @current)")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


# --- shared -------------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> httpx.AsyncClient:
    from app.cli import UsageError

    api_key = args.api_key or os.environ.get("LLMA_API_KEY")
    if not api_key:
        raise UsageError("no API key: set LLMA_API_KEY or pass --api-key")
    url = (args.url or os.environ.get("LLMA_URL") or DEFAULT_URL).rstrip("/")
    return httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=httpx.Timeout(60.0, read=None, write=None),
    )


def _path(args: argparse.Namespace, action: str) -> str:
    return f"/api/environments/{args.team}/datasets/{args.dataset}/items/{action}/"


async def _refusal(response: httpx.Response, args: argparse.Namespace) -> CommandFailed:
    await response.aread()
    try:
        detail = str(response.json().get("detail", ""))
    except ValueError:
        detail = response.text[:200]
    status = response.status_code
    if status == 401:
        return CommandFailed("the API key was refused: set LLMA_API_KEY (or --api-key)")
    if status == 403:
        return CommandFailed(f"not allowed: {detail}")
    if status == 404:
        return CommandFailed(f"dataset {args.dataset} not found in team {args.team}")
    return CommandFailed(f"the service answered {status}: {detail}")


def _progress(args: argparse.Namespace, description: str, total: int | None) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    enabled = args.progress if args.progress is not None else console.is_terminal
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
    return progress, progress.add_task(description, total=total)


def _run(args: argparse.Namespace, work: Any) -> int:
    try:
        code: int = asyncio.run(work(args))
    except CommandFailed as exc:
        sys.stderr.write(f"llma: error: {exc}\n")
        return 1
    except httpx.TransportError as exc:
        url = args.url or os.environ.get("LLMA_URL") or DEFAULT_URL
        sys.stderr.write(f"llma: error: cannot reach {url}: {exc or type(exc).__name__}\n")
        return 1
    return code


# --- import -------------------------------------------------------------------------------------


def _format_of(args: argparse.Namespace) -> str:
    from app.cli import UsageError

    if args.format:
        return str(args.format)
    name = args.file.lower().removesuffix(".gz")
    for extension, fmt in EXTENSIONS.items():
        if name.endswith(extension):
            return fmt
    raise UsageError("cannot tell the format from the file name: pass --format")


@contextlib.contextmanager
def _opened(name: str, mode: str) -> Iterator[IO[bytes]]:
    if name == "-":
        yield sys.stdin.buffer if "r" in mode else sys.stdout.buffer
        return
    with open(name, mode) as handle:
        yield handle


def cmd_import_items(args: argparse.Namespace, settings: Any) -> int:
    from app.cli import UsageError

    fmt = _format_of(args)
    if args.file != "-" and not Path(args.file).is_file():
        raise UsageError(f"no such file: {args.file}")
    if args.report is None:
        args.report = "import-report.ndjson" if args.file == "-" else f"{args.file}.report.ndjson"
    args.fmt = fmt
    return _run(args, import_items)


async def import_items(args: argparse.Namespace, client: httpx.AsyncClient | None = None) -> int:
    """Stream the file up, the answers down to the report; print the summary line."""
    own = client is None
    client = client or _client(args)
    params = {"mode": args.mode, "dedupe": args.dedupe}
    if args.atomic:
        params["atomic"] = "true"
    if args.new_ids:
        params["ids"] = "new"
    size = None if args.file == "-" else os.stat(args.file).st_size
    progress, task = _progress(args, "import", size)
    summary: dict[str, Any] = {}
    try:
        # A command-line process of its own: blocking file I/O holds up no one else.
        report_file = open(args.report, "wb")  # noqa: ASYNC230, SIM115
        with _opened(args.file, "rb") as source, report_file as report, progress:
            headers = {"Content-Type": CONTENT_TYPES[args.fmt]}
            if args.file.lower().endswith(".gz"):
                headers["Content-Encoding"] = "gzip"

            async def body() -> AsyncIterator[bytes]:
                while chunk := source.read(CHUNK):
                    progress.advance(task, len(chunk))
                    yield chunk

            async with client.stream(
                "POST", _path(args, "import"), content=body(), params=params, headers=headers
            ) as response:
                if response.status_code != 200:
                    raise await _refusal(response, args)
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    report.write(line.encode() + b"\n")
                    if line.startswith('{"summary"'):
                        summary = orjson.loads(line)
    finally:
        if own:
            await client.aclose()
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    sys.stdout.flush()
    if not summary:
        raise CommandFailed(f"the answer ended early; see {args.report}")
    if "error" in summary:
        raise CommandFailed(f"{summary['error']['detail']} (see {args.report})")
    failed = sum(summary.get(status, 0) for status in FAILED_STATUSES)
    if failed or summary.get("committed") is False:
        what = "nothing was committed" if summary.get("committed") is False else "the rest went in"
        raise CommandFailed(
            f"{failed} of {summary['lines']} lines were not imported, {what}; see {args.report}"
        )
    return 0


# --- export -------------------------------------------------------------------------------------


def cmd_export_items(args: argparse.Namespace, settings: Any) -> int:
    return _run(args, export_items)


async def export_items(args: argparse.Namespace, client: httpx.AsyncClient | None = None) -> int:
    own = client is None
    client = client or _client(args)
    params = {"format": args.format}
    if args.include_deleted:
        params["include_deleted"] = "true"
    progress, task = _progress(args, "export", None)
    try:
        async with client.stream("GET", _path(args, "export"), params=params) as response:
            if response.status_code != 200:
                raise await _refusal(response, args)
            with _opened(args.output, "wb") as target, progress:
                async for chunk in response.aiter_bytes():
                    target.write(chunk)
                    progress.advance(task, len(chunk))
                target.flush()
    finally:
        if own:
            await client.aclose()
    return 0
