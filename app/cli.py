"""`llma` (also `python -m app.cli`): serve, migrate, bootstrap, keys and encryption-key chores.

With `--json`, stdout carries exactly one JSON line; everything else goes to stderr.
Exit status: 0 success, 1 failure, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from app.auth.scopes import parse_scopes
from app.embedded_pg import resolve_database_url
from app.logging import configure_logging
from app.settings import Settings, get_settings

logger = logging.getLogger("app.cli")
T = TypeVar("T")
# uvicorn's default 5 s lets the supervisor kill workers that are merely starved of CPU on a
# loaded 2-core host (seen in `make bench`), dropping their in-flight requests.
WORKER_HEALTHCHECK_SECONDS = 30


class UsageError(Exception):
    """Bad arguments: exit status 2."""


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
    from alembic.config import Config

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = Config(os.path.join(root, "alembic.ini"))
    config.set_main_option("script_location", os.path.join(root, "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


async def _with_session(database_url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    from app.db import create_engine, create_sessionmaker

    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def _print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(payload).decode() + "\n")
    sys.stdout.flush()


# --- commands ---------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    run_migrations(resolve_database_url(settings))
    logger.info("database migrated to head")
    return 0


def cmd_bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.provisioning import bootstrap

    scopes = _scopes(args.scopes)
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
            }
        )
    else:
        sys.stdout.write(
            f"Organization {result.organization_id}, team {result.team_id}, "
            f"user {result.user_id}.\nPersonal API key (shown once): {result.api_key}\n"
        )
    return 0


def cmd_create_api_key(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.repository import IdentityRepository

    scopes = _scopes(args.scopes)
    team_ids = _team_ids(args.team_ids)
    url = resolve_database_url(settings)
    run_migrations(url)

    async def work(session: Any) -> tuple[str, str] | None:
        repo = IdentityRepository(session)
        user = await repo.user_by_email(args.email)
        if user is None:
            return None
        key, secret = await repo.create_key(
            user, scopes=scopes, label=args.label, scoped_teams=team_ids
        )
        return str(key.id), secret

    created = asyncio.run(_with_session(url, work))
    if created is None:
        sys.stderr.write(f"error: no user with email {args.email!r}\n")
        return 1
    key_id, secret = created
    if args.json:
        _print_json({"api_key": secret, "id": key_id})
    else:
        sys.stdout.write(f"Personal API key {key_id} (shown once): {secret}\n")
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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.demo import ensure_demo_identity

    url = resolve_database_url(settings)
    # Workers are separate processes: they find the (embedded) database through the env.
    os.environ["DATABASE_URL"] = url
    run_migrations(url)
    asyncio.run(
        _with_session(url, lambda session: ensure_demo_identity(session, args.host, args.port))
    )
    uvicorn.run(
        "app.main:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        proxy_headers=True,
        access_log=False,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run experiment jobs until SIGINT/SIGTERM (any number of workers, on any machine)."""
    import signal

    from app.experiments.jobs import supervise

    if args.concurrency is not None:
        settings = settings.model_copy(update={"experiment_worker_concurrency": args.concurrency})
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llma", description="LLM analytics service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="embedded PostgreSQL if needed, migrations, uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=cmd_serve)

    worker = sub.add_parser("worker", help="run experiment jobs from the queue")
    worker.add_argument("--concurrency", type=int, default=None)
    worker.set_defaults(handler=cmd_worker)

    migrate = sub.add_parser("migrate", help="alembic upgrade head")
    migrate.set_defaults(handler=cmd_migrate)

    boot = sub.add_parser("bootstrap", help="create organization, team, user and an API key")
    boot.add_argument("--email", required=True)
    boot.add_argument("--team-name", default="Default project")
    boot.add_argument("--organization-name", default="Default organization")
    boot.add_argument("--scopes", default="*")
    boot.add_argument(
        "--ai-data-processing-approved",
        action=argparse.BooleanOptionalAction,
        default=True,
    )
    boot.add_argument("--json", action="store_true")
    boot.set_defaults(handler=cmd_bootstrap)

    key = sub.add_parser("create-api-key", help="a new personal API key for an existing user")
    key.add_argument("--email", required=True)
    key.add_argument("--scopes", default="*")
    key.add_argument("--team-ids", default=None)
    key.add_argument("--label", default="Personal API key")
    key.add_argument("--json", action="store_true")
    key.set_defaults(handler=cmd_create_api_key)

    rotate = sub.add_parser("rotate-encryption-keys", help="re-encrypt secrets with the first key")
    rotate.set_defaults(handler=cmd_rotate_encryption_keys)

    generate = sub.add_parser("generate-encryption-key", help="print a fresh Fernet key")
    generate.set_defaults(handler=cmd_generate_encryption_key, needs_settings=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "needs_settings", True):
            settings = load_settings()
            configure_logging(settings.log_level, settings.log_format)
        else:
            settings = None
        code: int = args.handler(args, settings)
    except UsageError as exc:
        sys.stderr.write(f"llma: error: {exc}\n")
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
