"""Creating an organization, team, user and key in one go (`llma bootstrap`, first start)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.repository import IdentityRepository


@dataclass(frozen=True)
class Bootstrapped:
    organization_id: str
    team_id: int
    user_id: int
    api_key: str


async def bootstrap(
    session: AsyncSession,
    *,
    email: str,
    team_name: str = "Default project",
    organization_name: str = "Default organization",
    scopes: Sequence[str] = ("*",),
    ai_data_processing_approved: bool = True,
    expires_at: dt.datetime | None = None,
) -> Bootstrapped:
    """New organization and team; the user is reused by email, joined, and moved to the team."""
    repo = IdentityRepository(session)
    organization = await repo.create_organization(
        organization_name, ai_approved=ai_data_processing_approved
    )
    team = await repo.create_team(organization, team_name)
    user = await repo.user_by_email(email)
    if user is None:
        user = await repo.create_user(email)
    await repo.add_membership(organization, user)
    user.current_team_id = team.id
    _, secret = await repo.create_key(user, scopes=scopes, expires_at=expires_at)
    await session.flush()
    return Bootstrapped(
        organization_id=str(organization.id), team_id=team.id, user_id=user.id, api_key=secret
    )
