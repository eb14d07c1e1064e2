"""`llma bootstrap`, `create-api-key`, `list-api-keys` and `revoke-api-key`: who may call the
service, managed from a shell (a key's secret is printed once, never listed)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any

from app.auth.scopes import ALL_SCOPES, parse_scopes
from app.cli.common import CommandError, CommandFactory, UsageError, print_json
from app.cli.database import run_migrations, with_session
from app.db.embedded import resolve_database_url
from app.settings import Settings


def cmd_bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.provisioning import bootstrap

    scopes = _scopes(args.scopes)
    expires_at = _expires_at(args)
    url = resolve_database_url(settings)
    run_migrations(url)
    result = asyncio.run(
        with_session(
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
        print_json(
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

    created = asyncio.run(with_session(url, work))
    if isinstance(created, str):
        raise CommandError(created)
    key_id, secret = created
    if args.json:
        print_json({"api_key": secret, "id": key_id})
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

    summaries = asyncio.run(with_session(url, work))
    if args.json:
        print_json({"api_keys": summaries})
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

    revoked = asyncio.run(with_session(url, work))
    if revoked is None:
        raise CommandError(f"no API key with id {args.id} (llma list-api-keys shows them)")
    if args.json:
        print_json(revoked)
    else:
        sys.stdout.write(f"API key {revoked['id']} revoked: it no longer authenticates.\n")
    return 0


# --- arguments ------------------------------------------------------------------------------


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


def register(command: CommandFactory) -> None:
    scopes_help = (
        "comma-separated scopes: * (everything) or any of "
        + ", ".join(sorted(ALL_SCOPES))
        + " (write implies read)"
    )
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
