"""Creating an organization, team, user and key in one go (`llma bootstrap`, first start).

Idempotent per e-mail: bootstrapping an existing user reuses their current team and its
organization and only mints a new key, so the user's older keys keep resolving `@current` to
the same team.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.repository import IdentityRepository
from app.models import Team


@dataclass(frozen=True)
class Bootstrapped:
    organization_id: str
    team_id: int
    user_id: int
    api_key: str
    # True when the e-mail already had a user with a current team: nothing new but the key.
    reused: bool = False


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
    """A new key for the user with this e-mail; organization, team and user created if needed.

    An existing user with a current team keeps it (names and the AI-approval flag are then not
    applied); otherwise a new organization and team are made and become the user's `@current`.
    """
    repo = IdentityRepository(session)
    user = await repo.user_by_email(email)
    team = None
    if user is not None and user.current_team_id is not None:
        team = await session.get(Team, user.current_team_id)
    if user is not None and team is not None:
        _, secret = await repo.create_key(user, scopes=scopes)
        await session.flush()
        return Bootstrapped(
            organization_id=str(team.organization_id),
            team_id=team.id,
            user_id=user.id,
            api_key=secret,
            reused=True,
        )
    organization = await repo.create_organization(
        organization_name, ai_approved=ai_data_processing_approved
    )
    team = await repo.create_team(organization, team_name)
    if user is None:
        user = await repo.create_user(email)
    await repo.add_membership(organization, user)
    user.current_team_id = team.id
    _, secret = await repo.create_key(user, scopes=scopes, expires_at=expires_at)
    await session.flush()
    return Bootstrapped(
        organization_id=str(organization.id), team_id=team.id, user_id=user.id, api_key=secret
    )
