"""SQL for identity: key lookup, team access, and provisioning of organizations, teams and users."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import keys
from app.db import utcnow
from app.models import Organization, OrganizationMembership, PersonalAPIKey, Team, User

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class TeamAccess:
    team: Team
    organization: Organization
    is_member: bool


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def key_by_secret(self, secret: str) -> tuple[PersonalAPIKey, User] | None:
        statement = (
            select(PersonalAPIKey, User)
            .join(User, User.id == PersonalAPIKey.user_id)
            .where(PersonalAPIKey.secure_value == keys.digest(secret))
        )
        row = (await self.session.execute(statement)).first()
        return None if row is None else (row[0], row[1])

    async def touch_key(self, key: PersonalAPIKey) -> None:
        """Record use at most once a minute, with one guarded UPDATE."""
        now = utcnow()
        if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
            return
        await self.session.execute(
            update(PersonalAPIKey)
            .where(
                PersonalAPIKey.id == key.id,
                (PersonalAPIKey.last_used_at.is_(None))
                | (PersonalAPIKey.last_used_at < now - LAST_USED_RESOLUTION),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )

    async def team_access(self, team_id: int, user_id: int) -> TeamAccess | None:
        member = exists().where(
            OrganizationMembership.organization_id == Team.organization_id,
            OrganizationMembership.user_id == user_id,
        )
        statement = (
            select(Team, Organization, member.label("is_member"))
            .join(Organization, Organization.id == Team.organization_id)
            .where(Team.id == team_id)
        )
        row = (await self.session.execute(statement)).first()
        if row is None:
            return None
        return TeamAccess(team=row[0], organization=row[1], is_member=bool(row[2]))

    # --- provisioning (CLI, first start) ------------------------------------------------

    async def user_by_email(self, email: str) -> User | None:
        statement = select(User).where(func.lower(User.email) == email.lower())
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def create_organization(self, name: str, *, ai_approved: bool) -> Organization:
        organization = Organization(name=name, is_ai_data_processing_approved=ai_approved)
        self.session.add(organization)
        await self.session.flush()
        return organization

    async def create_team(self, organization: Organization, name: str) -> Team:
        team = Team(organization_id=organization.id, name=name)
        self.session.add(team)
        await self.session.flush()
        return team

    async def create_user(self, email: str, first_name: str = "") -> User:
        user = User(
            email=email,
            first_name=first_name,
            distinct_id=str(uuid.uuid4()),
            is_email_verified=False,
            hedgehog_config=None,
        )
        self.session.add(user)
        await self.session.flush()
        return user

    async def add_membership(self, organization: Organization, user: User) -> None:
        already = await self.session.scalar(
            select(OrganizationMembership.id).where(
                OrganizationMembership.organization_id == organization.id,
                OrganizationMembership.user_id == user.id,
            )
        )
        if already is None:
            self.session.add(
                OrganizationMembership(organization_id=organization.id, user_id=user.id)
            )
            await self.session.flush()

    async def create_key(
        self,
        user: User,
        *,
        scopes: Sequence[str],
        label: str = "Personal API key",
        scoped_teams: Sequence[int] | None = None,
        scoped_organizations: Sequence[uuid.UUID] | None = None,
    ) -> tuple[PersonalAPIKey, str]:
        """Create a key; the plaintext is returned once and never stored."""
        secret = keys.generate_key()
        key = PersonalAPIKey(
            user_id=user.id,
            label=label[:40],
            secure_value=keys.digest(secret),
            mask_value=keys.mask(secret),
            scopes=list(scopes),
            scoped_teams=list(scoped_teams) if scoped_teams else None,
            scoped_organizations=list(scoped_organizations) if scoped_organizations else None,
        )
        self.session.add(key)
        await self.session.flush()
        return key, secret

    async def is_empty(self) -> bool:
        return (await self.session.scalar(select(func.count()).select_from(Organization))) == 0
