"""`llma` (also `python -m app.cli`): serve, migrate, bootstrap, API keys (create, list, revoke)
and encryption-key chores.

With `--json`, stdout carries exactly one JSON line; everything else goes to stderr.
Exit status: 0 success, 1 failure, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
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
    expires_at = _expires_at(args)
    url = resolve_database_url(settings)
    run_migrations(url)

    async def work(session: Any) -> tuple[str, str] | str:
        repo = IdentityRepository(session)
        user = await repo.user_by_email(args.email)
        if user is None:
            return f"no user with email {args.email!r}"
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
        sys.stderr.write(f"error: {created}\n")
        return 1
    key_id, secret = created
    if args.json:
        _print_json({"api_key": secret, "id": key_id})
    else:
        sys.stdout.write(f"Personal API key {key_id} (shown once): {secret}\n")
    return 0


def _key_summary(key: Any, owner: str) -> dict[str, Any]:
    from app.jsonutil import isoformat

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
        sys.stderr.write(f"error: no API key with id {args.id}\n")
        return 1
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

    from app.demo import ensure_demo_identity
    from app.serving import uvicorn_options

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
        # Slow and idle clients: SERVER_LIMIT_CONCURRENCY, _KEEP_ALIVE_, _HEADER_TIMEOUT_SECONDS.
        **uvicorn_options(settings),
    )
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
    group.add_argument("--expires-in-days", type=int, default=None, metavar="N")
    group.add_argument("--expires-at", default=None, metavar="ISO")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llma", description="LLM analytics service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="embedded PostgreSQL if needed, migrations, uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=cmd_serve)

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
    _add_expiry_options(boot)
    boot.set_defaults(handler=cmd_bootstrap)

    key = sub.add_parser("create-api-key", help="a new personal API key for an existing user")
    key.add_argument("--email", required=True)
    key.add_argument("--scopes", default="*")
    key.add_argument("--team-ids", default=None)
    key.add_argument("--label", default="Personal API key")
    key.add_argument("--json", action="store_true")
    _add_expiry_options(key)
    key.set_defaults(handler=cmd_create_api_key)

    listing = sub.add_parser("list-api-keys", help="personal API keys (never their secrets)")
    listing.add_argument("--email", default=None, help="only this user's keys")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list_api_keys)

    revoke = sub.add_parser("revoke-api-key", help="revoke a personal API key at once")
    revoke.add_argument("id", help="the key's id (see list-api-keys)")
    revoke.add_argument("--json", action="store_true")
    revoke.set_defaults(handler=cmd_revoke_api_key)

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
