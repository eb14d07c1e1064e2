"""`llma` (also `python -m app.cli`): serve, migrate, bootstrap, API keys (create, list, revoke)
and encryption-key chores.

A command prints its result on stdout and nothing else; logs go to stderr, warnings only unless
`-v`. With `--json`, stdout carries exactly one JSON line. A failure is one stderr line
`llma: error: …` naming the setting or host at fault (`--debug` adds the traceback).
Exit status: 0 success, 1 failure, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import errno
import logging
import os
import shutil
import socket
import sys
import tempfile
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from app.auth.scopes import ALL_SCOPES, parse_scopes
from app.crypto import EncryptionConfigError
from app.db.embedded import DatabaseConfigError, resolve_database_url
from app.logging import configure_logging
from app.settings import Settings, get_settings

logger = logging.getLogger("app.cli")
T = TypeVar("T")
# uvicorn's default 5 s lets the supervisor kill workers that are merely starved of CPU on a
# loaded 2-core host (seen in `make bench`), dropping their in-flight requests.
WORKER_HEALTHCHECK_SECONDS = 30


class UsageError(Exception):
    """Bad arguments: exit status 2."""


class CommandError(Exception):
    """A failure the operator can fix, said in one line: exit status 1."""


def load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise UsageError(f"invalid setting: {problems}") from None


def run_migrations(database_url: str) -> None:
    from alembic import command

    from app.db.migrate import alembic_config

    with _database_errors(database_url):
        command.upgrade(alembic_config(database_url), "head")
    logger.info("database at %s migrated to head", _where(database_url))


async def _with_session(database_url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    from app.db.engine import create_engine, create_sessionmaker

    with _database_errors(database_url):
        engine = create_engine(database_url, pool_size=1, max_overflow=0)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()


def _where(database_url: str) -> str:
    """`host:port/db` of a URL (or the socket folder of the embedded server); no password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(database_url)
    socket_dir = parsed.query.get("host")
    if socket_dir:
        return f"{socket_dir if isinstance(socket_dir, str) else socket_dir[0]} (socket)"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper of the driver's error
        current = (
            orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
        )


@contextmanager
def _database_errors(database_url: str) -> Iterator[None]:
    """Turn "cannot reach / log in to PostgreSQL" into one line naming the host."""
    import asyncpg

    try:
        yield
    except (CommandError, UsageError):
        raise
    except Exception as exc:
        for cause in _causes(exc):
            if isinstance(cause, ConnectionRefusedError):
                reason = "connection refused"
            elif isinstance(cause, socket.gaierror):
                reason = "unknown host"
            elif isinstance(cause, TimeoutError):
                reason = "timed out"
            elif isinstance(cause, OSError):
                reason = cause.strerror or str(cause)
            elif isinstance(
                cause,
                asyncpg.InvalidAuthorizationSpecificationError
                | asyncpg.InvalidCatalogNameError
                | asyncpg.CannotConnectNowError
                | asyncpg.TooManyConnectionsError,
            ):
                reason = str(cause)
            else:
                continue
            raise CommandError(
                f"cannot connect to PostgreSQL at {_where(database_url)} (DATABASE_URL): {reason}"
            ) from exc
        raise


def check_serve_settings(settings: Settings) -> None:
    """What `serve` needs from the settings, all checked before any database work."""
    from app.crypto import build_secret_box

    problems: list[str] = []
    if settings.is_production and not settings.database_url:
        try:
            resolve_database_url(settings)
        except DatabaseConfigError as exc:
            problems.append(str(exc))
    try:
        build_secret_box(settings)
    except EncryptionConfigError as exc:
        problems.append(str(exc))
    if problems:
        raise CommandError("; ".join(problems))


