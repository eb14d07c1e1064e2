"""Builders for identities and the authenticated clients tests drive the API with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.repository import IdentityRepository
from app.models import Organization, Team, User


@dataclass
class Identity:
    organization: Organization
    team: Team
    user: User
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def make_identity(
    session: AsyncSession,
    *,
    scopes: Sequence[str] = ("*",),
    email: str | None = None,
    ai_approved: bool = True,
) -> Identity:
    """A fresh organization with one team, a member user (current team set) and a key."""
    import uuid

    repo = IdentityRepository(session)
    organization = await repo.create_organization("Org", ai_approved=ai_approved)
    team = await repo.create_team(organization, "Team")
    user = await repo.create_user(email or f"user-{uuid.uuid4().hex[:10]}@example.com")
    await repo.add_membership(organization, user)
    user.current_team_id = team.id
    _, secret = await repo.create_key(user, scopes=scopes)
    await session.flush()
    return Identity(organization=organization, team=team, user=user, api_key=secret)


async def add_key(
    session: AsyncSession,
    identity: Identity,
    *,
    scopes: Sequence[str],
    scoped_teams: Sequence[int] | None = None,
) -> str:
    """Another key for the same user, with other scopes; returns its plaintext."""
    _, secret = await IdentityRepository(session).create_key(
        identity.user, scopes=scopes, scoped_teams=scoped_teams
    )
    await session.flush()
    return secret


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}
