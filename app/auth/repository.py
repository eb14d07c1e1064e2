"""SQL for identity: the caller of a request, and provisioning of organizations, teams and users."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Uuid,
    bindparam,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import keys
from app.db.base import utcnow
from app.db.driver import Statement, execute, fetchrow
from app.models import Organization, OrganizationMembership, PersonalAPIKey, Team, User

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


# The whole of authentication in one statement: the key by its digest (neither revoked nor
# expired), its owner, and the team the path names (NULL: the owner's current team) with its
# organization and the owner's membership. A valid key on a missing team still returns its row,
# with NULL team columns.
DIGEST = bindparam("digest", type_=String())
TEAM_REF = bindparam("team_id", type_=Integer())
_TEAM_ID = func.coalesce(TEAM_REF, User.current_team_id)
_IS_MEMBER = exists().where(
    OrganizationMembership.organization_id == Team.organization_id,
    OrganizationMembership.user_id == User.id,
)
CALLER = Statement(
    select(
        PersonalAPIKey.id,
        PersonalAPIKey.scopes,
        PersonalAPIKey.scoped_teams,
        PersonalAPIKey.scoped_organizations,
        PersonalAPIKey.last_used_at,
        User.current_team_id,
        Team.id,
        Team.organization_id,
        Organization.is_ai_data_processing_approved,
        _IS_MEMBER.label("is_member"),
        User.id.label("user_id"),
    )
    .select_from(PersonalAPIKey)
    .join(User, User.id == PersonalAPIKey.user_id)
    .outerjoin(Team, Team.id == _TEAM_ID)
    .outerjoin(Organization, Organization.id == Team.organization_id)
    .where(
        PersonalAPIKey.secure_value == DIGEST,
        PersonalAPIKey.revoked_at.is_(None),
        PersonalAPIKey.expires_at.is_(None)
        | (PersonalAPIKey.expires_at > func.statement_timestamp()),
    )
)
# Record use at most once per LAST_USED_RESOLUTION: one guarded UPDATE, autocommitted on its own.
_USED_AT = bindparam("used_at", type_=DateTime(timezone=True))
TOUCH = Statement(
    update(PersonalAPIKey)
    .where(
        PersonalAPIKey.id == bindparam("key_id", type_=Uuid()),
        PersonalAPIKey.last_used_at.is_(None)
        | (PersonalAPIKey.last_used_at < bindparam("used_before", type_=DateTime(timezone=True))),
    )
    .values(last_used_at=_USED_AT)
)


def touch_params(key_id: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    return {"key_id": key_id, "used_at": now, "used_before": now - LAST_USED_RESOLUTION}


@dataclass(frozen=True, slots=True)
class Caller:
    """A valid key, its owner, and what the database knows of the team the path names."""

    key_id: uuid.UUID
    scopes: Sequence[str]
    scoped_teams: Sequence[int] | None
    scoped_organizations: Sequence[uuid.UUID] | None
    user_id: int
    current_team_id: int | None
    team_id: int | None  # None: no such team
    organization_id: uuid.UUID | None
    ai_data_processing_approved: bool
    is_member: bool


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def caller(self, secret: str, team_id: int | None) -> Caller | None:
        """The key's caller on `team_id` (None: the owner's current team); None for a bad key."""
        row = await fetchrow(
            self.session, CALLER, {"digest": keys.digest(secret), "team_id": team_id}
        )
        if row is None:
            return None
        (key_id, scopes, scoped_teams, scoped_orgs, last_used_at, current_team) = row[:6]
        (found_team, organization_id, ai_approved, is_member) = row[6:10]
        now = utcnow()
        if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
            await execute(self.session, TOUCH, touch_params(key_id, now))
        return Caller(
            key_id=key_id,
            scopes=scopes,
            scoped_teams=scoped_teams,
            scoped_organizations=scoped_orgs,
            user_id=row["user_id"],
            current_team_id=current_team,
            team_id=found_team,
            organization_id=organization_id,
            ai_data_processing_approved=bool(ai_approved),
            is_member=bool(is_member),
        )

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
        expires_at: dt.datetime | None = None,
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
            expires_at=expires_at,
        )
        self.session.add(key)
        await self.session.flush()
        return key, secret

    async def is_empty(self) -> bool:
        return (await self.session.scalar(select(func.count()).select_from(Organization))) == 0

    # --- key lifecycle (CLI: list-api-keys, revoke-api-key) ------------------------------

    async def keys_with_owners(self, email: str | None) -> list[tuple[PersonalAPIKey, str]]:
        """Every key (or one user's), oldest first, each with its owner's email."""
        statement = (
            select(PersonalAPIKey, User.email)
            .join(User, User.id == PersonalAPIKey.user_id)
            .order_by(PersonalAPIKey.created_at, PersonalAPIKey.id)
        )
        if email is not None:
            statement = statement.where(func.lower(User.email) == email.lower())
        return [(key, owner) for key, owner in (await self.session.execute(statement)).all()]

    async def revoke_key(self, key_id: uuid.UUID) -> PersonalAPIKey | None:
        """Mark the key revoked (kept when it already was); None when there is no such key."""
        key = await self.session.get(PersonalAPIKey, key_id, with_for_update=True)
        if key is not None and key.revoked_at is None:
            key.revoked_at = utcnow()
            await self.session.flush()
        return key

    async def teams_outside_reach(self, user: User, team_ids: Sequence[int]) -> list[int]:
        """The ids among `team_ids` that name no team of an organization the user belongs to."""
        reachable = await self.session.scalars(
            select(Team.id)
            .join(
                OrganizationMembership,
                OrganizationMembership.organization_id == Team.organization_id,
            )
            .where(OrganizationMembership.user_id == user.id, Team.id.in_(team_ids))
        )
        found = set(reachable.all())
        return [team_id for team_id in team_ids if team_id not in found]