def check_port_free(host: str, port: int) -> None:
    """Fail before printing a key or touching the database when the address is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandError(
            f"cannot listen on {host}:{port}: {exc.strerror} (HOST or --host)"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port in TIME_WAIT is free, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise CommandError(
                f"cannot listen on {host}:{port}: {reason}; choose another port with "
                f"PORT={port + 1} or --port {port + 1} (make run PORT={port + 1})"
            ) from None


def _print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(payload).decode() + "\n")
    sys.stdout.flush()


# --- commands ---------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    run_migrations(resolve_database_url(settings))
    return 0


def cmd_bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.provisioning import bootstrap

    scopes = _scopes(args.scopes)
    expires_at = _expires_at(args)
    url = resolve_database_url(settings)
    run_migrations(url)
    result = asyncio.run(
        _with_session(
            url,
            lambda session: bootstrap(
                session,
                email=args.email,
                team_name=args.team_name,
                organization_name=args.organization_name,
                scopes=scopes,
                ai_data_processing_approved=args.ai_data_processing_approved,
                expires_at=expires_at,
            ),
        )
    )
    if args.json:
        _print_json(
            {
                "organization_id": result.organization_id,
                "team_id": result.team_id,
                "user_id": result.user_id,
                "api_key": result.api_key,
                "reused": result.reused,
            }
        )
    else:
        if result.reused:
            sys.stdout.write(
                f"{args.email} already exists: kept their organization and team "
                "(name and approval options apply to new users only); minted a new key.\n"
            )
        sys.stdout.write(
            f"Organization {result.organization_id}, team {result.team_id}, "
            f"user {result.user_id}.\nPersonal API key (shown once): {result.api_key}\n"
        )
    return 0


def cmd_create_api_key(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.repository import IdentityRepository

    scopes = _scopes(args.scopes)
    team_ids = _team_ids(args.team_ids)
    expires_at = _expires_at(args)
    url = resolve_database_url(settings)
    run_migrations(url)

    async def work(session: Any) -> tuple[str, str] | str:
        repo = IdentityRepository(session)
        user = await repo.user_by_email(args.email)
        if user is None:
            return f"no user with email {args.email!r} (llma bootstrap --email creates one)"
        unreachable = await repo.teams_outside_reach(user, team_ids) if team_ids else []
        if unreachable:
            # A key scoped to teams its owner cannot reach would only ever answer 403.
            names = ", ".join(str(team_id) for team_id in unreachable)
            return f"no team {names} in an organization of {args.email!r}; no key created"
        key, secret = await repo.create_key(
            user, scopes=scopes, label=args.label, scoped_teams=team_ids, expires_at=expires_at
        )
        return str(key.id), secret

    created = asyncio.run(_with_session(url, work))
    if isinstance(created, str):
        raise CommandError(created)
    key_id, secret = created
    if args.json:
        _print_json({"api_key": secret, "id": key_id})
    else:
        sys.stdout.write(f"Personal API key {key_id} (shown once): {secret}\n")
    return 0


def _key_summary(key: Any, owner: str) -> dict[str, Any]:
    from app.web.jsonutil import isoformat

    def when(value: Any) -> str | None:
        return isoformat(value) if value is not None else None

    return {
        "id": str(key.id),
        "label": key.label,
        "mask": key.mask_value,
        "scopes": list(key.scopes),
        "teams": list(key.scoped_teams) if key.scoped_teams else None,
        "email": owner,
        "created_at": when(key.created_at),
        "last_used_at": when(key.last_used_at),
        "expires_at": when(key.expires_at),
        "revoked": key.revoked_at is not None,
    }


def cmd_list_api_keys(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.repository import IdentityRepository

    url = resolve_database_url(settings)
    run_migrations(url)

    async def work(session: Any) -> list[dict[str, Any]]:
        rows = await IdentityRepository(session).keys_with_owners(args.email)
        return [_key_summary(key, owner) for key, owner in rows]

    summaries = asyncio.run(_with_session(url, work))
    if args.json:
        _print_json({"api_keys": summaries})
        return 0
    for item in summaries:
        state = "revoked" if item["revoked"] else "active"
        teams = ",".join(str(team) for team in item["teams"]) if item["teams"] else "all"
        sys.stdout.write(
            f"{item['id']}  {item['mask']}  {state}  {item['label']!r}  {item['email']}  "
            f"scopes={','.join(item['scopes'])}  teams={teams}  created={item['created_at']}  "
            f"last_used={item['last_used_at'] or 'never'}  "
            f"expires={item['expires_at'] or 'never'}\n"
        )
    if not summaries:
        sys.stdout.write("no API keys\n")
    return 0


def cmd_revoke_api_key(args: argparse.Namespace, settings: Settings) -> int:
    import uuid

    from app.auth.repository import IdentityRepository

    try:
        key_id = uuid.UUID(args.id)
    except ValueError:
        raise UsageError(f"not an API key id: {args.id!r}") from None
    url = resolve_database_url(settings)
    run_migrations(url)

    async def work(session: Any) -> dict[str, Any] | None:
        key = await IdentityRepository(session).revoke_key(key_id)
        return None if key is None else {"id": str(key.id), "revoked": True}

    revoked = asyncio.run(_with_session(url, work))
    if revoked is None:
        raise CommandError(f"no API key with id {args.id} (llma list-api-keys shows them)")
    if args.json:
        _print_json(revoked)
    else:
        sys.stdout.write(f"API key {revoked['id']} revoked: it no longer authenticates.\n")
    return 0


def cmd_generate_encryption_key(args: argparse.Namespace, settings: Settings | None) -> int:
    from cryptography.fernet import Fernet

    sys.stdout.write(Fernet.generate_key().decode() + "\n")
    return 0


def cmd_rotate_encryption_keys(args: argparse.Namespace, settings: Settings) -> int:
    from app.crypto import build_secret_box
    from app.provider_keys.rotation import rotate_all

    box = build_secret_box(settings)
    url = resolve_database_url(settings)
    run_migrations(url)
    counts = asyncio.run(_with_session(url, lambda session: rotate_all(session, box)))
    sys.stdout.write(
        f"re-encrypted {counts.rotated} secret(s); {counts.failed} could not be decrypted\n"
    )
    return 0 if counts.failed == 0 else 1


METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir(workers: int) -> str | None:
    """Set up prometheus-client's multiprocess mode (`app.metrics`) before anything imports it.

    Several workers share one folder of metric files: PROMETHEUS_MULTIPROC_DIR when the
    operator names one (emptied of the last run's files), else a fresh temporary folder that
    `serve` removes on exit. Returns the folder to remove, if any.
    """
    configured = os.environ.get(METRICS_DIR_ENV)
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return None
    if workers <= 1:
        return None
    created = tempfile.mkdtemp(prefix="llma-metrics-")
    os.environ[METRICS_DIR_ENV] = created
    return created


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    metrics_dir = prepare_metrics_dir(args.workers)
    try:
        return _serve(args, settings)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.auth.demo import ensure_demo_identity
    from app.web.serving import uvicorn_options

    host = args.host if args.host is not None else settings.host
    port = args.port if args.port is not None else settings.port
    # Nothing is printed and the database is not touched until port and settings check out.
    check_port_free(host, port)
    check_serve_settings(settings)
    url = resolve_database_url(settings)
    # Workers are separate processes: they find the (embedded) database through the env.
    os.environ["DATABASE_URL"] = url
    run_migrations(url)
    if not settings.is_production:
        asyncio.run(_with_session(url, lambda session: ensure_demo_identity(session, host, port)))
    uvicorn.run(
        "app.main:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        log_config=None,
        proxy_headers=True,
        access_log=False,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        # Slow and idle clients: SERVER_LIMIT_CONCURRENCY, _KEEP_ALIVE_, _HEADER_TIMEOUT_SECONDS.
        **uvicorn_options(settings),
    )
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run experiment jobs until SIGINT/SIGTERM (any number of workers, on any machine)."""
    import signal

    from app.experiments.jobs import supervise

    if args.concurrency is not None:
        settings = settings.model_copy(update={"experiment_worker_concurrency": args.concurrency})
    check_serve_settings(settings)  # production: DATABASE_URL and ENCRYPTION_KEYS, named
    url = resolve_database_url(settings)

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await supervise(settings, url, stop=stop)

    logger.info(
        "experiment worker starting", extra={"concurrency": settings.experiment_worker_concurrency}
    )
    asyncio.run(work())
    return 0


# --- argument parsing -------------------------------------------------------------------------


def _scopes(text: str) -> list[str]:
    try:
        return parse_scopes(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _team_ids(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError("--team-ids must be comma-separated integers") from None


def _expires_at(args: argparse.Namespace) -> dt.datetime | None:
    """`--expires-in-days N` or `--expires-at ISO` (no zone: UTC); must lie in the future."""
    now = dt.datetime.now(dt.UTC)
    if args.expires_in_days is not None:
        if args.expires_in_days <= 0:
            raise UsageError("--expires-in-days must be a positive number of days")
        return now + dt.timedelta(days=args.expires_in_days)
    if args.expires_at is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(args.expires_at)
    except ValueError:
        raise UsageError(f"--expires-at is not an ISO 8601 time: {args.expires_at!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if moment <= now:
        raise UsageError("--expires-at must lie in the future")
    return moment


def _add_expiry_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--expires-in-days", type=int, default=None, metavar="N", help="the key expires in N days"
    )
    group.add_argument(
        "--expires-at",
        default=None,
        metavar="ISO",
        help="the key expires at this ISO 8601 time (no zone: UTC)",
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
    scopes_help = (
        "comma-separated scopes: * (everything) or any of "
        + ", ".join(sorted(ALL_SCOPES))
        + " (write implies read)"
    )
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

    serve = command("serve", "embedded PostgreSQL if needed, migrations, uvicorn")
    serve.add_argument(
        "--host", default=None, help="address to listen on (default: HOST, else 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: PORT, else 8000)"
    )
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.set_defaults(handler=cmd_serve)

    worker = command("worker", "run experiment jobs from the queue")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="provider calls in flight at once (default: EXPERIMENT_WORKER_CONCURRENCY)",
    )
    worker.set_defaults(handler=cmd_worker)

    migrate = command("migrate", "alembic upgrade head")
    migrate.set_defaults(handler=cmd_migrate)

    boot = command(
        "bootstrap",
        "create organization, team, user and an API key; "
        "an existing user keeps their team and gets a new key",
    )
    boot.add_argument("--email", required=True, help="the user's e-mail (reused when it exists)")
    boot.add_argument("--team-name", default="Default project", help="name of a new team")
    boot.add_argument(
        "--organization-name", default="Default organization", help="name of a new organization"
    )
    boot.add_argument("--scopes", default="*", help=scopes_help)
    boot.add_argument(
        "--ai-data-processing-approved",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="whether a new organization has approved AI data processing (AI summaries)",
    )
    boot.add_argument("--json", action="store_true", help="print one JSON line")
    _add_expiry_options(boot)
    boot.set_defaults(handler=cmd_bootstrap)

    key = command("create-api-key", "a new personal API key for an existing user")
    key.add_argument("--email", required=True, help="the user's e-mail")
    key.add_argument("--scopes", default="*", help=scopes_help)
    key.add_argument(
        "--team-ids",
        default=None,
        help="comma-separated team ids the key is limited to (default: all the user's teams)",
    )
    key.add_argument("--label", default="Personal API key", help="label (up to 40 characters)")
    key.add_argument("--json", action="store_true", help="print one JSON line")
    _add_expiry_options(key)
    key.set_defaults(handler=cmd_create_api_key)

    listing = command("list-api-keys", "personal API keys (never their secrets)")
    listing.add_argument("--email", default=None, help="only this user's keys")
    listing.add_argument("--json", action="store_true", help="print one JSON line")
    listing.set_defaults(handler=cmd_list_api_keys)

    revoke = command("revoke-api-key", "revoke a personal API key at once")
    revoke.add_argument("id", help="the key's id (see list-api-keys)")
    revoke.add_argument("--json", action="store_true", help="print one JSON line")
    revoke.set_defaults(handler=cmd_revoke_api_key)

    rotate = command("rotate-encryption-keys", "re-encrypt secrets with the first key")
    rotate.set_defaults(handler=cmd_rotate_encryption_keys)

    generate = command("generate-encryption-key", "print a fresh Fernet key (no database)")
    generate.set_defaults(handler=cmd_generate_encryption_key, needs_settings=False)

    # Bulk item import/export against a running service (issue 15).
    from app.datasets.bulk_cli import add_commands as add_bulk_commands

    add_bulk_commands(command)
    return parser


def _log_level(args: argparse.Namespace, settings: Settings) -> str:
    """`serve` logs at LOG_LEVEL; a one-shot command shows warnings only unless -v."""
    if args.command == "serve" or args.verbose or args.debug:
        return settings.log_level
    return max(
        (settings.log_level, "WARNING"), key=lambda name: logging.getLevelNamesMapping()[name]
    )


def _describe(exc: BaseException) -> str:
    """One line for an unexpected failure: the exception's type and its first line."""
    for cause in _causes(exc):
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


if __name__ == "__main__":
    sys.exit(main())
