"""First start on an empty database: a demo organization, team, user and key, printed once."""

from __future__ import annotations

import sys

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.provisioning import bootstrap
from app.auth.repository import IdentityRepository

DEMO_EMAIL = "demo@example.com"


async def ensure_demo_identity(session: AsyncSession, host: str, port: int) -> str | None:
    """Create the demo identity when no organization exists yet; return its key, else None."""
    if not await IdentityRepository(session).is_empty():
        return None
    created = await bootstrap(
        session,
        email=DEMO_EMAIL,
        team_name="Demo project",
        organization_name="Demo organization",
    )
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}"
    sys.stdout.write(
        "\n"
        "  First start: created a demo organization, team and user "
        f"({DEMO_EMAIL}).\n"
        "  Personal API key (shown only this once, store it now):\n\n"
        f"    {created.api_key}\n\n"
        "  Try it:\n\n"
        f'    curl -H "Authorization: Bearer {created.api_key}" '
        f"{base}/api/environments/{created.team_id}/datasets/\n\n"
        f"  Swagger UI: {base}/docs\n\n"
    )
    sys.stdout.flush()
    return created.api_key
