"""`llma` (also `python -m app.cli`): the parser, the list of commands, and `main`.

Each command lives with what it does: `serve` (app.cli.serve), `migrate` (app.cli.database),
`bootstrap` and the API keys (app.cli.identity), the encryption keys (app.cli.encryption),
bulk import/export (app.datasets.bulk_cli). `COMMANDS` below registers them all.

A command prints its result on stdout and nothing else; logs go to stderr, warnings only unless
`-v`. With `--json`, stdout carries exactly one JSON line. A failure is one stderr line
`llma: error: …` naming the setting or host at fault (`--debug` adds the traceback).
Exit status: 0 success, 1 failure, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from app.cli import database, encryption, identity, serve, worker
from app.cli.common import CommandError, CommandFactory, UsageError, causes
from app.crypto import EncryptionConfigError
from app.datasets import bulk_cli
from app.db.embedded import DatabaseConfigError
from app.logging import configure_logging
from app.settings import Settings, get_settings

__all__ = ["COMMANDS", "CommandError", "UsageError", "build_parser", "main"]

# Every command, in the order `llma --help` lists them: each entry adds its subcommands
# through the `command` factory. A new command module adds its `register` here.
COMMANDS: tuple[Callable[[CommandFactory], None], ...] = (
    serve.register,  # serve
    worker.register,  # worker
    database.register,  # migrate
    identity.register,  # bootstrap, create-api-key, list-api-keys, revoke-api-key
    encryption.register,  # rotate-encryption-keys, generate-encryption-key
    bulk_cli.add_commands,  # import-items, export-items (issue 15)
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows `(default: …)` except where there is none worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or action.const is not None:
            return action.help
        return super()._get_help_string(action)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llma")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    # -v/--debug are accepted before or after the command (`llma -v migrate`, `llma migrate -v`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also log progress (INFO) to stderr",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback when a command fails",
    )

    parser = argparse.ArgumentParser(
        prog="llma",
        description="LLM analytics service: serve it, migrate its database, manage API keys.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"llma {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="also log progress (INFO)")
    parser.add_argument("--debug", action="store_true", help="show the traceback on failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            formatter_class=_HelpFormatter,
        )

    for register in COMMANDS:
        register(command)
    return parser


def load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise UsageError(f"invalid setting: {problems}") from None


def _log_level(args: argparse.Namespace, settings: Settings) -> str:
    """`serve` logs at LOG_LEVEL; a one-shot command shows warnings only unless -v."""
    if args.command in ("serve", "worker") or args.verbose or args.debug:
        return settings.log_level
    return max(
        (settings.log_level, "WARNING"), key=lambda name: logging.getLevelNamesMapping()[name]
    )


def _describe(exc: BaseException) -> str:
    """One line for an unexpected failure: the exception's type and its first line."""
    for cause in causes(exc):
        if isinstance(cause, CommandError | EncryptionConfigError | DatabaseConfigError):
            return str(cause)
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "needs_settings", True):
            settings = load_settings()
            configure_logging(_log_level(args, settings), settings.log_format)
        else:
            settings = None
        code: int = args.handler(args, settings)
    except UsageError as exc:
        sys.stderr.write(f"llma: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exception(exc)
        sys.stderr.write(f"llma: error: {_describe(exc)}\n")
        return 1
    return code
