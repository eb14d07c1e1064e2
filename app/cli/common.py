"""What every `llma` command shares: its two failures (exit status 2 and 1), the factory that
registers a subcommand, JSON output, and the walk down an exception's causes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from typing import Any

import orjson

# `command(name, help)`: a subparser carrying the common flags (-v, --debug) and help format.
CommandFactory = Callable[[str, str], argparse.ArgumentParser]


class UsageError(Exception):
    """Bad arguments: exit status 2."""


class CommandError(Exception):
    """A failure the operator can fix, said in one line: exit status 1."""


def print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(payload).decode() + "\n")
    sys.stdout.flush()


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what caused it, down to the driver's own error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper of the driver's error
        current = (
            orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
        )
